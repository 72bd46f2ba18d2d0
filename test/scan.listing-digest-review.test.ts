/**
 * A hostile review of listing digests (migration 021, SQLite): sequences of scans with
 * different options (sub-path roots, depth bounds, dry runs, one-entry batches, excludes,
 * markers off), interleaved with mutations that keep every directory's mtime, must leave an
 * index that a default rescan makes equal to one built from scratch; and a writer that comes
 * between a scan's read of a directory and its commit must not leave a digest that hides its row.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { App } from '../src/app.js';
import type { EntryRepository, EntryScope, EntryWrite } from '../src/db/entries.js';
import type { ScanOptions } from '../src/scan/engine.js';
import { parseStorageSpec } from '../src/storage/url.js';
import type { Dialect } from '../src/db/dialect.js';
import { createDatabase, DIALECTS, skipDialect } from './support/databases.js';
import { tempDir } from './support/harness.js';
import { onDigestRead } from './support/digest-reads.js';
import { seeded } from './support/mutations.js';

const T = 1_600_000_000;
const skipPostgres = await skipDialect('postgres');

function at(path: string, s: number): void {
  utimesSync(path, T + s, T + s);
}

interface Fixture {
  app: App;
  scope: EntryScope;
  entries: EntryRepository;
  scan(options?: ScanOptions): ReturnType<App['scan']>;
  rows(): Promise<string[]>;
  /** Directories whose digest matched (rows not read), all scans so far. */
  trusted(): number;
  close(): Promise<void>;
}

async function fixture(root: string, dialect: Dialect = 'sqlite'): Promise<Fixture> {
  const database = await createDatabase(dialect);
  const app = await App.open({ database: database.url, tenant: 'default' });
  const storage = await app.ensureStorage(parseStorageSpec(root, {}));
  const scope = { tenantId: storage.tenantId, storageId: storage.id };
  const entries = app.index.entries as EntryRepository;
  let trusted = 0;
  // Only SQLite stores digests.
  onDigestRead(entries, (_, answer) => (trusted += answer.same.size));
  return {
    app,
    trusted: () => trusted,
    scope,
    entries: app.index.entries as EntryRepository,
    scan: (options: ScanOptions = {}) => app.scan(storage, options),
    async rows() {
      const out: string[] = [];
      for await (const e of app.index.entries.list(scope, '/', { recursive: true })) {
        out.push(`${e.path}|${e.isDir ? 'd' : 'f'}|${e.size}|${e.mtime}|${e.mediaKind}`);
      }
      return out;
    },
    async close() {
      await app.close();
      await database.drop();
    },
  };
}

/** The rows a first default scan of `root` makes. */
async function fresh(root: string): Promise<string[]> {
  const f = await fixture(root);
  try {
    await f.scan();
    return await f.rows();
  } finally {
    await f.close();
  }
}

describe('listing digests under review (sqlite)', () => {
  let dir: { path: string; cleanup: () => void };
  let n = 0;
  beforeAll(() => {
    dir = tempDir('trawl-digest-review-');
  });
  afterAll(() => dir.cleanup());

  function tree(): string {
    const root = join(dir.path, `t${n++}`);
    mkdirSync(join(root, 'a', 'b'), { recursive: true });
    mkdirSync(join(root, 'c'));
    for (const [path, text] of [
      ['a/one.jpg', '1'],
      ['a/b/deep.txt', 'deep'],
      ['c/three.png', '333'],
      ['c/four', '4444'],
    ] as const) {
      writeFileSync(join(root, path), text);
      at(join(root, path), 10);
    }
    for (const d of ['a/b', 'a', 'c']) at(join(root, d), 20);
    return root;
  }

  it('a row another writer adds between a scan reading a directory and its commit is not hidden by the digest stored', async () => {
    const root = tree();
    const f = await fixture(root);
    try {
      await f.scan();
      // `/c` changes on disk: the next scan reads its rows and compares them in full.
      writeFileSync(join(root, 'c/four'), '44445');
      at(join(root, 'c/four'), 10);
      at(join(root, 'c'), 20);
      const ghost: EntryWrite = {
        path: '/c/ghost.jpg',
        parent: '/c',
        name: 'ghost.jpg',
        isDir: false,
        size: 1,
        mtime: (T + 10) * 1000,
        etag: null,
        mediaKind: 'image',
        isNew: true,
      };
      // Another writer (a tool, a second process without the lease) commits a row of `/c`
      // after the scan read `/c`'s rows and before the scan's batch commits.
      const apply = f.entries.apply.bind(f.entries);
      let raced = false;
      f.entries.apply = async (scope, removals, writes, digests) => {
        if (!raced && digests?.some((d) => d.dir === '/c')) {
          raced = true;
          await apply(scope, [], [ghost]);
        }
        return apply(scope, removals, writes, digests);
      };
      await f.scan();
      expect(raced).toBe(true);
      f.entries.apply = apply;
      // The ghost is in the index now, and not on disk: the next scan must remove it.
      await f.scan();
      expect(await f.rows()).toEqual(await fresh(root));
    } finally {
      await f.close();
    }
  });

  it("stores a digest compare-and-set: not over a write, a clear, or another scan's store since the read", async () => {
    const root = tree();
    const f = await fixture(root);
    try {
      await f.scan();
      const digestOf = async (path: string) =>
        (
          await sql<{
            d: string | null;
          }>`SELECT listing_digest AS d FROM entries WHERE path = ${path}`.execute(f.app.index.db)
        ).rows[0]?.d ?? null;
      type Read = { value: string | null; row: number | null };
      const probe = async (): Promise<Read> =>
        (await f.entries.childrenUnlessSame!(f.scope, ['/c'], ['not-the-digest'])).was.get('/c')!;
      let k = 0;
      // Another writer's row under `/c` (no digest stored with it).
      const write = () =>
        f.entries.apply(
          f.scope,
          [],
          [
            {
              path: `/c/other-${k}.txt`,
              parent: '/c',
              name: `other-${k++}.txt`,
              isDir: false,
              size: 1,
              mtime: (T + 10) * 1000,
              etag: null,
              mediaKind: null,
              isNew: true,
            },
          ],
        );
      const store = (digest: string, read: Read) =>
        f.entries.apply(f.scope, [], [], [{ dir: '/c', digest, was: read.value, row: read.row }]);
      const first = await digestOf('/c');
      expect(first).toMatch(/^[A-Za-z0-9_-]{22}$/);
      // The probe reports the value it read, and a store over it goes in.
      const read = await probe();
      expect(read.value).toBe(first);
      await store('A'.repeat(22), read);
      expect(await digestOf('/c')).toBe('A'.repeat(22));
      // A write since the read: refused.
      const beforeWrite = await probe();
      await write();
      const token = await digestOf('/c');
      expect(token).toMatch(/^~[0-9A-F]{16}$/);
      await store('B'.repeat(22), beforeWrite);
      expect(await digestOf('/c')).toBe(token);
      // Over a token, and over null, a write still makes a value no read has seen.
      const readToken = await probe();
      expect(readToken.value).toBe(token);
      await write();
      const token2 = await digestOf('/c');
      expect(token2).toMatch(/^~[0-9A-F]{16}$/);
      expect(token2).not.toBe(token);
      await store('B'.repeat(22), readToken);
      expect(await digestOf('/c')).toBe(token2);
      await sql`UPDATE entries SET listing_digest = NULL WHERE path = '/c'`.execute(f.app.index.db);
      const readNull = await probe();
      expect(readNull.value).toBeNull();
      await write();
      await store('B'.repeat(22), readNull);
      expect(await digestOf('/c')).toMatch(/^~[0-9A-F]{16}$/);
      // A clear, then another scan's read and store, since the read: refused too.
      const stale = await probe();
      await write();
      const other = await probe();
      await store('C'.repeat(22), other);
      expect(await digestOf('/c')).toBe('C'.repeat(22));
      await store('D'.repeat(22), stale);
      expect(await digestOf('/c')).toBe('C'.repeat(22));
      const writeC = () =>
        f.entries.apply(
          f.scope,
          [],
          [
            {
              path: '/c',
              parent: '/',
              name: 'c',
              isDir: true,
              size: 0,
              mtime: (T + 20) * 1000,
              etag: null,
              mediaKind: null,
              isNew: true,
            },
          ],
        );
      // `/c` removed and written anew (null again, no child row) since a read of null: the
      // row read is gone, the store refused.
      await sql`UPDATE entries SET listing_digest = NULL WHERE path = '/c'`.execute(f.app.index.db);
      const readGone = await probe();
      expect(readGone).toEqual({ value: null, row: expect.any(Number) });
      await f.entries.apply(f.scope, [{ path: '/c', isDir: true }], []);
      await writeC();
      expect(await digestOf('/c')).toBeNull();
      await store('E'.repeat(22), readGone);
      expect(await digestOf('/c')).toBeNull();
      // No row when read: the store goes on the row written since (the scan's batch writes
      // every child row of a directory it read none of).
      await f.entries.apply(f.scope, [{ path: '/c', isDir: true }], []);
      const readNone = await probe();
      expect(readNone).toEqual({ value: null, row: null });
      await writeC();
      await store('F'.repeat(22), readNone);
      expect(await digestOf('/c')).toBe('F'.repeat(22));
      // The rows another writer added are found and removed by the next scan.
      await f.scan();
      expect(await f.rows()).toEqual(await fresh(root));
    } finally {
      await f.close();
    }
  });

  it("reads a batch's directories in one statement as one by one: each its own row, names JSON does not carry included", async () => {
    const root = join(dir.path, `t${n++}`);
    mkdirSync(root);
    const f = await fixture(root);
    try {
      const entry = (path: string, isDir: boolean): EntryWrite => ({
        path,
        parent: path.slice(0, path.lastIndexOf('/')) || '/',
        name: path.slice(path.lastIndexOf('/') + 1),
        isDir,
        size: 0,
        mtime: (T + 1) * 1000,
        etag: null,
        mediaKind: null,
        isNew: true,
      });
      // A lone surrogate is not UTF-8: its row's path reads back as U+FFFD, as the path of
      // `/x\uFFFD…` does, a row of its own.
      const lone = '/x\uD800';
      const alike = '/x\uFFFD\uFFFD\uFFFD';
      // And one whose look-alike has no row: asked with the lone one's digest, it must not
      // be taken for it.
      const lone2 = '/y\uD800';
      const alike2 = '/y\uFFFD\uFFFD\uFFFD';
      const dirs = ['/a', '/b', '/c', lone, alike, lone2, alike2, '/f.txt', '/none'];
      await f.entries.apply(
        f.scope,
        [],
        [
          ...['/a', '/b', '/c', lone, alike, lone2].map((p) => entry(p, true)),
          entry('/f.txt', false),
        ],
      );
      const [A, S, R, Y] = ['A', 'S', 'R', 'Y'].map((c) => c.repeat(22));
      await f.entries.apply(
        f.scope,
        [],
        [],
        [
          { dir: '/a', digest: A!, was: null, row: null },
          { dir: lone, digest: S!, was: null, row: null },
          { dir: alike, digest: R!, was: null, row: null },
          { dir: lone2, digest: Y!, was: null, row: null },
        ],
      );
      // A child written without a digest: `/b` holds a token.
      await f.entries.apply(f.scope, [], [entry('/b/k.txt', false)]);
      const asked = dirs.map((d) =>
        d === '/a' ? A! : d === lone ? S! : d === lone2 || d === alike2 ? Y! : 'Z'.repeat(22),
      );
      const all = await f.entries.childrenUnlessSame!(f.scope, dirs, asked);
      const one = await Promise.all(
        dirs.map((d, i) => f.entries.childrenUnlessSame!(f.scope, [d], [asked[i]!])),
      );
      const ids = new Map(
        (
          await sql<{
            path: string;
            id: number;
          }>`SELECT path, id FROM entries WHERE is_dir = 1`.execute(f.app.index.db)
        ).rows.map((r) => [r.path, r.id]),
      );
      // Six directory rows: the lone ones read back as their look-alikes.
      expect(ids.size).toBe(5);
      expect(
        (
          await sql<{
            n: number;
          }>`SELECT count(*) AS n FROM entries WHERE is_dir = 1`.execute(f.app.index.db)
        ).rows[0]!.n,
      ).toBe(6);
      expect([...all.same].sort()).toEqual(['/a', lone, lone2].sort());
      for (const [i, d] of dirs.entries()) {
        expect(all.was.get(d), d).toEqual(one[i]!.was.get(d));
        expect(all.same.has(d), d).toBe(one[i]!.same.has(d));
        expect([...(all.children.get(d) ?? [])], d).toEqual([...(one[i]!.children.get(d) ?? [])]);
      }
      // A directory whose digest is the one asked is not compared: no value is kept for it.
      expect(all.was.get('/a')).toBeUndefined();
      expect(all.was.get('/b')).toEqual({ value: expect.stringMatching(/^~/), row: ids.get('/b') });
      expect(all.was.get('/c')).toEqual({ value: null, row: ids.get('/c') });
      // The lone surrogate's row is its own, not its look-alike's (which holds R, not S).
      expect(all.was.get(lone)).toBeUndefined();
      expect(all.was.get(alike)).toEqual({ value: R, row: expect.any(Number) });
      expect(all.was.get(alike2)).toEqual({ value: null, row: null });
      expect(all.was.get('/f.txt')).toEqual({ value: null, row: null });
      expect(all.was.get('/none')).toEqual({ value: null, row: null });
      expect(all.children.get('/b')?.map((e) => e.path)).toEqual(['/b/k.txt']);
    } finally {
      await f.close();
    }
  });

  it('a trusted directory counts as a compared one, with skipped entries of every kind', async () => {
    const root = tree();
    mkdirSync(join(root, 'c', 'empty'));
    execFileSync('mkfifo', [join(root, 'c', 'pipe')]);
    symlinkSync('three.png', join(root, 'c', 'link.png'));
    symlinkSync('nowhere', join(root, 'a', 'dangling'));
    writeFileSync(join(root, 'a', 'UPPER.JPG'), 'UP');
    writeFileSync(join(root, 'a', '.hidden.mp4'), 'h');
    for (const d of ['a', 'c', 'c/empty']) at(join(root, d), 20);
    const f = await fixture(root);
    try {
      const counts = (r: Awaited<ReturnType<Fixture['scan']>>) => ({
        files: r.files,
        dirs: r.dirs,
        bytes: r.bytes,
        mediaFiles: r.mediaFiles,
        skipped: r.skipped,
      });
      const first = counts(await f.scan());
      const trusted = await f.scan();
      await sql`UPDATE entries SET listing_digest = NULL`.execute(f.app.index.db);
      const compared = await f.scan();
      expect(counts(trusted)).toEqual(first);
      expect(counts(compared)).toEqual(first);
      expect(trusted.unchanged).toBe(compared.unchanged);
      expect(first.skipped).toBe(3);
    } finally {
      await f.close();
    }
  });

  // The one test here that is not about digests: a hole of sub-path scans in both dialects.
  for (const dialect of DIALECTS) {
    if (dialect === 'postgres' && skipPostgres) continue;
    it(`a sub-path scan of a directory the index holds as a file leaves no rows once it is a file again (${dialect})`, async () => {
      const root = tree();
      const f = await fixture(root, dialect);
      try {
        await f.scan();
        // `/c/four` (a file in the index) is a directory now, scanned alone (as a watch or
        // `--path` would): its children are written below a file's row.
        rmSync(join(root, 'c/four'));
        mkdirSync(join(root, 'c/four'));
        writeFileSync(join(root, 'c/four/inner.txt'), 'in');
        await f.scan({ roots: ['/c/four'] });
        // A file again before the next whole scan.
        rmSync(join(root, 'c/four'), { recursive: true });
        writeFileSync(join(root, 'c/four'), '44');
        at(join(root, 'c/four'), 30);
        at(join(root, 'c'), 20);
        await f.scan();
        expect(await f.rows()).toEqual(await fresh(root));
      } finally {
        await f.close();
      }
    });
  }

  it("through SQLite's writer thread, small batches in flight: mutations found, digests trusted", async () => {
    const root = join(dir.path, `t${n++}`);
    const dirs: string[] = [];
    for (let d = 0; d < 30; d++) {
      const sub = join(root, `d${d}`, 'in');
      mkdirSync(sub, { recursive: true });
      for (let i = 0; i < 150; i++) {
        const file = join(root, `d${d}`, `f${i}.jpg`);
        writeFileSync(file, 'x');
        at(file, 10);
      }
      writeFileSync(join(sub, 'leaf.mp3'), 'leaf');
      at(join(sub, 'leaf.mp3'), 10);
      dirs.push(`d${d}`, `d${d}/in`);
    }
    const stamp = () => {
      for (const d of dirs) at(join(root, d), 20);
    };
    stamp();
    const f = await fixture(root);
    const random = seeded(99);
    try {
      // More than the rows after which the writer thread starts (4,000).
      await f.scan();
      for (let round = 0; round < 4; round++) {
        for (let k = 0; k < 6; k++) {
          const d = dirs[Math.floor(random() * dirs.length)]!;
          const file = join(root, d, `m${Math.floor(random() * 3)}.png`);
          if (random() < 0.3) rmSync(file, { force: true });
          else {
            writeFileSync(file, `${round}${k}`.repeat(1 + Math.floor(random() * 3)));
            at(file, 10);
          }
        }
        stamp();
        const before = f.trusted();
        await f.scan({ batchEntries: 40 });
        expect(f.trusted() - before).toBeGreaterThan(20);
        expect(await f.rows(), `round ${round}`).toEqual(await fresh(root));
      }
    } finally {
      await f.close();
    }
  });

  it('a directory streamed in pages between two whole listings of it keeps no stale digest', async () => {
    const root = tree();
    for (let i = 0; i < 40; i++) {
      writeFileSync(join(root, 'c', `pad-${i}.txt`), 'p');
      at(join(root, 'c', `pad-${i}.txt`), 10);
    }
    at(join(root, 'c'), 20);
    const database = await createDatabase('sqlite');
    const open = (env: NodeJS.ProcessEnv) =>
      App.open({ database: database.url, tenant: 'default', env });
    const rows = async (app: App) => {
      const storage = await app.ensureStorage(parseStorageSpec(root, {}));
      const out: string[] = [];
      const scope = { tenantId: storage.tenantId, storageId: storage.id };
      for await (const e of app.index.entries.list(scope, '/', { recursive: true })) {
        out.push(`${e.path}|${e.isDir ? 'd' : 'f'}|${e.size}|${e.mtime}|${e.mediaKind}`);
      }
      return out;
    };
    let digestOfC: string | null = null;
    const scanWith = async (env: NodeJS.ProcessEnv) => {
      const app = await open(env);
      try {
        const storage = await app.ensureStorage(parseStorageSpec(root, {}));
        expect(await app.scan(storage)).toMatchObject({ status: 'succeeded' });
        const c = await sql<{
          d: string | null;
        }>`SELECT listing_digest AS d FROM entries WHERE path = '/c'`.execute(app.index.db);
        digestOfC = c.rows[0]?.d ?? null;
        return await rows(app);
      } finally {
        await app.close();
      }
    };
    try {
      // Whole: `/c`'s digest stored.
      await scanWith({});
      expect(digestOfC).not.toBeNull();
      // Streamed in pages (`/c` is past 64 bytes of listing): `/c/four` goes.
      rmSync(join(root, 'c/four'));
      at(join(root, 'c'), 20);
      const paged = await scanWith({ TRAWL_LOCAL_STREAM_DIR_BYTES: '64' });
      expect(paged.some((r) => r.startsWith('/c/four|'))).toBe(false);
      // Paged: no digest of its own, and the page's sweep forgot the first listing's (a
      // token: a value no read has seen, compared in full as null).
      expect(digestOfC).toMatch(/^~[0-9A-F]{16}$/);
      // Whole again, `/c/four` back as it was: the first listing's digest, not its rows.
      writeFileSync(join(root, 'c/four'), '4444');
      at(join(root, 'c/four'), 10);
      at(join(root, 'c'), 20);
      expect(await scanWith({})).toEqual(await fresh(root));
    } finally {
      await database.drop();
    }
  });

  it("follows the storage's followSymlinks changed between scans", async () => {
    const root = tree();
    symlinkSync('three.png', join(root, 'c', 'link.png'));
    at(join(root, 'c'), 20);
    const database = await createDatabase('sqlite');
    const scanWith = async (follow: boolean) => {
      const app = await App.open({ database: database.url, tenant: 'default' });
      try {
        const storage = await app.ensureStorage(parseStorageSpec(root, { followSymlinks: follow }));
        expect(await app.scan(storage)).toMatchObject({ status: 'succeeded' });
        const out: string[] = [];
        const scope = { tenantId: storage.tenantId, storageId: storage.id };
        for await (const e of app.index.entries.list(scope, '/', { recursive: true }))
          out.push(e.path);
        return out;
      } finally {
        await app.close();
      }
    };
    try {
      expect(await scanWith(false)).not.toContain('/c/link.png');
      expect(await scanWith(true)).toContain('/c/link.png');
      expect(await scanWith(false)).not.toContain('/c/link.png');
    } finally {
      await database.drop();
    }
  });

  it("follows the storage's own exclude list changed between scans", async () => {
    const root = tree();
    writeFileSync(join(root, 'c', 'x.tmp'), 't');
    at(join(root, 'c', 'x.tmp'), 10);
    at(join(root, 'c'), 20);
    const database = await createDatabase('sqlite');
    const scanWith = async (extra: Record<string, unknown>) => {
      const app = await App.open({ database: database.url, tenant: 'default' });
      try {
        const storage = await app.ensureStorage(parseStorageSpec(root, extra));
        expect(await app.scan(storage)).toMatchObject({ status: 'succeeded' });
        const out: string[] = [];
        const scope = { tenantId: storage.tenantId, storageId: storage.id };
        for await (const e of app.index.entries.list(scope, '/', { recursive: true }))
          out.push(e.path);
        return out;
      } finally {
        await app.close();
      }
    };
    try {
      expect(await scanWith({})).toContain('/c/x.tmp');
      expect(await scanWith({ exclude: ['*.tmp'] })).not.toContain('/c/x.tmp');
      expect(await scanWith({ exclude: ['/a/'] })).toContain('/c/x.tmp');
      // (An empty list given to ensureStorage keeps the stored one: another pattern instead.)
      expect(await scanWith({ exclude: ['*.log'] })).toEqual(
        expect.arrayContaining(['/a/one.jpg', '/a/b/deep.txt', '/c/x.tmp']),
      );
    } finally {
      await database.drop();
    }
  });

  const options: [string, ScanOptions][] = [
    ['default', {}],
    ['one-entry batches', { batchEntries: 1 }],
    ['roots /a', { roots: ['/a'] }],
    ['roots /a/b and /c', { roots: ['/a/b', '/c'] }],
    ['maxDepth 1', { maxDepth: 1 }],
    ['maxDepth 2', { maxDepth: 2 }],
    ['dry run', { dryRun: true }],
    ['exclude *.tmp', { exclude: ['*.tmp'] }],
    ['storage exclude /a/b', { storageExclude: ['/a/b'] }],
    ['markers off', { markers: false }],
    ['roots /a, depth 1', { roots: ['/a'], maxDepth: 1 }],
  ];

  /** Every directory below `root` (relative paths), parents first. */
  function dirsOf(root: string, rel = ''): string[] {
    const out: string[] = [];
    for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
      if (e.isDirectory() && !e.isSymbolicLink()) {
        const r = rel === '' ? e.name : `${rel}/${e.name}`;
        out.push(r, ...dirsOf(root, r));
      }
    }
    return out;
  }

  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`seed ${seed}: scans with any options between mutations leave what a default rescan makes right`, async () => {
      const random = seeded(seed);
      const pick = <X>(xs: readonly X[]): X => xs[Math.floor(random() * xs.length)]!;
      const root = tree();
      const f = await fixture(root);
      try {
        // The first scan too may be any (a sub-path's leaves orphans).
        await f.scan(pick(options)[1]);
        for (let round = 0; round < 14; round++) {
          // A mutation that keeps every directory's mtime (a change within its second).
          const d = pick(['', ...dirsOf(root)]);
          const name = pick([
            'x.tmp',
            'y.jpg',
            'z',
            '.nomedia',
            '.trawlignore',
            'w.mp3',
            'sub',
            'v.ts',
          ]);
          const path = join(root, d, name);
          const op = pick(['write', 'grow', 'remove', 'mkdir', 'symlink', 'write']);
          rmSync(path, { force: true, recursive: true });
          if (op === 'mkdir') mkdirSync(path);
          else if (op === 'symlink') symlinkSync('.', path);
          else if (op !== 'remove') {
            writeFileSync(
              path,
              op === 'grow' ? `${name}${round}` : name === '.trawlignore' ? '*.jpg\n' : '',
            );
          }
          if (op !== 'remove' && op !== 'symlink') at(path, 10 + round);
          for (const x of ['', ...dirsOf(root)]) at(join(root, x), 20);
          const done: string[] = [];
          for (let s = 0; s < 2; s++) {
            const [what, o] = pick(options);
            done.push(what);
            await f.scan(o);
          }
          await f.scan();
          expect(
            await f.rows(),
            `seed ${seed}, round ${round}: ${op} ${d}/${name}, then ${done.join(', ')}`,
          ).toEqual(await fresh(root));
        }
      } finally {
        await f.close();
      }
    });
  }
});
