import { ROOT } from '../../storage/paths.js';
import type { Exclusions } from './exclusions.js';

/**
 * Exclusion over a tree listing (S3's flat listing), which brings every directory whether
 * or not it is excluded: each directory's pieces are judged by its path, against the
 * configured patterns and the marker rules of its ancestors. Only directories that hold
 * marker files are remembered, so memory does not grow with the tree.
 */
export class TreeExclusions {
  readonly #root: Exclusions;
  /** Directories with marker files: their rules, or `unreadable` (nothing under it is used). */
  readonly #marked = new Map<string, { rules: Exclusions | 'unreadable'; names: Set<string> }>();

  constructor(root: Exclusions) {
    this.#root = root;
  }

  /**
   * The rules for the entries of `dir`, or undefined when `dir` is excluded, lies under an
   * excluded directory, or under one whose marker could not be read.
   */
  rulesFor(dir: string): Exclusions | undefined {
    let rules: Exclusions | undefined = this.#own(ROOT, this.#root);
    if (dir === ROOT || !rules) return rules;
    if (rules.inert && this.#marked.size === 0) return rules;
    let end = 0;
    while (rules && end < dir.length) {
      const next = dir.indexOf('/', end + 1);
      end = next < 0 ? dir.length : next;
      const path = dir.slice(0, end);
      const name = path.slice(path.lastIndexOf('/') + 1);
      if (rules.excludes({ path, name, isDir: true })) return undefined;
      rules = this.#own(path, rules);
    }
    return rules;
  }

  /** Marker names already known for `dir` (from its first piece). */
  markerNames(dir: string): ReadonlySet<string> | undefined {
    return this.#marked.get(dir)?.names;
  }

  /** `dir`'s own rules, from its marker files (`names`), or `unreadable`. */
  mark(dir: string, rules: Exclusions | 'unreadable', names: Iterable<string>): void {
    this.#marked.set(dir, { rules, names: new Set(names) });
  }

  #own(dir: string, inherited: Exclusions): Exclusions | undefined {
    const m = this.#marked.get(dir);
    if (!m) return inherited;
    return m.rules === 'unreadable' ? undefined : m.rules;
  }
}
