/**
 * Index failures by cause: each dialect's real errors, raised by the real thing where this
 * machine can raise them, classified into the codes the scan, the CLI and the API share;
 * PostgreSQL's timeouts as the server applies them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { sql } from 'kysely';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { classifyIndexError, IndexError, isCancellation, toIndexError } from '../src/db/errors.js';
import { guard } from '../src/db/guard.js';
import { openIndex } from '../src/db/open.js';
import { postgresTimeouts } from '../src/db/postgres/options.js';
import { createDatabase, PG_ADMIN_URL, skipDialect } from './support/databases.js';
import { tempDir } from './support/harness.js';

/** What `work` throws (it must throw). */
async function thrown(work: () => unknown): Promise<unknown> {
  try {
    await work();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe(classifyIndexError.name, () => {
  let dir: ReturnType<typeof tempDir>;
  afterEach(() => dir?.cleanup());

  it('names the cause of real SQLite failures', async () => {
    dir = tempDir('trawl-classify-');
    const file = join(dir.path, 'index.db');
    const a = new Database(file);
    a.pragma('journal_mode = WAL');
    a.exec('CREATE TABLE t (x)');
    const b = new Database(file, { timeout: 0 });
    a.exec('BEGIN IMMEDIATE');
    expect(classifyIndexError(await thrown(() => b.exec('INSERT INTO t VALUES (1)')))).toBe(
      'INDEX_LOCKED',
    );
    a.exec('ROLLBACK');
    // What a full disk answers: SQLITE_FULL (max_page_count is the same code path).
    b.pragma('max_page_count = 3');
    const full = await thrown(() => b.exec(`INSERT INTO t VALUES (zeroblob(100000))`));
    expect((full as { code: string }).code).toBe('SQLITE_FULL');
    expect(classifyIndexError(full)).toBe('INDEX_DISK_FULL');
    a.close();
    b.close();

    const garbage = join(dir.path, 'garbage.db');
    writeFileSync(garbage, 'not a database '.repeat(400));
    expect(
      classifyIndexError(await thrown(() => new Database(garbage).pragma('journal_mode'))),
    ).toBe('INDEX_CORRUPT');
    mkdirSync(join(dir.path, 'folder.db'));
    expect(classifyIndexError(await thrown(() => new Database(join(dir.path, 'folder.db'))))).toBe(
      'INDEX_UNREACHABLE',
    );
  });

  it('names system and driver failures, looking through causes', () => {
    const errno = (code: string) => Object.assign(new Error(code), { code });
    expect(classifyIndexError(errno('ENOSPC'))).toBe('INDEX_DISK_FULL');
    expect(classifyIndexError(errno('EPIPE'))).toBe('INDEX_CONNECTION_LOST');
    expect(classifyIndexError(errno('ECONNREFUSED'))).toBe('INDEX_UNREACHABLE');
    expect(classifyIndexError(errno('53100'))).toBe('INDEX_DISK_FULL'); // PostgreSQL disk_full
    expect(classifyIndexError(errno('57P01'))).toBe('INDEX_CONNECTION_LOST'); // admin_shutdown
    expect(classifyIndexError(errno('08006'))).toBe('INDEX_CONNECTION_LOST');
    expect(classifyIndexError(new Error('Connection terminated unexpectedly'))).toBe(
      'INDEX_CONNECTION_LOST',
    );
    expect(
      classifyIndexError(new Error('wrapped', { cause: new Error('Query read timeout') })),
    ).toBe('INDEX_TIMEOUT');
    expect(classifyIndexError(new Error('something else'))).toBeUndefined();
    expect(classifyIndexError('not an error')).toBeUndefined();
  });

  it('turns any failure into an IndexError that says what happened first', () => {
    const e = toIndexError(
      Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }),
    );
    expect(e).toBeInstanceOf(IndexError);
    expect(e.code).toBe('INDEX_DISK_FULL');
    expect(e.message).toBe('the disk that holds the index is full (database or disk is full)');
    expect(toIndexError(new Error('odd')).code).toBe('INDEX');
    expect(toIndexError(e)).toBe(e);
  });
});

describe.skipIf(await skipDialect('postgres'))('PostgreSQL failures and timeouts', () => {
  const drops: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const d of drops.splice(0)) await d();
  });

  async function database(query = ''): Promise<{ url: string }> {
    const db = await createDatabase('postgres');
    drops.push(() => db.drop());
    return { url: db.url + query };
  }

  it('names the cause of real server errors', async () => {
    const client = new pg.Client({ connectionString: PG_ADMIN_URL });
    await client.connect();
    try {
      await client.query('SET statement_timeout = 50');
      expect(classifyIndexError(await thrown(() => client.query('SELECT pg_sleep(1)')))).toBe(
        'INDEX_TIMEOUT',
      );
    } finally {
      await client.end();
    }
    const missing = new URL(PG_ADMIN_URL);
    missing.pathname = '/trawl_no_such_database';
    const error = await thrown(() => openIndex(missing.href));
    expect(error).toBeInstanceOf(IndexError);
    expect((error as IndexError).code).toBe('INDEX_UNREACHABLE');
    const refused = await thrown(() => openIndex('postgres://nobody@127.0.0.1:1/none'));
    expect((refused as IndexError).code).toBe('INDEX_UNREACHABLE');
  });

  it('runs every session under bounded timeouts, the defaults or the URL’s', async () => {
    const settings = async (url: string) => {
      const index = await openIndex(url);
      try {
        const { rows } = await sql<{ s: string; i: string }>`SELECT
          current_setting('statement_timeout') AS s,
          current_setting('idle_in_transaction_session_timeout') AS i`.execute(index.db);
        return rows[0];
      } finally {
        await index.close();
      }
    };
    const { url } = await database();
    expect(await settings(url)).toEqual({ s: '30s', i: '1min' });
    expect(
      await settings(`${url}?statement_timeout=1234&idle_in_transaction_session_timeout=0`),
    ).toEqual({ s: '1234ms', i: '0' });
  });

  it('fails a statement past statement_timeout with INDEX_TIMEOUT, and the index stays usable', async () => {
    const { url } = await database('?statement_timeout=100');
    const index = await openIndex(url);
    try {
      const slow = guard({ run: () => sql`SELECT pg_sleep(2)`.execute(index.db) }, undefined);
      const error = await thrown(() => slow.run());
      expect(error).toMatchObject({ code: 'INDEX_TIMEOUT' });
      expect((error as Error).message).toMatch(/did not answer in time/);
      const { rows } = await sql<{ one: number }>`SELECT 1 AS one`.execute(index.db);
      expect(rows).toEqual([{ one: 1 }]);
    } finally {
      await index.close();
    }
  });

  it('cancels a statement in flight when its signal aborts, within the grace', async () => {
    const { url } = await database();
    const index = await openIndex(url);
    try {
      const controller = new AbortController();
      const slow = guard(
        { run: () => sql`SELECT pg_sleep(10)`.execute(index.db) },
        controller.signal,
      );
      const running = thrown(() => slow.run());
      await new Promise((r) => setTimeout(r, 200));
      const aborted = Date.now();
      controller.abort();
      const error = await running;
      expect(isCancellation(error)).toBe(true);
      expect(Date.now() - aborted).toBeLessThan(1_500);
      // The connection it used is gone, the pool is not: the next statement gets a fresh one.
      const { rows } = await sql<{ one: number }>`SELECT 1 AS one`.execute(index.db);
      expect(rows).toEqual([{ one: 1 }]);
      // And a call made after the abort does not start.
      expect(isCancellation(await thrown(() => slow.run()))).toBe(true);
    } finally {
      await index.close();
    }
  });
});

describe(postgresTimeouts.name, () => {
  it('fills in the defaults and leaves the URL alone when it sets none', () => {
    const url = 'postgres://u:p@db.example:5432/trawl?sslmode=require';
    expect(postgresTimeouts(url)).toEqual({
      connectionString: url,
      timeouts: {
        connectTimeoutMs: 10_000,
        statementTimeoutMs: 30_000,
        queryTimeoutMs: 35_000,
        idleInTransactionTimeoutMs: 60_000,
        keepAlive: true,
        keepAliveIdleMs: 10_000,
      },
    });
  });

  it('reads its parameters in their own units and takes them out of the URL', () => {
    const { connectionString, timeouts } = postgresTimeouts(
      'postgres://h/db?connect_timeout=3&sslmode=require&statement_timeout=0&keepalives=0&keepalives_idle=30',
    );
    expect(connectionString).toBe('postgres://h/db?sslmode=require');
    expect(timeouts).toMatchObject({
      connectTimeoutMs: 3_000,
      statementTimeoutMs: 0,
      queryTimeoutMs: 0, // no server timeout: no client one unless asked
      keepAlive: false,
      keepAliveIdleMs: 30_000,
    });
    expect(postgresTimeouts('postgres://h/db?query_timeout=900').connectionString).toBe(
      'postgres://h/db',
    );
  });

  it('names a bad value and what was expected', () => {
    expect(() => postgresTimeouts('postgres://h/db?connect_timeout=5s')).toThrow(
      'connect_timeout in the index URL expects whole seconds from 0 up, got "5s"',
    );
    expect(() => postgresTimeouts('postgres://h/db?keepalives=yes')).toThrow(
      /keepalives in the index URL expects 0 or 1, got "yes"/,
    );
    expect(
      (() => {
        try {
          postgresTimeouts('postgres://h/db?statement_timeout=-1');
        } catch (error) {
          return (error as IndexError).code;
        }
      })(),
    ).toBe('INDEX_CONFIG');
  });
});
