import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { DialectConnection } from '../connection.js';
import { IndexError } from '../errors.js';
import type { Database } from '../schema.js';
import { PostgresEntryRepository } from './entries.js';

const INT8 = 20;

/**
 * bigint columns (ids, sizes, epoch-millisecond mtimes) come back as JS numbers, as they
 * do on SQLite: every value trawl stores is below 2^53. Scoped to this pool, not set on
 * the `pg` module, so other users of `pg` in the process keep their parsing.
 */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8 && format !== 'binary'
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

/** @default 30 s */
const CONNECT_TIMEOUT_MS = 30_000;

/** @default 10 — one scan uses one connection at a time; the rest serve readers. */
const POOL_SIZE = 10;

/**
 * Opens a pool on a PostgreSQL index. Nothing is checked here: the first query (the
 * migrations) tells whether the server is reachable, and its error names the URL.
 */
export function connectPostgres(url: string): DialectConnection {
  let pool: pg.Pool;
  try {
    pool = new pg.Pool({
      connectionString: url,
      max: POOL_SIZE,
      types,
      // An unreachable host fails the command with a message instead of hanging it.
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    });
  } catch (error) {
    throw new IndexError(`cannot use PostgreSQL URL: ${(error as Error).message}`, {
      cause: error,
    });
  }
  // An idle connection that the server drops (restart, idle timeout) must not crash the
  // process: the pool discards it and the next query opens a new one.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    dialect: 'postgres',
    db,
    entries: () => new PostgresEntryRepository(pool),
    // Kysely's destroy ends the pool it was given.
    close: () => db.destroy(),
  };
}
