/**
 * A root's own row. A scan rooted below `/` lists the root's children, not the root: the
 * root's row is its parent's listing's to write. When the index holds the root as a file, or
 * not at all (it became a directory since its parent was last listed), the children such a
 * scan writes sit under a row that is no directory; and once the root is a file again, no
 * later scan lists or deletes below it (a file has no listing), so they would stay for good.
 *
 * So such a root's row is written first, as its parent's listing would write it: the storage
 * has no stat, so the parent is listed (through the storage service, like any listing),
 * only the roots' entries kept as the pages stream by, and those go to the reconciler as a
 * paged part of the parent that deletes nothing. Rather than deleting a file's subtree at
 * every full comparison, which would cost every rescan a range read per file, the cause is
 * fixed where it is (indexes already in that state are not repaired).
 */
import type { StorageHandle } from '../storage/service.js';
import type { Entry } from '../storage/types.js';
import { abortable } from './abortable.js';

/**
 * The entries named `names` in `parent`'s listing that are directories trawl indexes (not
 * skipped), each name's first. Throws as the listing does; what the listing holds beyond them is dropped page
 * by page.
 */
export async function directoriesIn(
  storage: StorageHandle,
  parent: string,
  names: ReadonlySet<string>,
  signal: AbortSignal,
): Promise<Entry[]> {
  const found: Entry[] = [];
  // Each once, whatever the server repeats.
  const wanted = new Set(names);
  const pages = storage.list(parent, { signal })[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = pages.next();
      const step = await (storage.abortsListing ? next : abortable(next, signal));
      if (step.done) break;
      for (const e of step.value) {
        if (!wanted.delete(e.name)) continue;
        if (e.isDir && !e.skip) found.push(e);
      }
      if (wanted.size === 0) break;
    }
  } finally {
    // Found early, or failed: the rest of the listing is not waited for.
    void pages.return?.()?.catch(() => undefined);
  }
  return found;
}
