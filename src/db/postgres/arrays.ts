/**
 * PostgreSQL array literals built directly: one string per column instead of `pg`'s
 * generic per-value conversion, and no parameter per row (a 5,000-row batch is still ten
 * parameters, far from the 65,535 limit).
 */

const NEEDS_ESCAPE = /["\\]/;

/** `{"a","b\"c",NULL}`: every element quoted, so no value is mistaken for NULL or split. */
export function textArray(values: readonly (string | null)[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const v = values[i];
    if (v === null || v === undefined) out += 'NULL';
    else if (NEEDS_ESCAPE.test(v)) out += `"${v.replace(/["\\]/g, '\\$&')}"`;
    else out += `"${v}"`;
  }
  return out + '}';
}

/**
 * `{1,2,3}` for an int8/int2 column. Fractions are dropped: a backend that reports
 * sub-millisecond mtimes gets the same value stored at every scan.
 */
export function intArray(values: readonly number[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const v = values[i]!;
    out += Number.isInteger(v) ? v : Math.floor(v);
  }
  return out + '}';
}
