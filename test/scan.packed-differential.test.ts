/**
 * The packed listing path (a local tree walk's listings read in place: checkPacked,
 * diffFresh, diffUnchanged, the promise-free send) against the entry path, on seeded random
 * trees with hostile names, marker files, excludes, symlinks and sizes, through rounds of
 * random mutations: after every scan both indexes hold the same rows and both scans report
 * the same counts and change events.
 *
 * The entry path is the same local walk with every listing decoded before the scan sees it
 * (LocalClient.listTree wrapped: a plain `{ dir, entries }` is no PackedListing), so both
 * scans read the same disk through the same listing threads and differ only in the path.
 *
 * The packed path is also the listing digests' (listing-digest.ts, migration 021): its
 * rescans skip the rows of every directory whose digest is stored, while the entry path has
 * no digest and compares every row. So each round also compares a scan that trusted digests
 * stored through earlier rounds of mutations with one that compared everything; the
 * unchanged rescans check that digests were really trusted.
 */
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalClient } from '../src/storage/backends/local.js';
import { PackedListing } from '../src/storage/packed.js';
import type { TreeListing } from '../src/storage/types.js';
import type { ChangeBatch } from '../src/scan/result.js';
import { App } from '../src/app.js';
import type { Dialect } from '../src/db/dialect.js';
import type { IndexedEntry } from '../src/db/entries.js';
import type { ScanOptions } from '../src/scan/engine.js';
import type { RecordedScanResult } from '../src/scan/runner.js';
import { parseStorageSpec } from '../src/storage/url.js';
import { createDatabase, DIALECTS, skipDialect } from './support/databases.js';
import { tempDir } from './support/harness.js';
import { onDigestRead } from './support/digest-reads.js';
import { seeded } from './support/mutations.js';

interface Fixture {
  scan(options: ScanOptions): Promise<RecordedScanResult>;
  /** Directories whose rows a scan did not read since the last call: their digest matched. */
  trusted(): number;
  indexed(): Promise<IndexedEntry[]>;
  close(): Promise<void>;
}

/** A local storage at `root` in a database of its own of `dialect`. */
async function fixture(dialect: Dialect, root: string): Promise<Fixture> {
  const database = await createDatabase(dialect);
  const app = await App.open({ database: database.url, tenant: 'default' });
  const storage = await app.ensureStorage(parseStorageSpec(root, {}));
  const scope = { tenantId: storage.tenantId, storageId: storage.id };
  let trusted = 0;
  onDigestRead(app.index.entries, (_, answer) => (trusted += answer.same.size));
  return {
    scan: (options) => app.scan(storage, options),
    trusted() {
      const n = trusted;
      trusted = 0;
      return n;
    },
    async indexed() {
      const out: IndexedEntry[] = [];
      for await (const e of app.index.entries.list(scope, '/', { recursive: true })) out.push(e);
      return out;
    },
    async close() {
      await app.close();
      await database.drop();
    },
  };
}

/** Names that each stress one thing: case, extensions, order (surrogates vs U+E000), length. */
const NAMES = [
  'a.jpg',
  'B.JPG',
  'c.ts',
  'd.d.ts',
  'e.mts',
  'song.flac',
  'KELVIN.\u212Aa',
  '\u00e9t\u00e9.webm',
  '.hidden',
  'name.',
  'no-ext',
  'sp ace.png',
  'new\nline.gif',
  'back\\slash.mp3',
  '\u{1f600}.mkv',
  '\uE000.png',
  '\uFFFD.jpg',
  'x'.repeat(251) + '.mp4',
  '\u00e9'.repeat(125) + '.mp3',
  'clip.MP4',
  'z.tmp',
  'skipme',
  'ex',
];
/** Marker files: rare, so most directories keep inert rules (the packed path's case). */
const MARKERS = ['.nomedia', '.ignore', '.trawlignore'];
const MARKER_TEXT: Record<string, string[]> = {
  '.nomedia': [''],
  '.ignore': ['skipme\n', '*.gif\n', ''],
  // The last is past MARKER_MAX_BYTES: unreadable, nothing under its directory is used.
  '.trawlignore': ['*.png\n', '!keep.png\nsub*/\n', '', '#'.repeat(70_000)],
};

/** A decoded copy of each packed listing: what the scan saw before listings stayed packed. */
function unpacked(listing: TreeListing): TreeListing {
  if (!(listing instanceof PackedListing)) return listing;
  return { dir: listing.dir, entries: listing.entries };
}

class Tree {
  readonly #random: () => number;
  #clock = 1_600_000_000;
  constructor(
    readonly root: string,
    seed: number,
  ) {
    this.#random = seeded(seed);
  }
  #pick<T>(of: readonly T[]): T {
    return of[Math.floor(this.#random() * of.length)]!;
  }
  #name(): string {
    return this.#random() < 0.04 ? this.#pick(MARKERS) : this.#pick(NAMES);
  }
  #time(path: string): void {
    // Distinct whole seconds: both scans read the same mtimes, and a touch is a change.
    this.#clock += 1 + Math.floor(this.#random() * 1000);
    utimesSync(path, this.#clock, this.#clock);
  }
  #file(path: string, name: string): void {
    const texts = MARKER_TEXT[name];
    const text = texts ? this.#pick(texts) : 'x'.repeat(this.#pick([0, 1, 7, 100, 4096, 70_000]));
    writeFileSync(path, text);
    this.#time(path);
  }
  /** Every directory and file below the root (relative paths, the root is ''). */
  #walk(): { dirs: string[]; files: string[] } {
    const dirs: string[] = [''];
    const files: string[] = [];
    for (let i = 0; i < dirs.length; i++) {
      const base = join(this.root, dirs[i]!);
      for (const d of readdirSync(base, { withFileTypes: true })) {
        const rel = dirs[i] === '' ? d.name : `${dirs[i]}/${d.name}`;
        if (d.isDirectory()) dirs.push(rel);
        else files.push(rel);
      }
    }
    return { dirs, files };
  }
  fill(dirs: number, files: number, crowd = 0): void {
    const made = [''];
    if (crowd > 0) {
      // A directory listed in pieces of 1,000 (TRAWL_LOCAL_STREAM_DIR_BYTES), kept throughout.
      mkdirSync(join(this.root, 'crowd'));
      for (let i = 0; i < crowd; i++) {
        const name = `member-with-a-long-name-${i}.${this.#pick(['jpg', 'ts', 'txt', 'mp3'])}`;
        this.#file(join(this.root, 'crowd', name), name);
      }
      made.push('crowd');
    }
    for (let i = 0; i < dirs; i++) {
      const parent = this.#pick(made);
      const name = this.#pick(['sub' + i, 'ex', 'skipme', '\u{1f600}' + i, 'd.jpg', '.nomedia']);
      const rel = parent === '' ? name : `${parent}/${name}`;
      const path = join(this.root, rel);
      if (existsSync(path)) continue;
      mkdirSync(path);
      made.push(rel);
    }
    for (let i = 0; i < files; i++) {
      const parent = this.#pick(made);
      const name = this.#name();
      const path = join(this.root, parent, name);
      // No marker at the root from the start: a `.nomedia` there would empty the index.
      if (existsSync(path) || (parent === '' && MARKERS.includes(name))) continue;
      this.#file(path, name);
    }
    // A symlink and a name that is not UTF-8: skipped, and invalid, on both paths.
    symlinkSync('a.jpg', join(this.root, this.#pick(made), 'link.jpg'));
    const bad = Buffer.concat([
      Buffer.from(join(this.root, this.#pick(made)) + '/bad'),
      Buffer.from([0xff, 0x2e, 0x6a]),
    ]);
    writeFileSync(bad, 'x');
    for (const rel of made) this.#time(join(this.root, rel));
  }
  mutate(steps: number): void {
    for (let s = 0; s < steps; s++) {
      const { dirs, files } = this.#walk();
      const op = this.#pick(['add', 'rm', 'rename', 'resize', 'touch', 'swap', 'mkdir', 'rmdir']);
      const file = files.length > 0 ? this.#pick(files) : undefined;
      const dir = this.#pick(dirs);
      try {
        if (op === 'add') {
          const name = this.#name();
          const path = join(this.root, dir, name);
          if (!existsSync(path)) this.#file(path, name);
        } else if (op === 'rm' && file) rmSync(join(this.root, file), { force: true });
        else if (op === 'rename' && file) {
          const to = join(this.root, this.#pick(dirs), this.#pick(NAMES));
          if (!existsSync(to)) renameSync(join(this.root, file), to);
        } else if (op === 'resize' && file) {
          appendFileSync(join(this.root, file), 'y'.repeat(1 + Math.floor(this.#random() * 300)));
          this.#time(join(this.root, file));
        } else if (op === 'touch' && file) this.#time(join(this.root, file));
        else if (op === 'swap' && file) {
          // A file becomes a directory of the same name, holding a file.
          const path = join(this.root, file);
          rmSync(path, { force: true });
          mkdirSync(path);
          this.#file(join(path, 'a.jpg'), 'a.jpg');
          this.#time(path);
        } else if (op === 'swap' && dir !== '' && dir !== 'crowd') {
          // A directory becomes a file.
          const path = join(this.root, dir);
          rmSync(path, { recursive: true, force: true });
          this.#file(path, 'x');
        } else if (op === 'mkdir') {
          const path = join(this.root, dir, this.#pick(['n' + s, 'ex', 'skipme', 'c.ts']));
          if (!existsSync(path)) {
            mkdirSync(path);
            this.#time(path);
          }
        } else if (op === 'rmdir' && dir !== '' && dir !== 'crowd') {
          rmSync(join(this.root, dir), { recursive: true, force: true });
        }
      } catch (error) {
        // A path that a non-UTF-8 parent or an earlier step made unusable: skip the step.
        if ((error as NodeJS.ErrnoException).code === undefined) throw error;
      }
    }
  }
}

interface Observed {
  rows: string[];
  counts: Record<string, unknown>;
  changes: { created: string[]; updated: string[]; deleted: string[] };
}

async function observe(
  fixture: Fixture,
  options: ScanOptions,
  packed: boolean,
  dryRun = false,
): Promise<Observed> {
  const before = new Map((await fixture.indexed()).map((e) => [e.id, e.path]));
  const batches: ChangeBatch[] = [];
  const original = LocalClient.prototype.listTree;
  if (!packed) {
    LocalClient.prototype.listTree = async function* (this: LocalClient, ...args) {
      for await (const step of original.apply(this, args)) {
        yield Array.isArray(step) ? step.map(unpacked) : unpacked(step);
      }
    } as typeof original;
  }
  let result;
  try {
    result = await fixture.scan({
      ...options,
      dryRun,
      batchEntries: 37,
      onChanges: (c) => void batches.push(c),
    });
  } finally {
    LocalClient.prototype.listTree = original;
  }
  const indexed = await fixture.indexed();
  const after = new Map(indexed.map((e) => [e.id, e.path]));
  const pathsOf = (ids: number[], from: Map<number, string>) =>
    ids.map((id) => from.get(id) ?? `#${id}`).sort();
  const { durationMs, errorSample, scanId, ...counts } = result;
  void durationMs;
  void scanId;
  return {
    rows: indexed.map(
      (e) => `${e.path}|${e.isDir ? 'd' : 'f'}|${e.size}|${e.mtime}|${e.mediaKind}|${e.etag}`,
    ),
    counts: { ...counts, errorSample: errorSample.map((e) => JSON.stringify(e)).sort() },
    changes: {
      created: pathsOf(
        batches.flatMap((b) => b.created),
        after,
      ),
      updated: pathsOf(
        batches.flatMap((b) => b.updated),
        after,
      ),
      deleted: pathsOf(
        batches.flatMap((b) => b.deleted),
        before,
      ),
    },
  };
}

for (const dialect of DIALECTS) {
  describe(`the packed listing path against the entry path (${dialect})`, () => {
    let dir: { path: string; cleanup: () => void };
    let skip = false;
    beforeAll(async () => {
      skip = await skipDialect(dialect);
      dir = tempDir('trawl-packed-diff-');
    });
    afterAll(() => dir.cleanup());

    // PostgreSQL's databases cost more to make and scan: fewer seeds.
    // Seeds at or past 100 list their crowded directories in pieces (pages, then the last).
    const seeds = dialect === 'sqlite' ? [1, 2, 3, 4, 5, 6, 101, 102] : [11, 12, 111];
    for (const seed of seeds) {
      it(`seed ${seed}: same rows, counts and change events through rescans and mutations`, async () => {
        if (skip) return;
        const root = join(dir.path, `tree-${seed}`);
        mkdirSync(root);
        const tree = new Tree(root, seed);
        const streamed = seed >= 100;
        tree.fill(14, 120, streamed ? 1100 : 0);
        const env = process.env.TRAWL_LOCAL_STREAM_DIR_BYTES;
        if (streamed) process.env.TRAWL_LOCAL_STREAM_DIR_BYTES = '8192';
        const packed = await fixture(dialect, root);
        const entries = await fixture(dialect, root);
        try {
          const random = seeded(seed * 7919);
          // Digests trusted by the unchanged rescans: a directory holding a `.ts` / `.mts`
          // or a marker has none, so some rounds trust none, but the seed as a whole must.
          let trusted = 0;
          for (let round = 0; round < 8; round++) {
            const exclude = random() < 0.25 ? ['*.tmp', 'ex/'] : [];
            // Now and then a shallow scan: directories past the depth are not listed.
            const depth = random() < 0.2 ? { maxDepth: 1 + Math.floor(random() * 2) } : {};
            const options = { exclude, ...depth };
            // A dry run first (counted from the packed arrays, nothing written), then the scan.
            const dryA = await observe(packed, options, true, true);
            const dryB = await observe(entries, options, false, true);
            expect(dryA, `seed ${seed}, round ${round}, dry run`).toEqual(dryB);
            const a = await observe(packed, options, true);
            const b = await observe(entries, options, false);
            expect(a, `seed ${seed}, round ${round}`).toEqual(b);
            // Sanity: the tree is really indexed (a `.nomedia` may later empty a subtree).
            if (round === 0) expect(a.rows.length).toBeGreaterThan(5);
            if (round % 2 === 1) {
              // An unchanged rescan: no write, and digests trusted (the scan before stored them).
              packed.trusted();
              const again = await observe(packed, options, true);
              expect(again.rows).toEqual(a.rows);
              expect(again.changes).toEqual({ created: [], updated: [], deleted: [] });
              trusted += packed.trusted();
            }
            tree.mutate(25);
          }
          // SQLite keeps digests (021); PostgreSQL none, so its packed path reads every row.
          if (dialect === 'sqlite')
            expect(trusted, `seed ${seed}: digests trusted`).toBeGreaterThan(0);
          else expect(trusted, `seed ${seed}: no digest on PostgreSQL`).toBe(0);
        } finally {
          await packed.close();
          await entries.close();
          if (env === undefined) delete process.env.TRAWL_LOCAL_STREAM_DIR_BYTES;
          else process.env.TRAWL_LOCAL_STREAM_DIR_BYTES = env;
        }
      }, 60_000);
    }

    it('an empty file that became a directory with its mtime is a directory', async () => {
      if (skip) return;
      // PostgreSQL reads a directory's rows in heap order: `x`, then `a` and `data` written
      // by the second scan. The unchanged-directory check matched directory `data` against
      // file row `data` (size 0, same mtime, no media kind) and kept the file row.
      const root = join(dir.path, 'swap');
      mkdirSync(root);
      const t = 1_600_000_000;
      writeFileSync(join(root, 'x'), 'seven b');
      utimesSync(join(root, 'x'), t, t);
      const f = await fixture(dialect, root);
      try {
        await f.scan({});
        mkdirSync(join(root, 'a'));
        utimesSync(join(root, 'a'), t, t);
        writeFileSync(join(root, 'data'), '');
        utimesSync(join(root, 'data'), t + 5, t + 5);
        await f.scan({});
        rmSync(join(root, 'data'));
        mkdirSync(join(root, 'data'));
        writeFileSync(join(root, 'data', 'in.jpg'), 'jpg');
        utimesSync(join(root, 'data'), t + 5, t + 5);
        const result = await f.scan({});
        const rows = (await f.indexed()).map((e) => `${e.path}|${e.isDir ? 'd' : e.size}`);
        expect(rows).toEqual(['/a|d', '/data|d', '/data/in.jpg|3', '/x|7']);
        expect(result).toMatchObject({ deleted: 1, unchanged: 1 });
      } finally {
        await f.close();
      }
    });
  });
}
