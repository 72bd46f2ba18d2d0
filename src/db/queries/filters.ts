import { sql, type RawBuilder } from 'kysely';
import type { Dialect } from '../dialect.js';
import { parentIs, parentOfRow, storageTerm } from './parent.js';

/** A validated query, as the SQL sees it: every field but tenantId optional. */
export interface Filters {
  tenantId: number;
  storageId?: number;
  /** Children of this directory (browse). */
  parent?: string;
  /** Paths in [lower, upper): a subtree (search's pathPrefix). */
  subtree?: { lower: string; upper: string };
  /** Name substring, case-insensitive. */
  needle?: string;
  mediaKind?: string;
  isDir?: boolean;
  minSize?: number;
  maxSize?: number;
  mtimeFrom?: number;
  mtimeTo?: number;
}

/** One SQL condition, as every query here builds them. */
export type Condition = RawBuilder<unknown>;

/**
 * Every condition of `f`, tenant first: what a row must satisfy to be in the result.
 * `filtering`: conditions tested on the rows another index found, so written that no index
 * can serve them (SQLite's documented unary `+`, an expression on PostgreSQL) and the
 * planner cannot trade the chosen index for one it wrongly believes better.
 */
export function conditions(dialect: Dialect, f: Filters, filtering = false): Condition[] {
  const col = filtering ? unindexed(dialect) : (c: string) => sql.ref(c);
  // The tenant too: every source repeats it where its index wants it, and an index leading
  // with tenant_id alone (009's time steps) would otherwise tempt SQLite into reading the
  // whole tenant for a directory's 0 subdirectories (1.2 s at 1,000,000 entries, measured).
  const out: Condition[] = [sql`${col('tenant_id')} = ${f.tenantId}`];
  if (f.parent !== undefined && f.storageId !== undefined && !filtering) {
    out.push(storageTerm(dialect, f.storageId), parentIs(dialect, f.storageId, f.parent));
  } else {
    if (f.storageId !== undefined) out.push(sql`${col('storage_id')} = ${f.storageId}`);
    if (f.parent !== undefined) out.push(sql`${col('parent')} = ${f.parent}`);
  }
  if (f.subtree) {
    out.push(sql`${col('path')} >= ${f.subtree.lower} AND ${col('path')} < ${f.subtree.upper}`);
  }
  if (f.isDir !== undefined) out.push(sql`${col('is_dir')} = ${f.isDir ? 1 : 0}`);
  if (f.mediaKind !== undefined) out.push(sql`${col('media_kind')} = ${f.mediaKind}`);
  if (f.minSize !== undefined) out.push(sql`${col('size')} >= ${f.minSize}`);
  if (f.maxSize !== undefined) out.push(sql`${col('size')} <= ${f.maxSize}`);
  if (f.mtimeFrom !== undefined) out.push(sql`${col('mtime')} >= ${f.mtimeFrom}`);
  if (f.mtimeTo !== undefined) out.push(sql`${col('mtime')} <= ${f.mtimeTo}`);
  if (f.needle !== undefined) {
    out.push(filtering ? testedNameMatches(dialect, f.needle) : nameMatches(dialect, f.needle));
  }
  return out;
}

export function and(list: Condition[]): Condition {
  return list.length === 0 ? sql`1 = 1` : sql.join(list, sql` AND `);
}

/**
 * `name` contains `needle`, case-insensitively, with no character of the needle special.
 * PostgreSQL: {@link postgresNameMatches}. SQLite: the FTS5 trigram table for three
 * characters and more, a quoted phrase (no query syntax gets through); for one or two,
 * `instr` over each case variant of the needle (SQLite's own lower() knows only ASCII).
 */
export function nameMatches(dialect: Dialect, needle: string): Condition {
  if (dialect === 'postgres') return postgresNameMatches(needle);
  if (codePoints(needle) >= 3) return ftsMatches([needle]);
  return sql`(${sql.join(
    caseVariants(needle).map((v) => sql`instr(name, ${v}) > 0`),
    sql` OR `,
  )})`;
}

/**
 * PostgreSQL's test, written for the trigram index as migration 011 keeps it: on `name`
 * under the "C" collation (the index serves only a test of that collation), with `\`, `%`
 * and `_` escaped. A needle whose letters are ASCII, or have no case (digits, CJK…):
 * `ILIKE` under "C", exact, folding ASCII in place — half the time a match of the locale's
 * `ILIKE` (docs/search.md, "After 011 and 012"). Any other letter has case forms "C" does not
 * fold: the index is asked for a regular expression of each character's forms (a
 * superset, which pg_trgm turns into trigrams for characters below U+0800), and the rows
 * it finds are tested exactly with the locale's `ILIKE`, as before 011.
 */
function postgresNameMatches(needle: string): Condition {
  const pattern = `%${escapeLike(needle)}%`;
  if (!hasCasedNonAscii(needle)) return sql`(name COLLATE "C") ILIKE ${pattern}`;
  return sql`((name COLLATE "C") ~ ${caseForms(needle)} AND name ILIKE ${pattern})`;
}

/** Whether `s` has a character beyond ASCII that has another case. */
export function hasCasedNonAscii(s: string): boolean {
  for (const ch of s) {
    if (ch.codePointAt(0)! > 0x7f && ch.toLowerCase() !== ch.toUpperCase()) return true;
  }
  return false;
}

/**
 * A regular expression (PostgreSQL's AREs) matching `needle` in any case: each character a
 * bracket of its forms that are one character, each written as a `\u`/`\U` escape, so no
 * character of the needle is special.
 */
export function caseForms(needle: string): string {
  let out = '';
  for (const ch of needle) {
    const forms = new Set([ch, ch.toLowerCase(), ch.toUpperCase()]);
    let bracket = '';
    for (const form of forms) {
      const cps = [...form];
      if (cps.length !== 1) continue; // 'ß'.toUpperCase() is 'SS': no one character
      const cp = form.codePointAt(0)!;
      bracket +=
        cp <= 0xffff
          ? `\\u${cp.toString(16).padStart(4, '0')}`
          : `\\U${cp.toString(16).padStart(8, '0')}`;
    }
    out += `[${bracket}]`;
  }
  return out;
}

/** Whether the dialect's substring index can answer `needle` (else only a scan can). */
export function needleIndexable(dialect: Dialect, needle: string): boolean {
  // pg_trgm takes trigrams from runs of letters and digits only: without a run of three it
  // would scan the whole index.
  return dialect === 'postgres' ? /[\p{L}\p{N}]{3}/u.test(needle) : codePoints(needle) >= 3;
}

const TEXT = new Set(['path', 'media_kind', 'name']);

function unindexed(dialect: Dialect): (column: string) => Condition {
  if (dialect === 'sqlite') return (c) => sql`+${sql.ref(c)}`;
  return (c) => {
    // No column since migration 018; the expression alone is no index's key.
    if (c === 'parent') return sql`(${parentOfRow('postgres')})`;
    return TEXT.has(c) ? sql`(${sql.ref(c)} || '')` : sql`(${sql.ref(c)} + 0)`;
  };
}

/**
 * The name test on a row already read. For an ASCII needle both dialects fold ASCII only,
 * which is all such a needle can match and several times cheaper than a locale's
 * lower-casing (PostgreSQL: ILIKE under the "C" collation, measured 3x faster than under
 * C.UTF-8; SQLite: its own lower(), on the index row when an index holds the name).
 * Other needles as {@link nameMatches}, kept off the trigram index on PostgreSQL.
 */
export function testedNameMatches(dialect: Dialect, needle: string): Condition {
  const ascii = /^[\x00-\x7f]*$/.test(needle);
  const pattern = `%${escapeLike(needle)}%`;
  if (dialect === 'postgres') {
    // Letters without case (CJK…) are matched bytewise as exactly. `|| ''`: since 011 the
    // trigram index serves `name COLLATE "C"`, and this test must not be served.
    return hasCasedNonAscii(needle)
      ? sql`(name || '') ILIKE ${pattern}`
      : sql`((name || '') COLLATE "C") ILIKE ${pattern}`;
  }
  return ascii
    ? sql`instr(lower(name), ${needle.toLowerCase()}) > 0`
    : nameMatches(dialect, needle);
}

export function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * The ids of the rows whose name may contain any of `needles` (three characters or more),
 * on SQLite: those the FTS5 trigram table holds every trigram of a needle for, and those of
 * the rows a scan wrote since the table was last brought up to date (migration 007), tested
 * one by one. That backlog is empty when the index could be written before the query ran,
 * and bounded by the writer otherwise (sqlite/name-index.ts); an empty one costs one index
 * probe. A superset: since 016 the table holds no trigram positions, so a needle of four
 * characters and more is not one phrase; {@link ftsMatches} tests the rows found. An
 * upper bound on the count of matching rows (it spans every tenant) with no row looked up.
 */
export function ftsRowids(needles: readonly string[]): Condition {
  const tested = sql.join(
    needles.map((n) => sql`trawl_name_has(name, ${n})`),
    sql` OR `,
  );
  return sql`SELECT rowid FROM entries_name_fts WHERE entries_name_fts MATCH ${ftsQuery(needles)}
    UNION ALL SELECT id FROM entries
    WHERE id > (SELECT upto FROM search_watermark) AND (${tested})`;
}

/**
 * The rows whose name contains any of `needles` (three characters or more), on SQLite:
 * {@link ftsRowids}, each row found tested on its own name unless every needle is one
 * trigram (the index then answers exactly). The test: SQLite's `lower()` (ASCII only)
 * first, which decides every match whose letters differ in ASCII case at most, at C speed
 * — folding more characters only finds more — and `trawl_name_has` (FTS5's own folding,
 * sqlite/name-index.ts) for the rest: the names whose trigrams were all found out of
 * order, and matches by a case fold beyond ASCII.
 */
export function ftsMatches(needles: readonly string[]): Condition {
  const found = sql`id IN (${ftsRowids(needles)})`;
  if (needles.every((n) => codePoints(n) === 3)) return found;
  const exact = sql.join(
    needles.map((n) => sql`instr(lower(name), lower(${n})) > 0 OR trawl_name_has(name, ${n})`),
    sql` OR `,
  );
  return sql`(${found} AND (${exact}))`;
}

/**
 * An FTS5 query for `needles` (three characters or more each) on a table without trigram
 * positions (016): any needle, each as all of its distinct trigrams. A string of three
 * characters is one trigram token; each is quoted, its double quotes doubled, so no query
 * syntax gets through.
 */
export function ftsQuery(needles: readonly string[]): string {
  return needles
    .map((needle) => {
      const chars = [...needle];
      const trigrams = new Set<string>();
      for (let i = 0; i + 3 <= chars.length; i++) trigrams.add(chars.slice(i, i + 3).join(''));
      return `(${[...trigrams].map((t) => `"${t.replace(/"/g, '""')}"`).join(' AND ')})`;
    })
    .join(' OR ');
}

function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Every combination of lower and upper case of a short needle's characters (a handful). */
function caseVariants(needle: string): string[] {
  let out = [''];
  for (const ch of needle) {
    const forms = [...new Set([ch, ch.toLowerCase(), ch.toUpperCase()])];
    out = out.flatMap((prefix) => forms.map((f) => prefix + f));
  }
  return [...new Set(out)];
}
