/**
 * The directories a watch must list again, bounded. Self-contained (no imports; the class and
 * the four functions below it use nothing else): the watch thread embeds their source
 * ({@link DIRTY_SET_SOURCE}), and the tests use the class as is.
 *
 * A directory is marked `shallow` (list it: its own entries changed) or `deep` (list its whole
 * subtree: it is new, moved in, or nothing more precise is known). A deep directory covers
 * everything below it. When more than `max` directories are marked, the set coarsens: every
 * mark deeper than some depth is replaced by its ancestor at that depth, marked deep, the
 * depth chosen as the deepest that brings the set to half its bound. So an overflow costs a
 * rescan of the subtrees the changes were in — never a lost change — and memory stays bounded.
 */
export interface DirtyPlan {
  /** Directories to list (their entries only), in path order. */
  shallow: string[];
  /** Directories to list with their whole subtree, in path order, none below another. */
  deep: string[];
  /** Times the set coarsened since the last plan. */
  coarsened: number;
}

export class DirtySet {
  readonly #max: number;
  #shallow = new Set<string>();
  #deep = new Set<string>();
  #coarsened = 0;

  constructor(max: number) {
    if (!(max >= 2) || !Number.isInteger(max)) {
      throw new RangeError(`Expected \`maxDirty\` to be an integer from 2 and up, got ${max}`);
    }
    this.#max = max;
  }

  get size(): number {
    return this.#shallow.size + this.#deep.size;
  }

  markShallow(dir: string): void {
    if (this.#shallow.has(dir) || this.#covered(dir)) return;
    this.#shallow.add(dir);
    if (this.size > this.#max) this.#coarsen();
  }

  markDeep(dir: string): void {
    if (this.#covered(dir)) return;
    this.#deep.add(dir);
    this.#shallow.delete(dir);
    if (this.size > this.#max) this.#coarsen();
  }

  /** What is marked, normalised (nothing under a deep directory), and an empty set. */
  take(): DirtyPlan {
    const deep = [...this.#deep].sort(byPath);
    const covered = (path: string) => {
      for (let up = parentOf(path); up !== undefined; up = parentOf(up)) {
        if (this.#deep.has(up)) return true;
      }
      return false;
    };
    const plan: DirtyPlan = {
      deep: deep.filter((d) => !covered(d)),
      shallow: [...this.#shallow].filter((d) => !this.#deep.has(d) && !covered(d)).sort(byPath),
      coarsened: this.#coarsened,
    };
    this.#shallow = new Set();
    this.#deep = new Set();
    this.#coarsened = 0;
    return plan;
  }

  /** Whether `dir` or an ancestor is marked deep. */
  #covered(dir: string): boolean {
    for (let up: string | undefined = dir; up !== undefined; up = parentOf(up)) {
      if (this.#deep.has(up)) return true;
    }
    return false;
  }

  #coarsen(): void {
    this.#coarsened++;
    const target = Math.max(1, Math.floor(this.#max / 2));
    const marks: Array<[string, boolean]> = [
      ...[...this.#shallow].map((d): [string, boolean] => [d, false]),
      ...[...this.#deep].map((d): [string, boolean] => [d, true]),
    ];
    let depth = 0;
    for (const [d] of marks) depth = Math.max(depth, depthOf(d));
    for (let k = depth - 1; k >= 0; k--) {
      const shallow = new Set<string>();
      const deep = new Set<string>();
      for (const [d, isDeep] of marks) {
        if (depthOf(d) <= k) (isDeep ? deep : shallow).add(d);
        else deep.add(ancestorAt(d, k));
      }
      for (const d of deep) shallow.delete(d);
      if (shallow.size + deep.size <= target || k === 0) {
        this.#shallow = shallow;
        this.#deep = deep;
        return;
      }
    }
  }
}

/** Bytewise path order (the index's), so a directory comes before everything under it. */
function byPath(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function parentOf(path: string): string | undefined {
  if (path === '/') return undefined;
  const slash = path.lastIndexOf('/');
  return slash === 0 ? '/' : path.slice(0, slash);
}

function depthOf(path: string): number {
  if (path === '/') return 0;
  let depth = 0;
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 47) depth++;
  return depth;
}

/** The ancestor of `path` at `depth` (0 is `/`). */
function ancestorAt(path: string, depth: number): string {
  if (depth === 0) return '/';
  let seen = 0;
  for (let i = 0; i < path.length; i++) {
    if (path.charCodeAt(i) === 47 && ++seen === depth + 1) return path.slice(0, i);
  }
  return path;
}

/** This module's code for a thread started from source: declares `DirtySet` and its helpers. */
export const DIRTY_SET_SOURCE = [byPath, parentOf, depthOf, ancestorAt, DirtySet]
  .map(String)
  .join('\n');
