import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import type { Dialect } from '../../src/db/dialect.js';
import type { EntryScope } from '../../src/db/entries.js';
import type { Index } from '../../src/db/open.js';
import type { SqliteEntryRepository } from '../../src/db/sqlite/entries.js';
import { tempDir } from './harness.js';

/** Every dialect the repository suites run against, as Kysely's own suite loops over its own. */
export const DIALECTS: readonly Dialect[] = ['sqlite', 'postgres'];

/** The maintenance database: test databases are created and dropped through it. */
export const PG_ADMIN_URL =
  process.env.TRAWL_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

let reachable: Promise<string | undefined> | undefined;

/** undefined when PostgreSQL answers, else why not. */
function pgProblem(): Promise<string | undefined> {
  reachable ??= (async () => {
    const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return undefined;
    } catch (error) {
      return (error as Error).message || String(error);
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return reachable;
}

/**
 * Whether tests of this dialect must be skipped. PostgreSQL that cannot be reached skips
 * its tests on a developer's machine; with `TRAWL_REQUIRE_SERVICES` set (CI) it is an error.
 */
export async function skipDialect(dialect: Dialect): Promise<boolean> {
  if (dialect === 'sqlite') return false;
  const problem = await pgProblem();
  if (problem === undefined) return false;
  if (process.env.TRAWL_REQUIRE_SERVICES) {
    throw new Error(
      `PostgreSQL at ${PG_ADMIN_URL} is unreachable (${problem}), and TRAWL_REQUIRE_SERVICES is set`,
    );
  }
  return true;
}

export interface TestDatabase {
  dialect: Dialect;
  /** What `openIndex` / `App.open` take: a SQLite file or a postgres:// URL. */
  url: string;
  drop(): Promise<void>;
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A database of its own for one test: a fresh SQLite file, or a fresh PostgreSQL database. */
export async function createDatabase(dialect: Dialect): Promise<TestDatabase> {
  if (dialect === 'sqlite') {
    const dir = tempDir('trawl-db-');
    return { dialect, url: join(dir.path, 'index.db'), drop: async () => dir.cleanup() };
  }
  const name = `trawl_t_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    dialect,
    url: url.toString(),
    // FORCE: a test that failed half-way may leave a connection open.
    drop: () =>
      admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => {}),
  };
}

/** Runs SQL on a test database through a short-lived connection (stats, counts, checks). */
export async function withPg<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * Rows of `entries` that `work` inserted, rewrote or deleted, as the database saw it: on
 * SQLite, triggers in the index file count every row change, whichever connection makes it
 * (the repository's writer thread has one of its own; `total_changes()` would also count
 * the scans table); on PostgreSQL, every row whose version (xmin, ctid) changed, appeared
 * or vanished.
 */
export async function rowsWritten(index: Index, work: () => Promise<unknown>): Promise<number> {
  if (index.dialect === 'sqlite') {
    const raw = (index.entries as SqliteEntryRepository).database;
    raw.exec(`CREATE TABLE IF NOT EXISTS test_rows_written (n INTEGER NOT NULL);
      DELETE FROM test_rows_written; INSERT INTO test_rows_written VALUES (0);`);
    for (const op of ['INSERT', 'UPDATE', 'DELETE']) {
      raw.exec(`CREATE TRIGGER IF NOT EXISTS test_rows_written_${op} AFTER ${op} ON entries
        BEGIN UPDATE test_rows_written SET n = n + 1; END`);
    }
    try {
      await work();
      return raw.prepare('SELECT n FROM test_rows_written').pluck().get() as number;
    } finally {
      for (const op of ['INSERT', 'UPDATE', 'DELETE']) {
        raw.exec(`DROP TRIGGER test_rows_written_${op}`);
      }
      raw.exec(`DROP TABLE test_rows_written`);
    }
  }
  const versions = async () => {
    const { rows } = await sql<{ id: number; v: string }>`
      SELECT id, xmin::text || ctid::text AS v FROM entries`.execute(index.db);
    return new Map(rows.map((r) => [Number(r.id), r.v]));
  };
  const before = await versions();
  await work();
  const after = await versions();
  let written = 0;
  for (const [id, v] of after) if (before.get(id) !== v) written++;
  for (const id of before.keys()) if (!after.has(id)) written++;
  return written;
}

/** Tenant `t` and its memory storage `s` in `index`: the scope most repository tests write in. */
export async function memoryStorageScope(index: Index): Promise<EntryScope> {
  const tenantId = await index.tenants.ensure('t');
  return { tenantId, storageId: await memoryStorage(index, tenantId, 's') };
}

/** A memory storage `name` of the tenant (a volume of the same name): its id. */
export async function memoryStorage(index: Index, tenantId: number, name: string): Promise<number> {
  const storage = await index.storages.upsert({
    tenantId,
    name,
    kind: 'memory',
    location: `memory://${name}`,
    options: { volume: name },
  });
  return storage.id;
}
