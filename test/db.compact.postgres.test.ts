/**
 * PostgreSQL's rebuild of the B-trees a first scan leaves half full (postgres/compact.ts):
 * after a scan that created most of the table they are rebuilt, smaller and valid, while
 * the rows stay readable; after a small scan nothing is; an invalid copy an interrupted
 * rebuild left behind is dropped by the next call.
 */
import { afterEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { openIndex, type Index } from '../src/db/open.js';
import { Compactor } from '../src/db/postgres/compact.js';
import { createDatabase, skipDialect, withPg, type TestDatabase } from './support/databases.js';
import { memoryStorageScope } from './support/databases.js';
import { baseName, parentOf } from '../src/storage/paths.js';
import type { EntryScope, EntryWrite } from '../src/db/entries.js';
import { startTcpProxy } from './tools/tcp-proxy.js';
import { settlesWithin } from '../src/util/within.js';

function file(path: string): EntryWrite {
  return {
    path,
    parent: parentOf(path),
    name: baseName(path),
    isDir: false,
    size: 1,
    mtime: 1,
    etag: null,
    mediaKind: null,
    isNew: true,
  };
}

/** As a first scan writes: directory after directory, each batch its own run of keys. */
async function firstScan(index: Index, scope: EntryScope, dirs: number): Promise<number> {
  let created = 0;
  for (let d = dirs - 1; d >= 0; d--) {
    const batch = Array.from({ length: 400 }, (_, f) =>
      file(`/d${String(d).padStart(3, '0')}/a file name of some length ${f}`),
    );
    created += (await index.entries.apply(scope, [], batch)).created.length;
  }
  return created;
}

interface Relation {
  name: string;
  node: number;
  bytes: number;
  valid: boolean;
}

async function indexes(url: string): Promise<Map<string, Relation>> {
  return withPg(url, async (c) => {
    await c.query('VACUUM ANALYZE entries');
    const { rows } = await c.query<{ name: string; node: string; bytes: string; valid: boolean }>(
      `SELECT c.relname AS name, c.relfilenode AS node, pg_relation_size(c.oid) AS bytes,
         i.indisvalid AS valid
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
       WHERE i.indrelid = 'entries'::regclass`,
    );
    return new Map(
      rows.map((r) => [
        r.name,
        { name: r.name, node: Number(r.node), bytes: Number(r.bytes), valid: r.valid },
      ]),
    );
  });
}

const pools: pg.Pool[] = [];

function compactor(
  url: string,
  minRows: number,
  lockTimeoutMs?: number,
  maxWaitMs?: number,
): Compactor {
  const pool = new pg.Pool({ connectionString: url, max: 1, query_timeout: 5_000 });
  // As the index's own pool (src/db/postgres/connect.ts): a client still held when the
  // test's database is dropped is terminated by the server (57P01), and a pool without a
  // listener throws that error out of the process (an uncaught exception in the suite).
  pool.on('error', () => undefined);
  pools.push(pool);
  return new Compactor(pool, () => new pg.Client({ connectionString: url }), {
    minRows,
    ...(lockTimeoutMs === undefined ? {} : { lockTimeoutMs }),
    ...(maxWaitMs === undefined ? {} : { maxWaitMs }),
  });
}

/**
 * Runs `work` while a VACUUM's lock on `entries` is held (a rebuild waits for it), then
 * waits until no rebuild is left on the server before the lock goes.
 */
async function whileLocked(url: string, work: () => Promise<void>): Promise<void> {
  const holder = new pg.Client({ connectionString: url });
  await holder.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE entries IN SHARE UPDATE EXCLUSIVE MODE');
    await work();
    // Cancelled on the server, not left waiting for the lock.
    while ((await rebuilds(url)) > 0) await new Promise((r) => setTimeout(r, 20));
    await holder.query('COMMIT');
  } finally {
    await holder.end();
  }
}

/** The two text B-trees kept as they were: no rebuild took their place. */
function expectNotRebuilt(before: Map<string, Relation>, after: Map<string, Relation>): void {
  for (const name of ['entries_storage_parent_name', 'entries_storage_path']) {
    expect(after.get(name)!.node).toBe(before.get(name)!.node);
  }
}

/** The rebuilds in flight on `url`'s database, as the server lists them. */
async function rebuilds(url: string): Promise<number> {
  return withPg(url, async (c) => {
    const { rows } = await c.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_stat_activity
       WHERE datname = current_database() AND query LIKE 'REINDEX%' AND state = 'active'`,
    );
    return Number(rows[0]!.n);
  });
}

describe.skipIf(await skipDialect('postgres'))(Compactor.name, () => {
  let db: TestDatabase | undefined;
  let index: Index | undefined;
  afterEach(async () => {
    for (const pool of pools.splice(0)) await pool.end();
    await index?.close();
    await db?.drop();
    index = undefined;
    db = undefined;
  });

  it('rebuilds the half-full B-trees after a scan that created most of the table', async () => {
    db = await createDatabase('postgres');
    index = await openIndex(db.url);
    const scope = await memoryStorageScope(index);
    const created = await firstScan(index, scope, 50);
    const before = await indexes(db.url);
    await compactor(db.url, 1000).afterScan(created);
    const after = await indexes(db.url);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    for (const name of ['entries_storage_parent_name', 'entries_storage_path']) {
      const was = before.get(name)!;
      const now = after.get(name)!;
      expect(now.valid).toBe(true);
      expect(now.node).not.toBe(was.node);
      expect(now.bytes).toBeLessThan(was.bytes * 0.85);
    }
    // The primary key is not one of them: its ids only grow.
    expect(after.get('entries_pkey')!.node).toBe(before.get('entries_pkey')!.node);
    const kids = await index.entries.childrenOf(scope, ['/d007']);
    expect(kids.get('/d007')).toHaveLength(400);
  });

  it('leaves the indexes alone after a scan that created a small part of the table', async () => {
    db = await createDatabase('postgres');
    index = await openIndex(db.url);
    const scope = await memoryStorageScope(index);
    await firstScan(index, scope, 20);
    const before = await indexes(db.url);
    await compactor(db.url, 1000).afterScan(3999); // half of 8,000, less one
    await compactor(db.url, 10_000).afterScan(8000); // below the minimum
    const after = await indexes(db.url);
    for (const [name, r] of before) expect(after.get(name)!.node).toBe(r.node);
  });

  it('cancels the rebuild on the server when its signal aborts', async () => {
    db = await createDatabase('postgres');
    index = await openIndex(db.url);
    const scope = await memoryStorageScope(index);
    const created = await firstScan(index, scope, 10);
    const before = await indexes(db.url);
    const url = db.url;
    // The lock is held for longer than this test; the rebuild would wait a minute for it.
    await whileLocked(url, async () => {
      const controller = new AbortController();
      const done = compactor(url, 1000, 60_000).afterScan(created, controller.signal);
      while ((await rebuilds(url)) === 0) await new Promise((r) => setTimeout(r, 20));
      controller.abort();
      await done;
    });
    expectNotRebuilt(before, await indexes(url));
  });

  it('gives the rebuild up after its wait budget and cancels it on the server', async () => {
    db = await createDatabase('postgres');
    index = await openIndex(db.url);
    const scope = await memoryStorageScope(index);
    const created = await firstScan(index, scope, 10);
    const before = await indexes(db.url);
    const url = db.url;
    await whileLocked(url, async () => {
      // No signal: only the budget (300 ms) ends the wait for a lock held for a minute.
      const done = compactor(url, 1000, 60_000, 300).afterScan(created);
      expect(await settlesWithin(done, 20_000)).toBe(true);
    });
    expectNotRebuilt(before, await indexes(url));
  });

  it('ends the wait, and its connection, when the server stops answering mid-rebuild', async () => {
    db = await createDatabase('postgres');
    index = await openIndex(db.url);
    const scope = await memoryStorageScope(index);
    const created = await firstScan(index, scope, 10);
    const target = new URL(db.url);
    const proxy = await startTcpProxy({ targetPort: Number(target.port || 5432) });
    try {
      target.port = String(proxy.port);
      const done = compactor(target.toString(), 1000, 60_000, 500).afterScan(created);
      await proxy.when('REINDEX');
      proxy.freeze();
      // Frozen: the cancel cannot reach the server either; the budget and the cut end it.
      expect(await settlesWithin(done, 20_000)).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it('drops an invalid copy an interrupted rebuild left behind', async () => {
    db = await createDatabase('postgres');
    index = await openIndex(db.url);
    const scope = await memoryStorageScope(index);
    await firstScan(index, scope, 5);
    await withPg(db.url, async (c) => {
      // What REINDEX CONCURRENTLY leaves when cut off: an invalid `…_ccnew` index.
      await c.query('CREATE INDEX entries_storage_path_ccnew ON entries (storage_id, path)');
      await c.query(`UPDATE pg_index SET indisvalid = false
        WHERE indexrelid = 'entries_storage_path_ccnew'::regclass`);
    });
    expect((await indexes(db.url)).has('entries_storage_path_ccnew')).toBe(true);
    await compactor(db.url, 1_000_000).afterScan(1);
    const after = await indexes(db.url);
    expect(after.has('entries_storage_path_ccnew')).toBe(false);
    expect(after.get('entries_storage_path')?.valid).toBe(true);
  });
});
