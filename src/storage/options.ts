/**
 * Reading raw storage options (from a URL's query, the database or the API) into typed
 * values, with messages that name the bad value and what was expected. Every backend's
 * `parseOptions` uses these, so `?timeoutMs=x` fails the same way for every kind.
 */
import { InvalidConfigError } from './errors.js';

export type RawOptions = Record<string, unknown>;

export function asRaw(raw: unknown, kind: string): RawOptions {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InvalidConfigError(`${kind} options must be an object, got ${JSON.stringify(raw)}`);
  }
  return raw as RawOptions;
}

export function optString(raw: RawOptions, key: string): string | undefined {
  const v = raw[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') {
    throw new InvalidConfigError(`Expected \`${key}\` to be a string, got ${JSON.stringify(v)}`);
  }
  return v;
}

export function reqString(raw: RawOptions, key: string, kind: string): string {
  const v = optString(raw, key);
  if (v === undefined) {
    throw new InvalidConfigError(
      `${kind} storage needs \`${key}\`, got ${JSON.stringify(raw[key])}`,
    );
  }
  return v;
}

export function optBool(raw: RawOptions, key: string, fallback: boolean): boolean {
  const v = raw[key];
  if (v === undefined || v === null || v === '') return fallback;
  if (v === true || v === 'true' || v === '1' || v === 'yes') return true;
  if (v === false || v === 'false' || v === '0' || v === 'no') return false;
  throw new InvalidConfigError(`Expected \`${key}\` to be true or false, got ${JSON.stringify(v)}`);
}

export function optInt(
  raw: RawOptions,
  key: string,
  fallback: number,
  min = 1,
  max = Number.POSITIVE_INFINITY,
): number {
  const v = raw[key];
  if (v === undefined || v === null || v === '') return fallback;
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new InvalidConfigError(
      `Expected \`${key}\` to be an integer from ${min}${max === Number.POSITIVE_INFINITY ? ' and up' : ` to ${max}`}, got ${JSON.stringify(v)}`,
    );
  }
  return n;
}
