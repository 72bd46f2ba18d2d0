import { ProtocolError } from '../storage/errors.js';
import { isValidName, joinPath } from '../storage/paths.js';
import type { Entry } from '../storage/types.js';

/**
 * Refuses a listing that breaks the storage contract before it reaches the index: an entry
 * outside the listed directory would be written under the wrong parent, and a duplicate name
 * would be counted twice. Either means the backend is broken, so the directory is treated as
 * unlistable (its index entries are kept) rather than reconciled on the strength of it.
 */
export function checkListing(dir: string, entries: readonly Entry[]): void {
  const names = new Set<string>();
  for (const e of entries) {
    if (!isValidName(e.name) || e.path !== joinPath(dir, e.name)) {
      throw new ProtocolError(
        `listing of ${dir} holds an entry outside it: ${JSON.stringify(e.path)}`,
        { path: dir },
      );
    }
    if (names.has(e.name)) {
      throw new ProtocolError(`listing of ${dir} names ${JSON.stringify(e.name)} twice`, {
        path: dir,
      });
    }
    names.add(e.name);
  }
}
