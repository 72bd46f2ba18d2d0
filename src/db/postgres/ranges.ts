import type { Removal } from '../entries.js';
import { subtreeRange } from '../../storage/paths.js';

/**
 * Sorts after every extension of a path: no stored path holds U+0000, so the only path
 * in [p, p + U+0001) is p itself.
 */
const JUST_AFTER = '\u0001';

/**
 * Removals as [lower, upper) ranges of the bytewise path order: one per removed entry,
 * plus one per removed directory for its subtree (`/a/` up to `/a0`). A range cannot
 * cover a sibling such as `/a.txt`, which sorts between `/a` and `/a/`.
 */
export function removalRanges(removals: readonly Removal[]): { lower: string[]; upper: string[] } {
  const pairs: [string, string][] = [];
  for (const r of removals) {
    pairs.push([r.path, r.path + JUST_AFTER]);
    if (r.isDir) {
      const { lower, upper } = subtreeRange(r.path);
      pairs.push([lower, upper]);
    }
  }
  // One lock order for every writer: overlapping scans wait for each other, not deadlock.
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { lower: pairs.map((p) => p[0]), upper: pairs.map((p) => p[1]) };
}
