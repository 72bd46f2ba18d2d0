import { createHash } from 'node:crypto';
import { QueryError } from './errors.js';
import type { SortKey, SortOrder } from './types.js';

/**
 * Where a page ended, in the order of its query: the sort key's value and the id of the
 * last row looked at (the tiebreak). Browse pages also carry the group (directories come
 * before files). A cursor holds a position and a digest of the query it was made for
 * (tenant, storage, every filter): another tenant's cursor, or one of another query, is
 * refused. The digest is no secret — a forged cursor still moves only within the caller's
 * own results, as every statement filters on the tenant — it binds a cursor to its query.
 */
export interface Position {
  key: string | number;
  id: number;
  /** Browse only: 1 while listing directories, 0 for files. */
  dirs?: 0 | 1;
}

/** What a cursor was made for: one with another kind, sort, order or query is refused. */
export interface CursorScope {
  kind: 'browse' | 'search';
  sort: SortKey;
  order: SortOrder;
  /** {@link queryDigest} of the query's tenant and filters. */
  query: string;
}

/**
 * A short digest of a query's tenant and filters (not its sort, order or limit, checked
 * apart or free to change between pages). `filters` is built by the caller in a fixed
 * field order, so one query always gives one digest.
 */
export function queryDigest(filters: object): string {
  return createHash('sha256').update(JSON.stringify(filters)).digest('base64url').slice(0, 16);
}

interface Wire {
  v: 2;
  /** The query's digest. */
  h: string;
  q: 'b' | 's';
  s: SortKey;
  o: 'a' | 'd';
  k: string | number;
  i: number;
  d?: 0 | 1;
}

/** Longer than any cursor this module makes (a name is at most a few KB). */
const MAX_CURSOR = 16_384;

export function encodeCursor(scope: CursorScope, at: Position): string {
  const wire: Wire = {
    v: 2,
    h: scope.query,
    q: scope.kind === 'browse' ? 'b' : 's',
    s: scope.sort,
    o: scope.order === 'asc' ? 'a' : 'd',
    k: at.key,
    i: at.id,
    ...(at.dirs === undefined ? {} : { d: at.dirs }),
  };
  return Buffer.from(JSON.stringify(wire)).toString('base64url');
}

/** The position in `cursor`, checked against the query it is passed with. */
export function decodeCursor(cursor: unknown, scope: CursorScope): Position {
  const bad = (why: string) => new QueryError('BAD_CURSOR', 'cursor', why);
  if (typeof cursor !== 'string' || cursor.length === 0 || cursor.length > MAX_CURSOR) {
    throw bad('expected a cursor from a previous page');
  }
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad('not a cursor (bad characters)');
  let wire: unknown;
  try {
    wire = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad('not a cursor (unreadable)');
  }
  if (!isWire(wire)) throw bad('not a cursor of this index');
  const kind = wire.q === 'b' ? 'browse' : 'search';
  const order = wire.o === 'a' ? 'asc' : 'desc';
  if (kind !== scope.kind) throw bad(`made for ${kind}, not ${scope.kind}`);
  if (wire.s !== scope.sort || order !== scope.order) {
    throw bad(
      `made for sort=${wire.s} order=${order}, not sort=${scope.sort} order=${scope.order}`,
    );
  }
  if ((wire.d === undefined) !== (kind === 'search')) throw bad('not a cursor of this index');
  if (wire.h !== scope.query) {
    throw bad('made for another query (another tenant, storage, directory or filter)');
  }
  const keyOk =
    wire.s === 'name'
      ? typeof wire.k === 'string'
      : typeof wire.k === 'number' && Number.isSafeInteger(wire.k);
  if (!keyOk) throw bad(`not a position in ${wire.s} order`);
  return { key: wire.k, id: wire.i, ...(wire.d === undefined ? {} : { dirs: wire.d }) };
}

const FIELDS = new Set(['v', 'h', 'q', 's', 'o', 'k', 'i', 'd']);

function isWire(x: unknown): x is Wire {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return false;
  const w = x as Record<string, unknown>;
  if (Object.keys(w).some((k) => !FIELDS.has(k))) return false;
  return (
    w.v === 2 &&
    typeof w.h === 'string' &&
    (w.q === 'b' || w.q === 's') &&
    (w.s === 'name' || w.s === 'size' || w.s === 'mtime') &&
    (w.o === 'a' || w.o === 'd') &&
    (typeof w.k === 'string' || typeof w.k === 'number') &&
    typeof w.i === 'number' &&
    Number.isSafeInteger(w.i) &&
    w.i >= 0 &&
    (w.d === undefined || w.d === 0 || w.d === 1)
  );
}
