import { ProtocolError } from '../storage/errors.js';
import { ROOT } from '../storage/paths.js';
import { nameEnd, type PackedArrays, type PackedListing } from '../storage/packed.js';
import type { Entry } from '../storage/types.js';

const SLASH = 47;

/**
 * Refuses a listing that breaks the storage contract before it reaches the index: an entry
 * outside the listed directory would be written under the wrong parent, and a duplicate name
 * would be counted twice. Either means the backend is broken, so the directory is treated as
 * unlistable (its index entries are kept) rather than reconciled on the strength of it.
 */
export function checkListing(dir: string, entries: readonly Entry[]): void {
  // On the hot path: compares in place instead of building each expected path.
  const prefix = dir === ROOT ? 1 : dir.length + 1;
  // Names in strictly ascending order cannot repeat, so a sorted listing (the local one's,
  // S3's) needs no Set: a Set per directory was ~20 MB of a 200,000-file scan's garbage.
  // The first name out of order starts the Set with the names before it.
  let names: Set<string> | undefined;
  let last: string | undefined;
  let at = 0;
  for (const e of entries) {
    const { path, name } = e;
    if (
      path.length !== prefix + name.length ||
      path.charCodeAt(prefix - 1) !== SLASH ||
      !path.startsWith(dir) ||
      !path.endsWith(name) ||
      name === '' ||
      name === '.' ||
      name === '..' ||
      name.includes('/') ||
      name.includes('\0')
    ) {
      throw new ProtocolError(
        `listing of ${dir} holds an entry outside it: ${JSON.stringify(path)}`,
        { path: dir },
      );
    }
    if (names === undefined) {
      if (last === undefined || last < name) {
        last = name;
        at++;
        continue;
      }
      names = new Set<string>();
      for (let i = 0; i < at; i++) names.add(entries[i]!.name);
    }
    if (names.has(name)) {
      throw new ProtocolError(`listing of ${dir} names ${JSON.stringify(name)} twice`, {
        path: dir,
      });
    }
    names.add(name);
  }
}

/**
 * {@link checkListing} of a packed listing, in place: its paths are its directory's prefix
 * and a name by construction, and names that are not empty, `.`, `..` or with a NUL and come
 * in strictly ascending order (the local listing's, sorted) are all it has to check. Anything
 * else is checked as entries, which says what is wrong.
 */
export function checkPacked(listing: PackedListing): void {
  const all = listing.reply.names;
  let at = listing.at;
  let prev = -1;
  let prevEnd = -1;
  for (let i = 0; i < listing.count; i++) {
    const end = nameEnd(all, at);
    const length = end - at;
    if (
      length === 0 ||
      (length <= 2 &&
        all.charCodeAt(at) === DOT &&
        (length === 1 || all.charCodeAt(at + 1) === DOT)) ||
      (prev >= 0 && compareIn(all, prev, prevEnd, at, end) >= 0)
    ) {
      checkListing(listing.dir, listing.entries);
      return;
    }
    prev = at;
    prevEnd = end;
    at = end + 1;
  }
  // Searched once a reply (its names are shared by up to 64 listings), not once a listing.
  let first = firstNul.get(listing.reply);
  if (first === undefined) firstNul.set(listing.reply, (first = all.indexOf('\0')));
  if (first === -1 || first >= listing.end) return;
  const nul = all.indexOf('\0', listing.at);
  if (nul !== -1 && nul < listing.end) checkListing(listing.dir, listing.entries);
}

/** Where a reply's joined names hold their first NUL (-1: none), by reply. */
const firstNul = new WeakMap<PackedArrays, number>();

const DOT = 46;

/** `s.slice(a, aEnd)` against `s.slice(b, bEnd)` by UTF-16 code units, as `<` compares strings. */
function compareIn(s: string, a: number, aEnd: number, b: number, bEnd: number): number {
  const n = Math.min(aEnd - a, bEnd - b);
  for (let k = 0; k < n; k++) {
    const d = s.charCodeAt(a + k) - s.charCodeAt(b + k);
    if (d !== 0) return d;
  }
  return aEnd - a - (bEnd - b);
}
