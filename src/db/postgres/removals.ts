import type { Removal } from '../entries.js';
import { subtreeRange } from '../../storage/paths.js';

/** What one batch removes: entries by exact path, and the subtrees of removed directories. */
export interface RemovalPlan {
  paths: string[];
  /** [lower, upper) ranges of the bytewise path order, one per removed directory. */
  lower: string[];
  upper: string[];
}

const bytewise = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Exact paths go to `path = ANY(…)`, which the planner estimates right (one row each);
 * only directories need a range (`/a/` up to `/a0`), which cannot cover a sibling such as
 * `/a.txt` (it sorts between `/a` and `/a/`). Both sorted: one lock order for every
 * writer, so overlapping scans wait for each other instead of deadlocking.
 */
export function removalPlan(removals: readonly Removal[]): RemovalPlan {
  const paths: string[] = [];
  const ranges: [string, string][] = [];
  for (const r of removals) {
    paths.push(r.path);
    if (r.isDir) {
      const { lower, upper } = subtreeRange(r.path);
      ranges.push([lower, upper]);
    }
  }
  paths.sort(bytewise);
  ranges.sort((a, b) => bytewise(a[0], b[0]));
  return { paths, lower: ranges.map((r) => r[0]), upper: ranges.map((r) => r[1]) };
}
