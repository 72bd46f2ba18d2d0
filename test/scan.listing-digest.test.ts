/**
 * Listing digests (migration 021): a rescan that lists a directory whose digest is the one
 * stored on its row reads none of its rows, and the index still ends equal to the disk
 * whatever changed, whoever wrote, whatever the settings — checked against an index built
 * from scratch of the same tree. SQLite only: PostgreSQL keeps no digests (021's comment says
 * why), and its rescan reads every directory — checked last.
 */
import { mkdirSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { App } from '../src/app.js';
import type { Dialect } from '../src/db/dialect.js';
import type { EntryRepository, EntryScope } from '../src/db/entries.js';
import type { ScanOptions } from '../src/scan/engine.js';
import type { RecordedScanResult } from '../src/scan/runner.js';
import { digestSalt, listingDigest } from '../src/scan/listing-digest.js';
import {
  T_DIR,
  T_FILE,
  T_LOOP,
  T_SYMLINK,
  T_UNREADABLE,
} from '../src/storage/backends/local-worker.js';
import { PackedListing } from '../src/storage/packed.js';
import { parseStorageSpec } from '../src/storage/url.js';
import { createDatabase, rowsWritten, skipDialect } from './support/databases.js';
import { tempDir } from './support/harness.js';
import { onDigestRead } from './support/digest-reads.js';

interface Fixture {
  app: App;
  scope: EntryScope;
  scan(options?: ScanOptions): Promise<RecordedScanResult>;
  /** Every row, as a line a test compares. */
  rows(): Promise<string[]>;
  /** The directories whose rows the scans since the last call read. */
  readDirs(): string[];
  /** Rows the scan wrote. */
  writes(options?: ScanOptions): Promise<number>;
  close(): Promise<void>;
}

async function fixture(dialect: Dialect, root: string): Promise<Fixture> {
  const database = await createDatabase(dialect);
  const app = await App.open({ database: database.url, tenant: 'default' });
  const storage = await app.ensureStorage(parseStorageSpec(root, {}));
  const scope = { tenantId: storage.tenantId, storageId: storage.id };
  // Counts the directories whose rows are read, through either read of the contract.
  const entries = app.index.entries as EntryRepository;
  const read = new Set<string>();
  const childrenOf = entries.childrenOf.bind(entries);
  entries.childrenOf = async (s, dirs) => {
    for (const d of dirs) read.add(d);
    return childrenOf(s, dirs);
  };
  onDigestRead(entries, (dirs, answer) => {
    for (const d of dirs) if (!answer.same.has(d)) read.add(d);
  });
  const scan = (options: ScanOptions = {}) => app.scan(storage, options);
  return {
    app,
    scope,
    scan,
    async rows() {
      const out: string[] = [];
      for await (const e of app.index.entries.list(scope, '/', { recursive: true })) {
        out.push(`${e.path}|${e.isDir ? 'd' : 'f'}|${e.size}|${e.mtime}|${e.mediaKind}`);
      }
      return out;
    },
    readDirs() {
      const dirs = [...read].sort();
      read.clear();
      return dirs;
    },
    writes: (options = {}) => rowsWritten(app.index, () => scan(options)),
    async close() {
      await app.close();
      await database.drop();
    },
  };
}

const T = 1_600_000_000;

/** Sets a path's times to `T + s` seconds (whole seconds: both dialects store them alike). */
function at(path: string, s: number): void {
  utimesSync(path, T + s, T + s);
}

/** `/a` (files, `/a/b` below it), `/c` (files), a file at the root: all times fixed. */
function makeTree(root: string): void {
  mkdirSync(join(root, 'a', 'b'), { recursive: true });
  mkdirSync(join(root, 'c'));
  const files: [string, string][] = [
    ['top.jpg', 'top'],
    ['a/one.jpg', '1'],
    ['a/two.mp3', '22'],
    ['a/x.tmp', 'tmp'],
    ['a/b/deep.txt', 'deep'],
    ['c/three.png', '333'],
    ['c/four', '4444'],
  ];
  for (const [path, text] of files) {
    writeFileSync(join(root, path), text);
    at(join(root, path), 10);
  }
  symlinkSync('one.jpg', join(root, 'a', 'link.jpg'));
  for (const dir of ['a/b', 'a', 'c']) at(join(root, dir), 20);
}

for (const dialect of ['sqlite'] as const) {
  describe(`listing digests (${dialect})`, () => {
    let dir: { path: string; cleanup: () => void };
    let skip = false;
    let n = 0;
    beforeAll(async () => {
      skip = await skipDialect(dialect);
      dir = tempDir('trawl-digest-');
    });
    afterAll(() => dir.cleanup());

    /** A tree of its own, indexed once. */
    async function indexed(): Promise<{ root: string; f: Fixture }> {
      const root = join(dir.path, `t${n++}`);
      mkdirSync(root);
      makeTree(root);
      const f = await fixture(dialect, root);
      await f.scan();
      f.readDirs();
      return { root, f };
    }

    /** The rows a first scan of `root` with `options` makes. */
    async function fresh(root: string, options: ScanOptions = {}): Promise<string[]> {
      const f = await fixture(dialect, root);
      try {
        await f.scan(options);
        return await f.rows();
      } finally {
        await f.close();
      }
    }

    it('writes each row of a first scan once, and each directory once more for its digest: no token', async () => {
      if (skip) return;
      const root = join(dir.path, `t${n++}`);
      mkdirSync(root);
      makeTree(root);
      const f = await fixture(dialect, root);
      try {
        const writes = await f.writes();
        const rows = await f.rows();
        const dirs = rows.filter((r) => r.includes('|d|')).length;
        expect(dirs).toBe(3);
        // The batches that store a directory's digest write its children: no token first.
        expect(writes).toBe(rows.length + dirs);
        const { rows: tokens } = await sql<{
          n: number;
        }>`SELECT count(*) AS n FROM entries WHERE listing_digest LIKE '~%'`.execute(
          f.app.index.db,
        );
        expect(Number(tokens[0]!.n)).toBe(0);
      } finally {
        await f.close();
      }
    });

    it('reads no row of an unchanged directory, writes none, and counts as a full compare', async () => {
      if (skip) return;
      const { f } = await indexed();
      try {
        const first = await f.rows();
        const result = await f.scan();
        // Only the root (which has no row, so no digest) is read.
        expect(f.readDirs()).toEqual(['/']);
        expect(result).toMatchObject({
          dirs: 3,
          files: 7,
          bytes: 3 + 1 + 2 + 3 + 4 + 3 + 4,
          mediaFiles: 4,
          skipped: 1,
          unchanged: 7,
          created: 0,
          updated: 0,
          deleted: 0,
        });
        expect(await f.writes()).toBe(0);
        expect(await f.rows()).toEqual(first);
      } finally {
        await f.close();
      }
    });

    const changes: [string, (root: string) => void][] = [
      [
        'a file grown',
        (r) => (writeFileSync(join(r, 'a/one.jpg'), '1111'), at(join(r, 'a/one.jpg'), 10)),
      ],
      ['a file touched', (r) => at(join(r, 'a/two.mp3'), 11)],
      [
        'a file added',
        (r) => (writeFileSync(join(r, 'a/b/new.gif'), 'n'), at(join(r, 'a/b/new.gif'), 10)),
      ],
      ['a file removed', (r) => rmSync(join(r, 'c/four'))],
      ['a file renamed', (r) => renameSync(join(r, 'c/three.png'), join(r, 'c/three.jpg'))],
      [
        'a file replaced by a directory of its name',
        (r) => {
          rmSync(join(r, 'a/one.jpg'));
          mkdirSync(join(r, 'a/one.jpg'));
          at(join(r, 'a/one.jpg'), 10);
        },
      ],
      [
        'a directory replaced by a file of its name',
        (r) => {
          rmSync(join(r, 'a/b'), { recursive: true });
          writeFileSync(join(r, 'a/b'), '');
          at(join(r, 'a/b'), 20);
        },
      ],
    ];
    for (const [what, change] of changes) {
      it(`finds ${what} below stored digests, then reads and writes nothing`, async () => {
        if (skip) return;
        const { root, f } = await indexed();
        try {
          change(root);
          // The directory's own mtime may stay (a change within the same second): kept here.
          for (const d of ['a', 'c']) at(join(root, d), 20);
          await f.scan();
          expect(await f.rows()).toEqual(await fresh(root));
          f.readDirs();
          expect(await f.writes()).toBe(0);
          expect(f.readDirs()).toEqual(['/']);
        } finally {
          await f.close();
        }
      });
    }

    it('follows exclude rules changed between scans', async () => {
      if (skip) return;
      const { root, f } = await indexed();
      try {
        const excluding = { exclude: ['*.tmp'] };
        await f.scan(excluding);
        expect(await f.rows()).toEqual(await fresh(root, excluding));
        expect((await f.rows()).some((r) => r.startsWith('/a/x.tmp'))).toBe(false);
        await f.scan();
        expect(await f.rows()).toEqual(await fresh(root));
        expect((await f.rows()).some((r) => r.startsWith('/a/x.tmp'))).toBe(true);
      } finally {
        await f.close();
      }
    });

    it('compares a directory in full after another writer changed a row under it', async () => {
      if (skip) return;
      const { root, f } = await indexed();
      try {
        // What a watch, or any caller of the repository, may write: here a wrong size, and
        // a row the disk does not have.
        await f.app.index.entries.apply(
          f.scope,
          [],
          [
            {
              path: '/a/one.jpg',
              parent: '/a',
              name: 'one.jpg',
              isDir: false,
              size: 999,
              mtime: (T + 10) * 1000,
              etag: null,
              mediaKind: 'image',
              isNew: false,
            },
            {
              path: '/c/ghost.jpg',
              parent: '/c',
              name: 'ghost.jpg',
              isDir: false,
              size: 1,
              mtime: (T + 10) * 1000,
              etag: null,
              mediaKind: 'image',
              isNew: true,
            },
          ],
        );
        const result = await f.scan();
        expect(f.readDirs()).toEqual(['/', '/a', '/c']);
        expect(result).toMatchObject({ updated: 1, deleted: 1 });
        expect(await f.rows()).toEqual(await fresh(root));
        // And a removal by another writer.
        await f.app.index.entries.apply(f.scope, [{ path: '/a/b/deep.txt', isDir: false }], []);
        await f.scan();
        expect(f.readDirs()).toEqual(['/', '/a/b']);
        expect(await f.rows()).toEqual(await fresh(root));
      } finally {
        await f.close();
      }
    });

    it('drops the digest of a row whose kind another writer changed in place', async () => {
      if (skip) return;
      const { root, f } = await indexed();
      try {
        const digestOf = async (path: string) =>
          (
            await sql<{
              d: string | null;
            }>`SELECT listing_digest AS d FROM entries WHERE path = ${path}`.execute(f.app.index.db)
          ).rows[0]?.d ?? null;
        expect(await digestOf('/a/b')).not.toBeNull();
        const write = (isDir: boolean) => ({
          path: '/a/b',
          parent: '/a',
          name: 'b',
          isDir,
          size: 0,
          mtime: (T + 20) * 1000,
          etag: null,
          mediaKind: null,
          isNew: false,
        });
        // Updated in place (not removed and written anew): a file, then a directory again.
        // Each change of kind writes a token (compared in full, as null), a new one each time:
        // a scan that read `/a/b` before both must not find its value back.
        await f.app.index.entries.apply(f.scope, [], [write(false)]);
        const asFile = await digestOf('/a/b');
        expect(asFile).toMatch(/^~[0-9A-F]{16}$/);
        await f.app.index.entries.apply(f.scope, [], [write(true)]);
        const token = await digestOf('/a/b');
        expect(token).toMatch(/^~[0-9A-F]{16}$/);
        expect(token).not.toBe(asFile);
        await f.scan();
        expect(await f.rows()).toEqual(await fresh(root));
        expect(await digestOf('/a/b')).toMatch(/^[A-Za-z0-9_-]{22}$/);
      } finally {
        await f.close();
      }
    });

    it('keeps digests right through a scan of a sub-path', async () => {
      if (skip) return;
      const { root, f } = await indexed();
      try {
        writeFileSync(join(root, 'a/b/deep.txt'), 'deeper');
        at(join(root, 'a/b/deep.txt'), 10);
        at(join(root, 'a/b'), 20);
        rmSync(join(root, 'c/four'));
        at(join(root, 'c'), 20);
        // `/a` rooted: `/a` trusted (its listing is the same), `/a/b` compared and its
        // digest stored; `/c` not listed, its digest kept, and it no longer matches.
        await f.scan({ roots: ['/a'] });
        expect(f.readDirs()).toEqual(['/a/b']);
        await f.scan();
        expect(f.readDirs()).toEqual(['/', '/c']);
        expect(await f.rows()).toEqual(await fresh(root));
        expect(await f.writes()).toBe(0);
      } finally {
        await f.close();
      }
    });

    it('carries an index without digests (before 021): the first rescan compares and stores them', async () => {
      if (skip) return;
      const { root, f } = await indexed();
      try {
        await sql`UPDATE entries SET listing_digest = NULL`.execute(f.app.index.db);
        // The three directories' digests, and nothing else.
        expect(await f.writes()).toBe(3);
        expect(f.readDirs()).toEqual(['/', '/a', '/a/b', '/c']);
        expect(await f.rows()).toEqual(await fresh(root));
        expect(await f.writes()).toBe(0);
        expect(f.readDirs()).toEqual(['/']);
      } finally {
        await f.close();
      }
    });

    it('stores no digest in a dry run, and a dry run of an unchanged tree reads only the root', async () => {
      if (skip) return;
      const { root, f } = await indexed();
      try {
        const dry = await f.scan({ dryRun: true });
        expect(f.readDirs()).toEqual(['/']);
        expect(dry).toMatchObject({ files: 7, unchanged: 7, created: 0, updated: 0 });
        writeFileSync(join(root, 'c/four'), 'changed!');
        at(join(root, 'c/four'), 10);
        at(join(root, 'c'), 20);
        expect(await f.writes({ dryRun: true })).toBe(0);
        expect(f.readDirs()).toEqual(['/', '/c']);
      } finally {
        await f.close();
      }
    });
  });
}

describe('listing digests (postgres: none)', () => {
  let dir: { path: string; cleanup: () => void };
  let skip = false;
  beforeAll(async () => {
    skip = await skipDialect('postgres');
    dir = tempDir('trawl-digest-pg-');
  });
  afterAll(() => dir.cleanup());

  it('reads every directory at each rescan, stores nothing, and still finds a change', async () => {
    if (skip) return;
    const root = join(dir.path, 't');
    mkdirSync(root);
    makeTree(root);
    const f = await fixture('postgres', root);
    try {
      expect(f.app.index.entries.childrenUnlessSame).toBeUndefined();
      await f.scan();
      f.readDirs();
      expect(await f.writes()).toBe(0);
      expect(f.readDirs()).toEqual(['/', '/a', '/a/b', '/c']);
      const columns = await sql<{
        n: number;
      }>`SELECT count(*)::int AS n FROM information_schema.columns
        WHERE table_name = 'entries' AND column_name = 'listing_digest'
          AND table_schema = current_schema()`.execute(f.app.index.db);
      expect(columns.rows[0]!.n).toBe(0);
      writeFileSync(join(root, 'a/b/deep.txt'), 'deeper');
      at(join(root, 'a/b/deep.txt'), 10);
      await f.scan();
      expect(f.readDirs()).toEqual(['/', '/a', '/a/b', '/c']);
      expect(await f.rows()).toContain('/a/b/deep.txt|f|6|' + (T + 10) * 1000 + '|null');
    } finally {
      await f.close();
    }
  });
});

describe('listingDigest', () => {
  /** A packed listing of `names` (types, sizes, mtimes as given), as a listing thread packs it. */
  const listing = (names: string[], types: number[], sizes: number[], mtimes: number[]) => {
    const joined = names.join('/');
    const reply = {
      names: joined,
      types: Uint8Array.from(types),
      sizes: Float64Array.from(sizes),
      mtimes: Float64Array.from(mtimes),
    };
    return new PackedListing('/d', reply, 0, joined.length, 0, names.length);
  };
  const base = () => listing(['a.jpg', 'b'], [T_FILE, T_DIR], [3, 0], [1000, 2000]);
  const salt = digestSalt({});

  it('changes with any name, type, size, mtime or entry, and with the settings', () => {
    const digests = [
      listingDigest(base(), salt),
      listingDigest(listing(['a.jpg', 'c'], [T_FILE, T_DIR], [3, 0], [1000, 2000]), salt),
      listingDigest(listing(['a.jpg', 'b'], [T_FILE, T_FILE], [3, 0], [1000, 2000]), salt),
      listingDigest(listing(['a.jpg', 'b'], [T_FILE, T_DIR], [4, 0], [1000, 2000]), salt),
      listingDigest(listing(['a.jpg', 'b'], [T_FILE, T_DIR], [3, 0], [1001, 2000]), salt),
      listingDigest(listing(['a.jpg'], [T_FILE], [3], [1000]), salt),
      // The same names joined differently: `a.jpg/b` is one name here only by its count.
      listingDigest(listing(['b', 'a.jpg'], [T_DIR, T_FILE], [0, 3], [2000, 1000]), salt),
      listingDigest(base(), digestSalt({ exclude: ['*.tmp'] })),
      listingDigest(base(), digestSalt({ storageExclude: ['*.tmp'] })),
      listingDigest(base(), digestSalt({ markers: false })),
    ];
    expect(new Set(digests).size).toBe(digests.length);
    expect(listingDigest(base(), salt)).toBe(digests[0]);
    // A lone surrogate and U+FFFD are two names (UTF-8 would make them one).
    const lone = listingDigest(listing(['\uD800.jpg'], [T_FILE], [1], [1]), salt);
    const replaced = listingDigest(listing(['\uFFFD.jpg'], [T_FILE], [1], [1]), salt);
    expect(lone).not.toBe(replaced);
  });

  /**
   * The digest as the listing-digests round computed it (one `Hash`, its pieces given in
   * turn): every digest stored since is of these bytes, so the one-call form must give the
   * same, or bump DIGEST_VERSION.
   */
  const reference = (l: PackedListing, salt: string): string => {
    const { names, types, sizes, mtimes } = l.reply;
    const hash = createHash('sha256');
    hash.update(salt);
    hash.update(`\0${l.count}\0`);
    hash.update(names.slice(l.at, l.end), 'utf16le');
    hash.update(new Uint8Array(types.buffer, types.byteOffset + l.offset, l.count));
    hash.update(new Uint8Array(sizes.buffer, sizes.byteOffset + l.offset * 8, l.count * 8));
    hash.update(new Uint8Array(mtimes.buffer, mtimes.byteOffset + l.offset * 8, l.count * 8));
    return hash.digest('base64url').slice(0, 22);
  };

  it('is the digest stored before it: the same bytes, hashed in one call', () => {
    // Two directories in one reply, as a listing thread packs a request: the second starts
    // at an offset into the arrays and the joined names.
    const first = ['a.jpg', 'é', '\uD800', '\uFFFD', 'x'.repeat(255)];
    const second = ['b', 'c.mp4', '日本語.png'];
    const joined = [...first, ...second].join('/');
    const n = first.length + second.length;
    const reply = {
      names: joined,
      types: Uint8Array.from({ length: n }, (_, i) => (i % 3 === 1 ? T_DIR : T_FILE)),
      sizes: Float64Array.from({ length: n }, (_, i) => (i % 3 === 1 ? 0 : 2 ** 40 + i)),
      mtimes: Float64Array.from({ length: n }, (_, i) => 1_600_000_000_123 + i),
    };
    const cut = first.join('/').length;
    const listings = [
      new PackedListing('/d', reply, 0, cut, 0, first.length),
      new PackedListing('/e', reply, cut + 1, joined.length, first.length, second.length),
      new PackedListing('/empty', reply, 0, 0, 0, 0),
      // Past the one-call buffer: hashed in pieces.
      listing(
        Array.from({ length: 3000 }, (_, i) => `name-${i}.jpg`),
        Array.from({ length: 3000 }, () => T_FILE),
        Array.from({ length: 3000 }, (_, i) => i),
        Array.from({ length: 3000 }, (_, i) => 1000 + i),
      ),
    ];
    const salts = [salt, digestSalt({ exclude: ['*.tmp'] })];
    // Salts in turn: the buffer's salt is rewritten, not left over.
    for (let round = 0; round < 2; round++) {
      for (const s of salts) {
        for (const l of listings) expect(listingDigest(l, s)).toBe(reference(l, s));
      }
    }
    // Pinned: `base()`'s digest under DIGEST_VERSION 1 and today's media table, as the
    // listing-digests round's build computed it (a change to either changes it, rightly).
    expect(listingDigest(base(), salt)).toBe('g1XOHLRpejJipG5lbPg1vO');
  });

  it('gives a listing with an unreadable entry or a loop none', () => {
    expect(listingDigest(listing(['a', 'b'], [T_FILE, T_UNREADABLE], [1, 0], [1, 1]), salt)).toBe(
      null,
    );
    expect(listingDigest(listing(['a', 'b'], [T_FILE, T_LOOP], [1, 0], [1, 1]), salt)).toBe(null);
    expect(listingDigest(listing(['a', 'b'], [T_FILE, T_SYMLINK], [1, 0], [1, 1]), salt)).not.toBe(
      null,
    );
  });
});
