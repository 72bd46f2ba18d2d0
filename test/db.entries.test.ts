import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EntryRepository, EntryScope, EntryWrite, IndexedEntry } from '../src/db/entries.js';
import { openIndex, type Index } from '../src/db/open.js';
import { SqliteEntryRepository } from '../src/db/sqlite/entries.js';
import { parentOf, baseName } from '../src/storage/paths.js';
import {
  DIALECTS,
  createDatabase,
  memoryStorageScope,
  skipDialect,
  type TestDatabase,
} from './support/databases.js';

function write(path: string, size = 1, mtime = 1000, isDir = false): EntryWrite {
  return {
    path,
    parent: parentOf(path),
    name: baseName(path),
    isDir,
    size,
    mtime,
    etag: null,
    mediaKind: null,
  };
}

const dir = (path: string) => write(path, 0, 0, true);

function bytewise(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

async function collect(it: AsyncIterable<IndexedEntry>): Promise<string[]> {
  const out: string[] = [];
  for await (const e of it) out.push(e.path);
  return out;
}

// SQLite twice: writing on the caller's thread, and through the writer thread from the first row.
for (const [dialect, thread] of [
  ...DIALECTS.map((d) => [d, false] as const),
  ['sqlite', true] as const,
]) {
  const name = thread ? `${dialect}, writer thread` : dialect;
  describe.skipIf(await skipDialect(dialect))(`EntryRepository on ${name}`, () => {
    let database: TestDatabase;
    let index: Index;
    let scope: EntryScope;

    beforeEach(async () => {
      database = await createDatabase(dialect);
      index = await openIndex(database.url);
      scope = await memoryStorageScope(index);
      if (thread) {
        const raw = (index.entries as SqliteEntryRepository).database;
        const plan = { file: database.url, busyTimeoutMs: 5000, afterRows: 0 };
        (index as { entries: EntryRepository }).entries = new SqliteEntryRepository(
          raw,
          undefined,
          plan,
        );
      }
    });

    afterEach(async () => {
      if (thread) await (index?.entries as SqliteEntryRepository | undefined)?.close();
      await index?.close();
      await database?.drop();
    });

    it('creates, then leaves identical rows alone, then counts real updates exactly', async () => {
      const writes = [dir('/a'), write('/a/x', 1), write('/a/y', 2), write('/b', 3)];
      const first = await index.entries.apply(scope, [], writes);
      expect(first.created.map((r) => r.isDir).sort()).toEqual([false, false, false, true]);
      expect(first.updated).toEqual([]);
      const again = await index.entries.apply(scope, [], writes);
      expect(again).toEqual({ created: [], updated: [], deleted: [] });
      const changed = await index.entries.apply(scope, [], [write('/a/x', 10), write('/b', 3, 5)]);
      expect(changed.created).toEqual([]);
      expect(changed.updated).toHaveLength(2);
      const ids = new Map(
        (await collect(index.entries.list(scope, '/', { recursive: true }))).map((p, i) => [p, i]),
      );
      expect([...ids.keys()]).toEqual(['/a', '/a/x', '/a/y', '/b']);
    });

    it('reads the children of many directories in one call, and omits empty ones', async () => {
      await index.entries.apply(
        scope,
        [],
        [
          dir('/a'),
          dir('/b'),
          dir('/c'),
          write('/a/1'),
          write('/a/2'),
          write('/b/1', 7, 9),
          write('/c.txt'),
        ],
      );
      const kids = await index.entries.childrenOf(scope, ['/a', '/b', '/c', '/nope']);
      expect([...kids.keys()].sort()).toEqual(['/a', '/b']);
      expect(
        kids
          .get('/a')!
          .map((e) => e.path)
          .sort(),
      ).toEqual(['/a/1', '/a/2']);
      expect(kids.get('/b')).toEqual([
        expect.objectContaining({ path: '/b/1', isDir: false, size: 7, mtime: 9, etag: null }),
      ]);
      const root = await index.entries.childrenOf(scope, ['/']);
      expect(
        root
          .get('/')!
          .map((e) => e.path)
          .sort(),
      ).toEqual(['/a', '/b', '/c', '/c.txt']);
    });

    it('removes a directory with its subtree but never a sibling that shares its prefix', async () => {
      const siblings = ['/a-b', '/a.txt', '/a0', '/ab', '/a\u0001x', '/a b'];
      await index.entries.apply(
        scope,
        [],
        [dir('/a'), dir('/a/b'), write('/a/b/c'), write('/a/d'), ...siblings.map((p) => write(p))],
      );
      const result = await index.entries.apply(scope, [{ path: '/a', isDir: true }], []);
      expect(result.deleted).toHaveLength(4);
      expect(result.deleted.filter((r) => r.isDir)).toHaveLength(2);
      const left = await collect(index.entries.list(scope, '/', { recursive: true }));
      expect(left).toEqual([...siblings].sort(bytewise));
    });

    it('removes a file alone, even when a longer name starts with it', async () => {
      await index.entries.apply(scope, [], [write('/f'), write('/f.bak'), write('/f2')]);
      const result = await index.entries.apply(scope, [{ path: '/f', isDir: false }], []);
      expect(result.deleted).toHaveLength(1);
      expect(await collect(index.entries.list(scope, '/'))).toEqual(['/f.bak', '/f2']);
    });

    it('turns a directory into a file in one batch: subtree gone, the file created', async () => {
      await index.entries.apply(scope, [], [dir('/x'), write('/x/inner')]);
      const result = await index.entries.apply(
        scope,
        [{ path: '/x', isDir: true }],
        [write('/x', 5)],
      );
      expect(result.deleted).toHaveLength(2);
      expect(result.created).toEqual([expect.objectContaining({ isDir: false })]);
      const all = await collect(index.entries.list(scope, '/', { recursive: true }));
      expect(all).toEqual(['/x']);
    });

    it('keeps awkward names byte for byte and lists them in bytewise order', async () => {
      const names = [
        'with space',
        ' lead',
        'trail ',
        'quote"d',
        'back\\slash',
        'comma,brace{}',
        'NULL',
        'new\nline',
        '100%#?',
        'caf\u00e9',
        'cafe\u0301',
        '\u{1F600}smile',
        '\uFF5Bwide',
        'x'.repeat(255),
      ];
      await index.entries.apply(
        scope,
        [],
        names.map((n) => write(`/${n}`)),
      );
      const listed = await collect(index.entries.list(scope, '/'));
      expect(listed).toEqual(names.map((n) => `/${n}`).sort(bytewise));
      const kids = await index.entries.childrenOf(scope, ['/']);
      expect(
        kids
          .get('/')!
          .map((e) => e.path)
          .sort(bytewise),
      ).toEqual(listed);
    });

    it('trusts an isNew hint only as far as the database agrees', async () => {
      const odd = ['tab\there', 'new\nline', 'back\\slash', '\\N', 'cr\rx', 'quote"'];
      const writes = [dir('/n')];
      for (let i = 0; i < 400; i++) writes.push(write(`/n/${odd[i % odd.length]}${i}`, i, i));
      const hinted = (ws: EntryWrite[]) => ws.map((w) => ({ ...w, isNew: true }));
      const first = await index.entries.apply(scope, [], hinted(writes));
      expect(first.created).toHaveLength(401);
      expect(new Set(first.created.map((r) => r.id)).size).toBe(401);
      const listed = await collect(index.entries.list(scope, '/', { recursive: true }));
      expect(listed).toEqual(writes.map((w) => w.path).sort(bytewise));
      // Wrong hints, as when an overlapping scan got there first: exact counts, no error.
      const again = await index.entries.apply(scope, [], hinted(writes));
      expect(again).toEqual({ created: [], updated: [], deleted: [] });
      const bigger = hinted(writes.map((w, i) => (i % 4 === 1 ? { ...w, size: w.size + 1 } : w)));
      const changed = await index.entries.apply(scope, [{ path: '/n/x', isDir: true }], bigger);
      expect(changed.created).toEqual([]);
      expect(changed.updated).toHaveLength(100);
      const kids = (await index.entries.childrenOf(scope, ['/n'])).get('/n')!;
      // writes[1] is file 0, one of the grown ones; file 1 kept its size.
      expect(kids.find((e) => e.path === '/n/tab\there0')).toMatchObject({ size: 1, mtime: 0 });
      expect(kids.find((e) => e.path === '/n/new\nline1')).toMatchObject({ size: 1, mtime: 1 });
    });

    it('creates a row whose hint said it was already indexed', async () => {
      const known = (w: EntryWrite) => ({ ...w, isNew: false });
      const first = await index.entries.apply(
        scope,
        [],
        [known(write('/k', 1)), known(write('/l', 1))],
      );
      expect(first.created).toHaveLength(2);
      const same = await index.entries.apply(
        scope,
        [],
        [known(write('/k', 1)), known(write('/l', 2))],
      );
      expect(same.created).toEqual([]);
      expect(same.updated).toHaveLength(1);
    });

    it('writes a batch far larger than the 65,535-parameter limit in one call', async () => {
      const writes = [dir('/big')];
      for (let i = 0; i < 70_000; i++) writes.push(write(`/big/f${i}`, i, i));
      const first = await index.entries.apply(scope, [], writes);
      expect(first.created).toHaveLength(70_001);
      expect(await index.entries.countSubtree(scope, '/big')).toEqual({ files: 70_000, dirs: 0 });
      const changed = writes.map((w, i) => (i % 7 === 1 ? { ...w, size: w.size + 1 } : w));
      const second = await index.entries.apply(scope, [{ path: '/gone', isDir: false }], changed);
      expect(second.created).toHaveLength(0);
      expect(second.updated).toHaveLength(10_000);
      const kids = await index.entries.childrenOf(scope, ['/big']);
      expect(kids.get('/big')).toHaveLength(70_000);
    });

    it('pages through a subtree larger than one page', async () => {
      const writes = [dir('/p')];
      for (let i = 0; i < 2500; i++) writes.push(write(`/p/${String(i).padStart(5, '0')}`));
      await index.entries.apply(scope, [], writes);
      const children = await collect(index.entries.list(scope, '/p'));
      expect(children).toHaveLength(2500);
      expect(children).toEqual([...children].sort(bytewise));
      expect(await collect(index.entries.list(scope, '/', { recursive: true }))).toHaveLength(2501);
    });

    it('keeps storages apart', async () => {
      const other = await index.storages.upsert({
        tenantId: scope.tenantId,
        name: 'o',
        kind: 'memory',
        location: 'memory://o',
        options: { volume: 'o' },
      });
      const otherScope = { tenantId: scope.tenantId, storageId: other.id };
      await index.entries.apply(scope, [], [write('/same')]);
      const created = await index.entries.apply(otherScope, [], [write('/same')]);
      expect(created.created).toHaveLength(1);
      await index.entries.apply(otherScope, [{ path: '/', isDir: true }], []);
      expect(await collect(index.entries.list(scope, '/'))).toEqual(['/same']);
      expect(await collect(index.entries.list(otherScope, '/'))).toEqual([]);
    });

    it('removes a storage together with its entries and scans', async () => {
      await index.entries.apply(scope, [], [dir('/d'), write('/d/f')]);
      await index.scans.start(scope, {});
      expect(await index.storages.remove(scope.storageId)).toBe(true);
      expect(await index.storages.get(scope.storageId)).toBeUndefined();
      expect(await collect(index.entries.list(scope, '/', { recursive: true }))).toEqual([]);
      expect(await index.scans.list({ tenantId: scope.tenantId })).toEqual([]);
      expect(await index.storages.remove(scope.storageId)).toBe(false);
    });

    it('stores sizes and mtimes beyond 32 bits exactly', async () => {
      const big = 2 ** 45 + 3;
      await index.entries.apply(scope, [], [write('/huge', big, 4_102_444_800_123)]);
      const [e] = (await index.entries.childrenOf(scope, ['/'])).get('/')!;
      expect(e).toMatchObject({ size: big, mtime: 4_102_444_800_123 });
      expect(typeof e!.id).toBe('number');
    });
  });
}
