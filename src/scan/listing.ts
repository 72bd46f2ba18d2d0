import { ProtocolError } from '../storage/errors.js';
import { ROOT } from '../storage/paths.js';
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
