import type { EntryWrite, ListingDigest, Removal } from '../entries.js';

/**
 * What a batch does to listing digests (migration 021; EntryRepository.apply): the
 * directories whose child rows it writes or removes lose their digest (`forget`) unless it
 * stores one for them (`dirs`, `digests`). The root has no row and is in neither.
 */
export interface DigestWork {
  forget: string[];
  dirs: string[];
  digests: string[];
}

export function digestWork(
  removals: readonly Removal[],
  writes: readonly EntryWrite[],
  stored: readonly ListingDigest[],
): DigestWork | undefined {
  const dirs: string[] = [];
  const digests: string[] = [];
  const storing = new Set<string>();
  for (const d of stored) {
    if (d.dir === '/') continue;
    storing.add(d.dir);
    dirs.push(d.dir);
    digests.push(d.digest);
  }
  const forget = new Set<string>();
  const touch = (dir: string) => {
    if (dir !== '/' && !storing.has(dir)) forget.add(dir);
  };
  for (const w of writes) touch(dirOf(w.path));
  for (const r of removals) touch(dirOf(r.path));
  if (forget.size === 0 && dirs.length === 0) return undefined;
  return { forget: [...forget].sort(), dirs, digests };
}

/** The directory of a row's path (`/` at the root). */
function dirOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
}
