/**
 * A packed listing (a local tree walk's) read in place by the scan: every function that
 * reads it without making entries must say what its entry-based twin says of the same
 * listing decoded.
 */
import { describe, expect, it } from 'vitest';
import { diffFresh, diffWhole, emptyDiff } from '../src/scan/diff.js';
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
});
