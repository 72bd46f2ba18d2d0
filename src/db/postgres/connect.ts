// Before pg: see the file.
import './no-runtime-probe.js';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { DialectConnection, OpenOptions } from '../connection.js';
import { redactDbUrl } from '../dialect.js';
import { IndexError, cancelledIndexError } from '../errors.js';
import { propagateSignals, underSignal } from '../guard.js';
import type { Database } from '../schema.js';
import { TrawlClient, type TrawlPoolConfig } from './client.js';
import { copyEntries } from './copy-entries.js';
import { copyValues } from './copy-out.js';
import { PostgresEntryRepository } from './entries.js';
import { postgresTimeouts } from './options.js';
import { settlesWithin } from '../../util/within.js';

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

/**
 * @default 10 — a scan uses at most two connections at once (its batch being written, and the
 * next batch read ahead: docs/index-database.md); the rest serve readers and other scans.
 */
const POOL_SIZE = 10;

/**
 * A statement in flight when its caller cancels may finish this long before its connection
 * is cut: a healthy batch commits in tens of milliseconds (so its counts stay exact), and
 * Ctrl-C still ends a scan on a frozen link within a second.
 * @default 500 ms
 */
const CANCEL_GRACE_MS = 500;

/** A close waits this long for connections to end in order, then cuts what is left. @default 500 ms */
const CLOSE_GRACE_MS = 500;

/** An open that has no connection from the server after this long is announced. @default 1,000 ms */
const NOTICE_AFTER_MS = 1_000;

/**
 * Opens a pool on a PostgreSQL index. Nothing is checked here: the first query (the
 * migrations) tells whether the server is reachable, and its error names the URL.
 * Timeouts and keepalive come from the URL's parameters (see {@link postgresTimeouts}).
 */
export function connectPostgres(url: string, options: OpenOptions = {}): DialectConnection {
  propagateSignals();
  const { connectionString, timeouts: t } = postgresTimeouts(url);
  const live = new Set<TrawlClient>();
  const config: TrawlPoolConfig = {
    connectionString,
    max: POOL_SIZE,
    types,
    // An unreachable host fails the command with a message instead of hanging it.
    connectionTimeoutMillis: t.connectTimeoutMs,
    keepAlive: t.keepAlive,
    keepAliveInitialDelayMillis: t.keepAliveIdleMs,
    // Sent as startup parameters: 0 sends none (a pooler that refuses unknown ones, say).
    ...(t.statementTimeoutMs > 0 ? { statement_timeout: t.statementTimeoutMs } : {}),
    ...(t.idleInTransactionTimeoutMs > 0
      ? { idle_in_transaction_session_timeout: t.idleInTransactionTimeoutMs }
      : {}),
    Client: TrawlClient as unknown as TrawlPoolConfig['Client'],
    trawl: { queryTimeoutMs: t.queryTimeoutMs, cancelGraceMs: CANCEL_GRACE_MS, live },
  };
  let pool: pg.Pool;
  try {
    pool = new pg.Pool(config);
  } catch (error) {
    throw new IndexError(`cannot use PostgreSQL URL: ${(error as Error).message}`, {
      cause: error,
      code: 'INDEX_CONFIG',
    });
  }
  // An idle connection that the server drops (restart, idle timeout) must not crash the
  // process: the pool discards it and the next query opens a new one.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    dialect: 'postgres',
    db,
    kysely: () => Promise.resolve(db),
    async migrationNames() {
      try {
        const { rows } = await sql<{ name: string }>`SELECT name FROM kysely_migration`.execute(db);
        return rows.map((r) => r.name);
      } catch (error) {
        // No migration table yet (a fresh index): anything else (a lost connection, a
        // cancel) is the open's failure.
        if ((error as { code?: unknown }).code === '42P01') return undefined;
        throw error;
      }
    },
    async whileOpening(work) {
      const { signal, onWait } = options;
      if (signal?.aborted) throw cancelledIndexError('opening the index');
      // Only silence is announced: a server that answers is working (migrating, say).
      let answered = false;
      pool.once('connect', () => (answered = true));
      const notice = setTimeout(() => {
        if (!answered) onWait?.({ target: redactDbUrl(url), reason: 'no-answer' });
      }, NOTICE_AFTER_MS);
      try {
        // The statements of the open hear the signal: a connect in progress stops at once.
        return await underSignal(signal, work);
      } finally {
        clearTimeout(notice);
      }
    },
    entries: () =>
      new PostgresEntryRepository(
        pool,
        () =>
          new pg.Client({
            connectionString,
            connectionTimeoutMillis: t.connectTimeoutMs,
            keepAlive: t.keepAlive,
            keepAliveInitialDelayMillis: t.keepAliveIdleMs,
          }),
      ),
    copyValues: (query, prefix) => copyValues(pool, query, prefix),
    copyEntries: (query) => copyEntries(pool, query),
    async close() {
      // Kysely's destroy ends the pool it was given; pg-pool's end waits for every client,
      // and a client on a dead or frozen socket would keep it waiting for its timeout.
      const ended = db.destroy();
      if (await settlesWithin(ended, CLOSE_GRACE_MS)) return;
      const closing = new IndexError('the index was closed', { code: 'INDEX_CONNECTION_LOST' });
      for (const client of live) client.kill(closing);
      await ended;
    },
  };
}
