/**
 * SQLite's writer thread (src/db/sqlite/writer-thread.ts): batches written by a connection
 * of their own on another thread, with every guarantee of writing them on the caller's.
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EntryRepository, EntryScope, EntryWrite } from '../src/db/entries.js';
import { guard } from '../src/db/guard.js';
import { openIndex, type Index } from '../src/db/open.js';
import { SqliteBookkeeping } from '../src/db/sqlite/bookkeeping.js';
import { SqliteEntryRepository } from '../src/db/sqlite/entries.js';
import { NameIndexBacklog } from '../src/db/sqlite/name-index.js';
import { scan } from '../src/scan/engine.js';
import { baseName, parentOf } from '../src/storage/paths.js';
import { entryWriteCounter, engineFixture, prng, type EngineFixture } from './fixtures/engine.js';
import {
  createDatabase,
  memoryStorage,
  memoryStorageScope,
  type TestDatabase,
} from './support/databases.js';
import { indexRows, treeRows } from './support/harness.js';

const REPO = resolve(import.meta.dirname, '..');

function write(path: string, size = 1, isNew = true): EntryWrite {
  return {
    path,
    parent: parentOf(path),
    name: baseName(path),
    isDir: false,
    size,
    mtime: 1000,
    etag: null,
    mediaKind: null,
    isNew,
  };
}

const files = (dir: string, n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => write(`${dir}/f${from + i}`, from + i));

/** A repository over `index`'s file whose every batch goes to a writer thread. */
function threaded(index: Index, file: string, busyTimeoutMs = 5000, backlog?: number) {
  const raw = (index.entries as SqliteEntryRepository).database;
  const names = backlog === undefined ? undefined : new NameIndexBacklog(raw, backlog);
  return new SqliteEntryRepository(raw, names, { file, busyTimeoutMs, afterRows: 0 });
}

describe('SQLite entries through the writer thread', () => {
  let database: TestDatabase;
  let index: Index;
  let scope: EntryScope;
  let repo: SqliteEntryRepository;
  let other: BetterSqlite3.Database | undefined;

  beforeEach(async () => {
    database = await createDatabase('sqlite');
    index = await openIndex(database.url);
    scope = await memoryStorageScope(index);
    repo = threaded(index, database.url);
  });

  afterEach(async () => {
    other?.close();
    other = undefined;
    await repo.close();
    await index.close();
    await database.drop();
  });

  /** Every id of the storage's rows, by path, as the file holds them. */
  const idsInFile = () =>
    new Map(
      (index.entries as SqliteEntryRepository).database
        .prepare('SELECT path, id FROM entries WHERE storage_id = ?')
        .raw()
        .all(scope.storageId) as [string, number][],
    );

  it('writes off the calling thread: the event loop turns while a batch is written', async () => {
    let turned = false;
    setImmediate(() => (turned = true));
    await repo.apply(scope, [], files('/a', 20_000));
    expect(turned).toBe(true);
    // The same batch on the caller's thread: done before the loop could turn.
    const inline = new SqliteEntryRepository((index.entries as SqliteEntryRepository).database);
    turned = false;
    setImmediate(() => (turned = true));
    await inline.apply(scope, [], files('/b', 20_000));
    expect(turned).toBe(false);
    expect(idsInFile().size).toBe(40_000);
  });

  it('returns the ids the rows got, also when some were written by another connection first', async () => {
    const first = await repo.apply(scope, [], files('/a', 300));
    const ids = idsInFile();
    // In no promised order: a batch's new rows go in by path (entry-writer.ts, packBatch).
    const sorted = (a: (number | undefined)[]) => [...a].sort((x, y) => x! - y!);
    expect(sorted(first.created.map((r) => r.id))).toEqual(
      sorted(files('/a', 300).map((w) => ids.get(w.path))),
    );
    // Another process writes two of the next batch's rows (one as the batch will, one not)
    // between the scan's read and its write: the batch still thinks all are new.
    other = new BetterSqlite3(database.url);
    const insert = other.prepare(`INSERT INTO entries (tenant_id, storage_id, path, name_bytes,
      is_dir, size, mtime, etag, media_kind) VALUES (?, ?, ?, length(CAST(? AS BLOB)), 0, ?, 1000,
      NULL, NULL)`);
    insert.run(scope.tenantId, scope.storageId, '/a/f300', 'f300', 300);
    insert.run(scope.tenantId, scope.storageId, '/a/f301', 'f301', 999);
    const next = await repo.apply({ ...scope, outbox: { scanId: null } }, [], files('/a', 10, 300));
    const after = idsInFile();
    expect(sorted(next.created.map((r) => r.id))).toEqual(
      sorted(files('/a', 8, 302).map((w) => after.get(w.path))),
    );
    expect(next.updated).toEqual([{ id: after.get('/a/f301'), isDir: false }]);
    expect(after.size).toBe(310);
    // The change event names the same ids, written in the batch's transaction.
    const last = await repo.apply({ ...scope, outbox: { scanId: null } }, [], files('/b', 5));
    const events = other
      .prepare('SELECT created, updated FROM change_events ORDER BY id')
      .raw()
      .all() as [string, string][];
    expect(events).toEqual([
      [
        JSON.stringify(next.created.map((r) => r.id)),
        JSON.stringify(next.updated.map((r) => r.id)),
      ],
      [JSON.stringify(last.created.map((r) => r.id)), '[]'],
    ]);
  });

  it('writes the new rows of a batch in path order, each id with its own kind', async () => {
    const batch = [write('/z/f'), { ...write('/m', 0), isDir: true }, write('/b'), write('/m/a')];
    const done = await repo.apply(scope, [], batch);
    const rows = (index.entries as SqliteEntryRepository).database
      .prepare('SELECT id, path, is_dir FROM entries WHERE storage_id = ? ORDER BY id')
      .raw()
      .all(scope.storageId) as [number, string, number][];
    expect(rows.map((r) => r[1])).toEqual(['/b', '/m', '/m/a', '/z/f']);
    expect(done.created).toEqual(rows.map(([id, , d]) => ({ id, isDir: d === 1 })));
  });

  it('has committed a batch when apply resolves: every read after it sees the batch', async () => {
    for (let round = 0; round < 20; round++) {
      const dir = `/r${round}`;
      await repo.apply(scope, [], [{ ...write(dir, 0), isDir: true }, ...files(dir, 50)]);
      expect((await repo.childrenOf(scope, [dir])).get(dir)).toHaveLength(50);
      expect((await repo.lookup(scope, [`${dir}/f49`])).size).toBe(1);
      expect(await repo.countSubtree(scope, dir)).toEqual({ files: 50, dirs: 0 });
      await repo.apply(scope, [{ path: dir, isDir: true }], []);
      expect(await repo.childrenOf(scope, [dir])).toEqual(new Map());
    }
  });

  it('lets the batches in flight commit when it is closed', async () => {
    const pending = [
      repo.apply(scope, [], files('/a', 5000)),
      repo.apply(scope, [], files('/b', 5000)),
    ];
    await repo.close();
    const done = await Promise.all(pending);
    expect(done.map((r) => r.created.length)).toEqual([5000, 5000]);
    expect(idsInFile().size).toBe(10_000);
    await expect(repo.apply(scope, [], files('/c', 1))).rejects.toThrow(/writer thread/);
  });

  it('stores each name by its length in bytes: names and parents read back, Unicode too', async () => {
    const names = [
      'caf\u00e9',
      'cafe\u0301',
      '\u{1F600}smile',
      '\u65E5\u672C',
      'a b',
      'x'.repeat(255),
    ];
    const writes: EntryWrite[] = [{ ...write('/d\u00fc'), isDir: true, size: 0 }];
    for (const n of names) writes.push(write(`/d\u00fc/${n}`));
    await repo.apply(scope, [], writes);
    const raw = (index.entries as SqliteEntryRepository).database;
    const rows = raw
      .prepare(
        'SELECT path, name, parent, parent_id FROM entries WHERE storage_id = ? ORDER BY path',
      )
      .raw()
      .all(scope.storageId) as [string, string, string, number][];
    const dirId = idsInFile().get('/d\u00fc');
    expect(rows).toEqual(
      [
        ['/d\u00fc', 'd\u00fc', '/', -scope.storageId],
        ...names.map((n) => [`/d\u00fc/${n}`, n, '/d\u00fc', dirId]),
      ].sort((a, b) => Buffer.compare(Buffer.from(a[0] as string), Buffer.from(b[0] as string))),
    );
  });

  it("writes a scan's progress in the thread, behind the batches posted before it", async () => {
    const raw = (index.entries as SqliteEntryRepository).database;
    const bookkeeping = new SqliteBookkeeping(raw, () => repo.writerThread);
    const id = await bookkeeping.scans.start(scope, {});
    await repo.apply(scope, [], files('/a', 1));
    // The caller's connection may not write now: only the thread can write the row.
    raw.pragma('query_only = ON');
    const pending = repo.apply(scope, [], files('/b', 5000));
    expect(await bookkeeping.scans.writeProgress(id, { dirs: 7 })).toBe(false);
    expect(idsInFile().size).toBe(5001);
    const progress = raw.prepare('SELECT progress FROM scans WHERE id = ?').pluck();
    expect(progress.get(id)).toBe('{"dirs":7}');
    raw.pragma('query_only = OFF');
    raw.prepare('UPDATE scans SET cancel_requested = 1 WHERE id = ?').run(id);
    raw.pragma('query_only = ON');
    expect(await bookkeeping.scans.writeProgress(id, { dirs: 8 })).toBe(true);
    expect(progress.get(id)).toBe('{"dirs":8}');
    await pending;
    // Closed, the thread is out of the way: the caller's connection writes (here: refused).
    await repo.close();
    expect(repo.writerThread).toBeUndefined();
    await expect(bookkeeping.scans.writeProgress(id, { dirs: 9 })).rejects.toThrow(/readonly/);
    raw.pragma('query_only = OFF');
    expect(await bookkeeping.scans.writeProgress(id, { dirs: 9 })).toBe(true);
    expect(progress.get(id)).toBe('{"dirs":9}');
  });

  it('keeps its process alive until closed, when a progress write answers after close()', async () => {
    const raw = (index.entries as SqliteEntryRepository).database;
    const id = await new SqliteBookkeeping(raw).scans.start(scope, {});
    // The built module in a process of its own: whether that process waits for close() is
    // the point (the scan's exit code is set once close() resolved: bin/trawl.js).
    const built = (f: string) => pathToFileURL(join(REPO, 'dist', 'db', 'sqlite', f)).href;
    // A large batch first: closing checkpoints its pages, which keeps the thread a while
    // after the progress write's reply.
    const script = `
      import { WriterThread } from ${JSON.stringify(built('writer-thread.js'))};
      import { packBatch } from ${JSON.stringify(built('entry-writer.js'))};
      const thread = new WriterThread({ file: ${JSON.stringify(database.url)}, busyTimeoutMs: 5000, backlogRows: 100000 });
      const rows = Array.from({ length: 20000 }, () => (${JSON.stringify(write('/big/f'))}));
      rows.forEach((r, i) => { r.path += i; r.name += i; });
      await thread.apply(packBatch(${JSON.stringify(scope)}, [], rows));
      thread.writeProgress(${id}, '{"dirs":3}').then((cancel) => console.log('progress', cancel));
      thread.close().then(() => { console.log('closed'); process.exitCode = 7; });
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
    expect(child.stderr).toBe('');
    expect(child.stdout).toBe('progress false\nclosed\n');
    expect(child.status).toBe(7);
    expect(raw.prepare('SELECT progress FROM scans WHERE id = ?').pluck().get(id)).toBe(
      '{"dirs":3}',
    );
  });

  it('fails a batch with INDEX_LOCKED when another process holds the lock, and writes the next', async () => {
    await repo.close();
    repo = threaded(index, database.url, 100);
    const entries = guard(repo as EntryRepository, undefined);
    await entries.apply(scope, [], files('/a', 10));
    other = new BetterSqlite3(database.url);
    other.exec('BEGIN IMMEDIATE');
    await expect(entries.apply(scope, [], files('/b', 10))).rejects.toMatchObject({
      name: 'IndexError',
      code: 'INDEX_LOCKED',
    });
    other.exec('ROLLBACK');
    await entries.apply(scope, [], files('/c', 10));
    expect([...idsInFile().keys()].filter((p) => p.startsWith('/b'))).toEqual([]);
    expect(idsInFile().size).toBe(20);
  });

  it('fails a progress write behind a failed batch at once, and writes one after a batch went in', async () => {
    const raw = (index.entries as SqliteEntryRepository).database;
    const id = await new SqliteBookkeeping(raw).scans.start(scope, {});
    await repo.close();
    repo = threaded(index, database.url, 1000);
    await repo.apply(scope, [], files('/a', 10));
    other = new BetterSqlite3(database.url);
    other.exec('BEGIN IMMEDIATE');
    const batch = repo.apply(scope, [], files('/b', 10));
    const progress = repo.writerThread!.writeProgress(id, '{"dirs":1}');
    await expect(batch).rejects.toMatchObject({ code: 'SQLITE_BUSY' });
    const failedAt = Date.now();
    // Not another busy timeout (1 s) while the lock is still held.
    await expect(progress).rejects.toMatchObject({ code: 'SQLITE_BUSY' });
    expect(Date.now() - failedAt).toBeLessThan(500);
    other.exec('ROLLBACK');
    await repo.apply(scope, [], files('/c', 10));
    expect(await repo.writerThread!.writeProgress(id, '{"dirs":2}')).toBe(false);
    expect(raw.prepare('SELECT progress FROM scans WHERE id = ?').pluck().get(id)).toBe(
      '{"dirs":2}',
    );
  });

  it('fails a batch posted behind a failed one of its storage at once, unwritten; another storage waits its turn', async () => {
    await repo.close();
    repo = threaded(index, database.url, 1000);
    const entries = guard(repo as EntryRepository, undefined);
    const otherScope = { ...scope, storageId: await memoryStorage(index, scope.tenantId, 's2') };
    other = new BetterSqlite3(database.url);
    other.exec('BEGIN IMMEDIATE');
    const started = Date.now();
    // Two batches of one storage in the thread's hands, as a scan hands them on, and one of
    // another storage's scan. The lock goes after the first has given up, before the second
    // would have.
    const first = entries.apply(scope, [], files('/a', 10));
    const second = entries.apply(scope, [], files('/b', 10));
    const elsewhere = entries.apply(otherScope, [], files('/c', 10));
    const released = new Promise<void>((resolve) =>
      setTimeout(() => {
        other!.exec('ROLLBACK');
        resolve();
      }, 1500),
    );
    await expect(first).rejects.toMatchObject({ code: 'INDEX_LOCKED' });
    await expect(second).rejects.toMatchObject({ code: 'INDEX_LOCKED' });
    expect(Date.now() - started).toBeLessThan(1500);
    await released;
    expect((await elsewhere).created).toHaveLength(10);
    expect([...idsInFile().keys()]).toEqual([]);
    // Behind a batch that committed, the next is written as ever.
    await entries.apply(scope, [], files('/a', 10));
    expect(idsInFile().size).toBe(10);
  });

  it('refuses a batch once the storage fence moved on (INDEX_FENCED), writing nothing of it', async () => {
    const raw = (index.entries as SqliteEntryRepository).database;
    raw.prepare('UPDATE storages SET fence = 7 WHERE id = ?').run(scope.storageId);
    await repo.apply({ ...scope, fence: 7 }, [], files('/a', 10));
    raw.prepare('UPDATE storages SET fence = 8 WHERE id = ?').run(scope.storageId);
    await expect(
      guard(repo as EntryRepository, undefined).apply({ ...scope, fence: 7 }, [], files('/b', 10)),
    ).rejects.toMatchObject({ code: 'INDEX_FENCED' });
    expect(idsInFile().size).toBe(10);
  });

  it('keeps the name index up in bulk from the thread, and a search finds every row', async () => {
    await repo.close();
    repo = threaded(index, database.url, 5000, 100);
    for (let i = 0; i < 5; i++) await repo.apply(scope, [], files(`/d${i}`, 60));
    const raw = (index.entries as SqliteEntryRepository).database;
    // 300 rows, a backlog of 100 at most: the thread added the rest.
    const upto = raw.prepare('SELECT upto FROM search_watermark').pluck().get() as number;
    expect(upto).toBeGreaterThanOrEqual(200);
    // 013's time steps with them, by the thread's own copy of the statement.
    const steps = raw.prepare('SELECT count(*) FROM entries_time_steps').pluck().get();
    expect(steps).toBe(raw.prepare('SELECT count(*) FROM entries WHERE id <= ?').pluck().get(upto));
    // And 017's name order by kind.
    const named = raw.prepare('SELECT count(*) FROM entries_name_order').pluck().get();
    expect(named).toBe(steps);
    const found = await index.queries.search({ tenantId: scope.tenantId, name: 'f5' });
    expect(found.items.map((e) => e.path).sort()).toEqual(
      [0, 1, 2, 3, 4]
        .flatMap((d) =>
          ['f5', 'f50', 'f51', 'f52', 'f53', 'f54', 'f55', 'f56', 'f57', 'f58', 'f59'].map(
            (n) => `/d${d}/${n}`,
          ),
        )
        .sort(),
    );
  });
});

describe('a scan whose batches go to the writer thread', () => {
  let fx: EngineFixture;
  let repo: SqliteEntryRepository | undefined;
  afterEach(async () => {
    await repo?.close();
    await fx?.close();
  });

  it('counts every round of changes exactly, and an unchanged rescan writes nothing', async () => {
    fx = await engineFixture();
    const raw = (fx.app.index.entries as SqliteEntryRepository).database;
    repo = new SqliteEntryRepository(raw, undefined, {
      file: fx.dbFile,
      busyTimeoutMs: 5000,
      afterRows: 0,
    });
    const entries: EntryRepository = repo;
    const run = () =>
      scan({ storage: fx.app.storage.handle(fx.storage.id), entries }, fx.scope, {
        batchEntries: 40,
        listers: 3,
      });
    const rand = prng(20261202);
    const t = fx.tree;
    for (let i = 0; i < 600; i++) t.writeFile(`/d${i % 9}/s${i % 7}/f${i}`, i, 1000 + i);
    let r = await run();
    expect(r).toMatchObject({ status: 'succeeded', files: 600, created: 600 });
    for (let round = 0; round < 6; round++) {
      const files = treeRows(t).filter((row) => !row[1]);
      let changed = 0;
      for (let k = 0; k < 40; k++) {
        const [path] = files[Math.floor(rand() * files.length)]!;
        if (!t.exists(path)) continue;
        if (k % 3 === 0) t.remove(path);
        else t.modify(path, { size: 5000 + round * 100 + k });
        changed++;
      }
      t.remove(`/d${round}/s${round}`).writeFile(`/d${round}/s${round}`, 1, 1);
      t.writeFile(`/new${round}/deep/x`, round, round);
      r = await run();
      expect(r.errorSample).toEqual([]);
      expect(r.created + r.updated + r.unchanged).toBe(r.files);
      expect(r.updated + r.deleted).toBeGreaterThan(0);
      expect(changed).toBeGreaterThan(0);
      expect(indexRows(await fx.indexed())).toEqual(treeRows(t));
    }
    const writes = entryWriteCounter(fx.dbFile);
    try {
      r = await run();
      expect(r).toMatchObject({ created: 0, updated: 0, deleted: 0 });
      expect(writes.count()).toBe(0);
    } finally {
      writes.close();
    }
  });
});
