/**
 * A packed listing (a local tree walk's) read in place by the scan: every function that
 * reads it without making entries must say what its entry-based twin says of the same
 * listing decoded.
 */
import { describe, expect, it } from 'vitest';
import { diffFresh, diffUnchanged, diffWhole, emptyDiff } from '../src/scan/diff.js';
import type { IndexedEntry } from '../src/db/entries.js';
import { findMarkers, findPackedMarkers } from '../src/scan/exclude/markers.js';
import { checkListing, checkPacked } from '../src/scan/listing.js';
import { hasAmbiguousMedia, hasAmbiguousPacked } from '../src/scan/media-classify.js';
import {
  isAmbiguousMedia,
  isAmbiguousMediaIn,
  mediaKindIn,
  mediaKindOf,
} from '../src/scan/media.js';
import { packedBytes, partBytes } from '../src/scan/parts.js';
import { PackedListing } from '../src/storage/packed.js';
import {
  T_DIR,
  T_FILE,
  T_LOOP,
  T_SPECIAL,
  T_SYMLINK,
  T_UNREADABLE,
} from '../src/storage/backends/local-worker.js';

interface Row {
  name: string;
  type: number;
  size?: number;
}

/**
 * One reply packing several directories as a listing thread does (names joined by `/`),
 * and the listing of the one at `which`.
 */
function packed(dirs: Array<[string, Row[]]>, which: number): PackedListing {
  const rows = dirs.flatMap(([, r]) => r);
  const reply = {
    names: rows.map((r) => r.name).join('/'),
    types: Uint8Array.from(rows.map((r) => r.type)),
    sizes: Float64Array.from(rows.map((r) => r.size ?? 7)),
    mtimes: Float64Array.from(rows.map((_, i) => 1_700_000_000_000 + i)),
  };
  let at = 0;
  let offset = 0;
  for (let k = 0; k < dirs.length; k++) {
    const [dir, own] = dirs[k]!;
    const start = at;
    for (const r of own) at += r.name.length + 1;
    const end = own.length > 0 ? at - 1 : start;
    if (k === which) return new PackedListing(dir, reply, start, end, offset, own.length);
    offset += own.length;
  }
  throw new Error('no such directory');
}

const before: Row[] = [
  { name: 'x.jpg.d', type: T_FILE },
  { name: 'a.mp3', type: T_FILE },
];
const mixed: Row[] = [
  { name: '.nomedia', type: T_FILE, size: 0 },
  { name: '.trawlignore', type: T_DIR },
  { name: 'KELVIN.\u212Aa', type: T_FILE },
  { name: 'a.JPG', type: T_FILE, size: 100 },
  { name: 'b.d.ts', type: T_FILE },
  { name: 'c.ts', type: T_FILE, size: 4096 },
  { name: 'dev', type: T_SPECIAL },
  { name: 'link.png', type: T_SYMLINK },
  { name: 'loop', type: T_LOOP },
  { name: 'no-ext', type: T_FILE },
  { name: 'photos', type: T_DIR },
  { name: 'song.flac', type: T_FILE, size: 1e6 },
  { name: 'sub.srt', type: T_FILE },
  { name: 'unread.mkv', type: T_UNREADABLE },
  { name: 'z.', type: T_FILE },
  { name: '\u00e9t\u00e9.webm', type: T_FILE },
];
const after: Row[] = [{ name: 'm.mts', type: T_FILE }];

describe(PackedListing.name, () => {
  const listing = () =>
    packed(
      [
        ['/a', before],
        ['/a/b', mixed],
        ['/c', after],
      ],
      1,
    );

  it('decodes to the entries a listing thread sent, paths under its directory', () => {
    const entries = listing().entries;
    expect(entries.map((e) => e.path)).toEqual(mixed.map((r) => `/a/b/${r.name}`));
    expect(entries.find((e) => e.name === 'photos')).toMatchObject({ isDir: true });
    expect(entries.find((e) => e.name === 'loop')).toMatchObject({ skip: 'loop' });
    expect(packed([['/', before]], 0).entries[0]!.path).toBe('/x.jpg.d');
  });

  it('is checked, weighed, classified and diffed in place as its entries are', () => {
    const p = listing();
    const entries = packed(
      [
        ['/a', before],
        ['/a/b', mixed],
        ['/c', after],
      ],
      1,
    ).entries;
    expect(hasAmbiguousPacked(p)).toBe(hasAmbiguousMedia(entries));
    expect(hasAmbiguousPacked(p)).toBe(true);
    expect(
      hasAmbiguousPacked(
        packed(
          [
            ['/c', after],
            ['/a', before],
          ],
          1,
        ),
      ),
    ).toBe(false);
    expect(
      hasAmbiguousPacked(
        packed(
          [
            ['/a', before],
            ['/c', after],
          ],
          1,
        ),
      ),
    ).toBe(true);
    expect(findPackedMarkers(p)).toEqual(findMarkers(entries));
    expect([...findPackedMarkers(p)!.keys()]).toEqual(['.nomedia']);
    expect(packedBytes(p)).toBe(partBytes(entries));
    for (const countOnly of [true, false]) {
      const fresh = emptyDiff();
      diffFresh(p, fresh, countOnly);
      const whole = emptyDiff();
      diffWhole('/a/b', entries, [], whole, undefined, countOnly);
      expect(fresh).toEqual(whole);
    }
    expect(p.decoded).toBe(false);
  });

  it('knows media kinds by the extension of a name inside joined names', () => {
    const all = ['x.jpg', 'a', '.png', 'b.c.MP4', 'e.\u212Aa', 'f.d.ts', 'g.mts', 'h.'].join('/');
    let at = 0;
    for (const name of all.split('/')) {
      const end = at + name.length;
      expect(mediaKindIn(all, at, end)).toBe(mediaKindOf(name));
      expect(isAmbiguousMediaIn(all, at, end)).toBe(isAmbiguousMedia(name));
      at = end + 1;
    }
  });

  it('refuses what checkListing refuses: a name twice, `..`, an empty name', () => {
    const twice = packed(
      [
        [
          '/d',
          [
            { name: 'b', type: 0 },
            { name: 'a', type: 0 },
            { name: 'b', type: 0 },
          ],
        ],
      ],
      0,
    );
    expect(() => checkPacked(twice)).toThrow(/names "b" twice/);
    const dots = packed([['/d', [{ name: '..', type: T_DIR }]]], 0);
    expect(() => checkPacked(dots)).toThrow(/outside it/);
    const empty = packed(
      [
        [
          '/d',
          [
            { name: 'a', type: 0 },
            { name: '', type: 0 },
          ],
        ],
      ],
      0,
    );
    expect(() => checkPacked(empty)).toThrow(/outside it/);
    const nul = packed(
      [
        [
          '/d',
          [
            { name: 'a', type: 0 },
            { name: 'b\0', type: 0 },
          ],
        ],
        ['/e', []],
      ],
      0,
    );
    expect(() => checkPacked(nul)).toThrow(/outside it/);
    const afterNul = packed(
      [
        ['/d', [{ name: 'b\0', type: 0 }]],
        ['/e', [{ name: 'a', type: 0 }]],
      ],
      1,
    );
    expect(() => checkPacked(afterNul)).not.toThrow();
    const unsorted = packed(
      [
        [
          '/d',
          [
            { name: 'b', type: 0 },
            { name: 'a', type: 0 },
          ],
        ],
      ],
      0,
    );
    expect(() => checkPacked(unsorted)).not.toThrow();
    expect(() => checkListing('/d', unsorted.entries)).not.toThrow();
    expect(() => checkPacked(listing())).not.toThrow();
  });

  it('counts an unchanged directory against its rows in place, and leaves anything else to diffWhole', () => {
    const own: Row[] = [
      { name: 'a.jpg', type: T_FILE, size: 10 },
      { name: 'b', type: T_DIR },
      { name: 'c.txt', type: T_FILE, size: 20 },
      { name: 'd', type: T_DIR },
    ];
    const p = packed(
      [
        ['/x', before],
        ['/x/y', own],
      ],
      1,
    );
    const entries = packed(
      [
        ['/x', before],
        ['/x/y', own],
      ],
      1,
    ).entries;
    // As SQLite reads them: files, then directories, each by name.
    const rows = (): IndexedEntry[] =>
      [entries[0]!, entries[2]!, entries[1]!, entries[3]!].map((e, id) => ({
        id,
        path: e.path,
        isDir: e.isDir,
        size: e.size,
        mtime: e.mtime,
        etag: null,
        mediaKind: e.isDir ? null : mediaKindOf(e.name),
      }));
    const same = emptyDiff();
    expect(diffUnchanged(p, rows(), same)).toBe(true);
    const whole = emptyDiff();
    diffWhole('/x/y', entries, rows(), whole, undefined, false);
    expect(same).toEqual(whole);
    expect(same.unchangedFiles).toBe(2);
    const changed: Array<(r: IndexedEntry[]) => IndexedEntry[]> = [
      (r) => r.map((x, i) => (i === 1 ? { ...x, size: 21 } : x)),
      (r) => r.map((x, i) => (i === 0 ? { ...x, mediaKind: null } : x)),
      (r) => r.map((x, i) => (i === 3 ? { ...x, path: '/x/y/e' } : x)),
      (r) => r.map((x, i) => (i === 2 ? { ...x, path: '/x/z/b' } : x)),
      (r) => r.slice(0, 3),
      (r) => [r[1]!, r[0]!, r[2]!, r[3]!],
    ];
    for (const change of changed) {
      const none = emptyDiff();
      expect(diffUnchanged(p, change(rows()), none)).toBe(false);
      expect(none).toEqual(emptyDiff());
    }
    const linked = packed([['/x/y', [...own.slice(0, 3), { name: 'd', type: T_SYMLINK }]]], 0);
    expect(diffUnchanged(linked, rows(), emptyDiff())).toBe(false);
    expect(p.decoded).toBe(false);
  });

  it('sees a file become a directory when PostgreSQL returns rows with no order', () => {
    // PostgreSQL's children read has no ORDER BY: heap order, a file row after a directory's.
    // An empty file `data` replaced by a directory with its mtime (an archive extracted with
    // fixed times) matches the directory's size 0, mtime and null media kind: only its type
    // differs, and the index must not keep `data` as a file with children under it.
    const own: Row[] = [
      { name: 'a', type: T_DIR, size: 0 },
      { name: 'data', type: T_DIR, size: 0 },
      { name: 'x', type: T_FILE, size: 7 },
    ];
    const p = packed([['/p', own]], 0);
    const t = 1_700_000_000_000;
    const row = (path: string, isDir: boolean, size: number, mtime: number): IndexedEntry => ({
      id: 0,
      path,
      isDir,
      size,
      mtime,
      etag: null,
      mediaKind: null,
    });
    const rows = [
      row('/p/x', false, 7, t + 2),
      row('/p/a', true, 0, t),
      row('/p/data', false, 0, t + 1),
    ];
    const none = emptyDiff();
    expect(diffUnchanged(p, rows, none)).toBe(false);
    expect(none).toEqual(emptyDiff());
    const whole = emptyDiff();
    diffWhole('/p', p.entries, rows, whole, undefined, false);
    expect(whole.removals).toEqual([{ path: '/p/data', isDir: false }]);
    expect(whole.writes.map((w) => [w.path, w.isDir])).toEqual([['/p/data', true]]);
  });
});
