/**
 * The tree `npm run bench:search` indexes: N entries (default 1,000,000), the same for a
 * given N on every run. A media library's shapes:
 * - `/Backups/camera-dump`: one big directory (10 % of N) of `DSC012345_word.JPG`;
 * - `/Photos/<year>/<event>/IMG_<serial>_<word>.jpg`, `/Music/<year>/<artist album>/NN title.flac`,
 *   `/Videos/…/<word>.<serial>.mkv` (some over 1 GB), `/Documents/…/<word>-<word>_<serial>.pdf`,
 *   `/Projects/…/<word>_<word>N.ts`: leaf directories of 20–200 entries.
 * Words come from a vocabulary of 3,000 (a word matches a few hundred names; its syllables
 * thousands) with a few accented and non-Latin ones; serials are unique-ish base-36 strings.
 */
import type { EntryWrite } from '../src/db/entries.js';
import { mediaKindOf } from '../src/scan/media.js';
import { baseName, parentOf } from '../src/storage/paths.js';

export const BIG_DIR = '/Backups/camera-dump';
const TOPS = ['/Photos', '/Music', '/Videos', '/Documents', '/Projects'];
const SYLLABLES = ['ka', 'lo', 'mi', 'ne', 'ra', 'to', 'su', 'vi', 'de', 'ba', 'qu', 'zo'];
const EXTRA = ['café', 'naïve', 'Ünïcode', 'smörgås', '日本語', 'музыка', 'ελληνικά', 'Straße'];

/** mulberry32: small, fast, and the same sequence on every machine. */
export function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface BenchTree {
  /** The vocabulary (needles of middling frequency). */
  words: string[];
  /** Batches of new entries, in the order a breadth-first scan would write them. */
  batches(size: number): Iterable<EntryWrite[]>;
}

export function benchTree(total: number): BenchTree {
  const r = random(7);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const words: string[] = [];
  for (let i = 0; i < 3000; i++) {
    let w = '';
    for (let n = 2 + Math.floor(r() * 3); n > 0; n--) w += pick(SYLLABLES);
    words.push(i % 400 === 0 ? `${w}${EXTRA[(i / 400) % EXTRA.length]}` : w);
  }
  const start = Date.UTC(2010, 0, 1);
  const entry = (path: string, isDir: boolean, size: number): EntryWrite => {
    const name = baseName(path);
    return {
      path,
      parent: parentOf(path),
      name,
      isDir,
      size,
      mtime: start + Math.floor(r() * 4e11),
      etag: null,
      mediaKind: isDir ? null : mediaKindOf(name),
      isNew: true,
    };
  };
  function* entries(): Iterable<EntryWrite> {
    let n = 0;
    const dir = (path: string) => (n++, entry(path, true, 0));
    const file = (path: string, size: number) => (n++, entry(path, false, size));
    yield dir('/Backups');
    yield dir(BIG_DIR);
    const big = Math.floor(total / 10);
    for (let i = 0; i < big; i++) {
      yield file(`${BIG_DIR}/DSC${String(i).padStart(6, '0')}_${pick(words)}.JPG`, r() * 2e7);
    }
    for (const t of TOPS) yield dir(t);
    const years = new Set<string>();
    for (let d = 0; n < total; d++) {
      const top = TOPS[d % TOPS.length]!;
      const year = `${top}/${2005 + (Math.floor(d / TOPS.length) % 20)}`;
      if (!years.has(year)) {
        years.add(year);
        yield dir(year);
      }
      const leaf = `${year}/${pick(words)} ${pick(words)} ${d}`;
      yield dir(leaf);
      const count = 20 + Math.floor(r() * 180);
      for (let i = 0; i < count && n < total; i++) {
        const serial = Math.floor(r() * 1e8).toString(36) + i.toString(36);
        if (top === '/Photos') yield file(`${leaf}/IMG_${serial}_${pick(words)}.jpg`, r() * 1e7);
        else if (top === '/Music') {
          const ext = r() < 0.5 ? 'flac' : 'mp3';
          yield file(`${leaf}/${String(i + 1).padStart(2, '0')} ${pick(words)}.${ext}`, r() * 5e7);
        } else if (top === '/Videos') {
          yield file(`${leaf}/${pick(words)}.${serial}.${r() < 0.5 ? 'mkv' : 'mp4'}`, r() * 5e9);
        } else if (top === '/Documents') {
          const ext = pick(['pdf', 'docx', 'txt', 'xlsx']);
          yield file(`${leaf}/${pick(words)}-${pick(words)}_${serial}.${ext}`, r() * 1e6);
        } else yield file(`${leaf}/${pick(words)}_${pick(words)}${i}.ts`, r() * 1e5);
      }
    }
  }
  return {
    words,
    *batches(size: number) {
      let batch: EntryWrite[] = [];
      for (const e of entries()) {
        e.size = Math.floor(e.size);
        batch.push(e);
        if (batch.length === size) {
          yield batch;
          batch = [];
        }
      }
      if (batch.length > 0) yield batch;
    },
  };
}
