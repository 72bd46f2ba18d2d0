import type { Entry } from '../../storage/types.js';
import type { Exclusions } from './exclusions.js';
import { findMarkers, rulesFor, type Marker, type Reader } from './markers.js';

/**
 * Exclusion for one directory's listing, part by part. The rules for its entries are
 * settled on its first part: at once for a directory listed whole (almost all). A directory
 * too large to hold goes out in parts before its end has been seen, so a marker file may
 * come after its first part: where the storage reads files, the marker files are asked for
 * before that first part goes ({@link probeMarkers}); elsewhere a marker that shows up later
 * is "late" — the entries already sent did not obey it — and the engine lists the directory
 * again, this time knowing its markers from the start (`known`).
 */
export class DirectoryExclusion {
  readonly dir: string;
  readonly #parent: Exclusions;
  readonly #read: Reader | undefined;
  readonly #markersOn: boolean;
  /** Markers an earlier listing of the directory found: this listing is its second. */
  readonly #known: ReadonlyMap<string, Marker> | undefined;
  /** Markers this listing holds as regular files, so far. */
  readonly #found = new Map<string, Marker>();
  /** Names the settled rules were built on. */
  #ruled = new Set<string>();
  /** Names a probe reported (to be confirmed by the complete listing). */
  #probed: ReadonlySet<string> = new Set();
  #rules: Exclusions | undefined;

  constructor(
    dir: string,
    parent: Exclusions,
    options: {
      read: Reader | undefined;
      markers: boolean;
      known?: ReadonlyMap<string, Marker> | undefined;
      /** `known` came from a probe: the complete listing must confirm it. */
      probed?: boolean;
    },
  ) {
    this.dir = dir;
    this.#parent = parent;
    this.#read = options.read;
    this.#markersOn = options.markers;
    this.#known = options.known;
    if (options.probed && options.known) this.#probed = new Set(options.known.keys());
  }

  /** The rules for this directory's entries (and what its subdirectories inherit). */
  get rules(): Exclusions {
    if (!this.#rules) throw new Error(`exclusion of ${this.dir} asked before it was settled`);
    return this.#rules;
  }

  get settled(): boolean {
    return this.#rules !== undefined;
  }

  /** Marker files this listing held, for listing the directory again. */
  get markersFound(): ReadonlyMap<string, Marker> {
    return this.#found;
  }

  /**
   * Settles the rules from the first part (`complete`: the whole listing; unused), reading
   * `.trawlignore` / `.ignore` if need be. Throws a MarkerError when they cannot be read.
   */
  async settle(entries: readonly Entry[], complete: boolean, signal: AbortSignal): Promise<void> {
    const markers = new Map<string, Marker>(this.#known);
    if (this.#markersOn) {
      this.#note(entries);
      for (const [name, m] of this.#found) if (!markers.has(name)) markers.set(name, m);
    }
    this.#ruled = new Set(markers.keys());
    this.#rules =
      markers.size > 0
        ? await rulesFor(this.dir, markers, this.#parent, this.#read, signal)
        : this.#parent;
  }

  /** Marker files in a later part that the settled rules were not built on. */
  late(entries: readonly Entry[]): Marker[] {
    if (!this.#markersOn) return [];
    const found = this.#note(entries);
    return found.filter((m) => !this.#ruled.has(m.name));
  }

  /**
   * The complete listing does not hold, as a regular file, a marker a probe reported (a
   * directory of that name reads as empty on some storages): the rules were wrong.
   */
  get misprobed(): boolean {
    for (const name of this.#probed) if (!this.#found.has(name)) return true;
    return false;
  }

  /** The entries with those the rules exclude marked `skip: 'excluded'`. */
  filter(entries: Entry[]): Entry[] {
    return excludeEntries(entries, this.rules);
  }

  #note(entries: readonly Entry[]): Marker[] {
    const found = findMarkers(entries);
    if (!found) return [];
    for (const [name, m] of found) this.#found.set(name, m);
    return [...found.values()];
  }
}

/**
 * Marks the entries `rules` exclude as skipped (`excluded`): they are counted as skipped,
 * not indexed, not descended into, and an indexed one is removed with its subtree when the
 * directory's listing is complete. The listing's own objects are not changed.
 */
export function excludeEntries(entries: Entry[], rules: Exclusions): Entry[] {
  if (rules.inert) return entries;
  let out: Entry[] | undefined;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.skip || !rules.excludes(e)) continue;
    out ??= entries.slice();
    out[i] = { ...e, skip: 'excluded' };
  }
  return out ?? entries;
}
