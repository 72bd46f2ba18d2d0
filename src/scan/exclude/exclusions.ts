import { RuleSet, type Candidate } from './rules.js';

/**
 * The rules in force for the entries of one directory, with git's precedence: the scan's
 * own patterns (`--exclude`) first, then the marker files of the directory and its
 * ancestors (the deepest first), then the storage's `exclude` list last (as git ranks the
 * command line, `.gitignore` files and `.git/info/exclude`). A directory whose content is
 * excluded wholesale (`.nomedia`) excludes every entry, whatever any pattern says.
 *
 * Immutable: a directory without marker files hands its own object to its subdirectories,
 * so a walk costs no allocation per directory.
 */
export class Exclusions {
  readonly #scan: RuleSet | undefined;
  /** Outermost first. */
  readonly #markers: readonly RuleSet[];
  readonly #storage: RuleSet | undefined;
  readonly #all: boolean;

  private constructor(
    scan: RuleSet | undefined,
    markers: readonly RuleSet[],
    storage: RuleSet | undefined,
    all: boolean,
  ) {
    this.#scan = scan;
    this.#markers = markers;
    this.#storage = storage;
    this.#all = all;
  }

  /** The rules at the storage's root: the scan's patterns and the storage's list. */
  static root(scan: readonly string[] = [], storage: readonly string[] = []): Exclusions {
    const s = RuleSet.parse('/', '--exclude', scan, false);
    const st = RuleSet.parse('/', "the storage's exclude list", storage, false);
    return new Exclusions(s.size > 0 ? s : undefined, [], st.size > 0 ? st : undefined, false);
  }

  /** Nothing here can exclude anything: entries need not be looked at. */
  get inert(): boolean {
    return !this.#all && !this.#scan && !this.#storage && this.#markers.length === 0;
  }

  /** Every entry of this directory is excluded (`.nomedia`, an empty `.ignore`). */
  get all(): boolean {
    return this.#all;
  }

  excludes(e: Candidate): boolean {
    if (this.#all) return true;
    const scan = this.#scan?.verdict(e);
    if (scan !== undefined) return scan === 'excluded';
    for (let i = this.#markers.length - 1; i >= 0; i--) {
      const v = this.#markers[i]!.verdict(e);
      if (v !== undefined) return v === 'excluded';
    }
    return this.#storage?.verdict(e) === 'excluded';
  }

  /** These rules and a directory's own marker rules (in the order given, the last winning). */
  withMarkers(sets: readonly RuleSet[]): Exclusions {
    const own = sets.filter((s) => s.size > 0);
    if (own.length === 0) return this;
    return new Exclusions(this.#scan, [...this.#markers, ...own], this.#storage, this.#all);
  }

  /** Rules under which every entry is excluded. */
  excludingAll(): Exclusions {
    return new Exclusions(this.#scan, this.#markers, this.#storage, true);
  }
}
