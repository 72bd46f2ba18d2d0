import { setMaxListeners } from 'node:events';
import type { EntryRepository, EntryScope } from '../db/entries.js';
import { ProtocolError, StorageError, toStorageError } from '../storage/errors.js';
import { MemoryBudget } from '../storage/limits/budget.js';
import { baseName, parentOf, ROOT } from '../storage/paths.js';
import { PackedListing } from '../storage/packed.js';
import type { StorageHandle } from '../storage/service.js';
import type { Entry, TreeListing } from '../storage/types.js';
import { Channel } from './channel.js';
import { Frontier, type FrontierItem } from './frontier.js';
import { checkListing, checkPacked } from './listing.js';
import { classifyListing, hasAmbiguousMedia, hasAmbiguousPacked } from './media-classify.js';
import { DirectoryExclusion, excludeEntries } from './exclude/directory.js';
import { Exclusions } from './exclude/exclusions.js';
import {
  findMarkers,
  findPackedMarkers,
  MarkerError,
  probeMarkers,
  rulesFor,
  type Marker,
} from './exclude/markers.js';
import { TreeExclusions } from './exclude/tree.js';
import { digestSalt } from './listing-digest.js';
import { directoriesIn } from './root-row.js';
import { abortable } from './abortable.js';
import {
  HeldPages,
  packedBytes,
  PackedPart,
  partBytes,
  type ListingPart,
  type PartKind,
} from './parts.js';
import { Reconciler, SinkError, type Prefetch } from './reconciler.js';
import {
  emptyCounters,
  type ChangeSink,
  type FinalStatus,
  type ScanCounters,
  type ScanProgress,
  type ScanResult,
} from './result.js';

/** Listing tasks when neither the caller nor the storage's limits say otherwise. */
export const DEFAULT_LISTERS = 8;

export interface ScanOptions {
  /**
   * The directories the walk starts from (`['/a/b']`), none under another: only their subtrees
   * are reconciled, by the same rules as a whole scan (`trawl watch` re-lists the directories
   * that changed this way). A root the index does not hold as a directory gets its row
   * first, from its parent's listing (see root-row.ts). A single root that cannot be listed
   * fails the scan and changes nothing; of several, each that cannot be listed is one error
   * of the scan. @default `['/']`
   */
  roots?: readonly string[];
  /** Directories below the root to descend; 1 lists the root only. @default Infinity */
  maxDepth?: number;
  /** false is the same as maxDepth 1. @default true */
  recursive?: boolean;
  /** Concurrent listing tasks (the StorageService still caps requests). @default {@link DEFAULT_LISTERS}; the runner brings 2 × the storage's maxConcurrency when that is more */
  listers?: number;
  /** Entries per reconciliation batch (one transaction). @default the index's own ({@link EntryRepository.batchEntries}) */
  batchEntries?: number;
  /** A batch is written at the latest this long after its first listing arrived. @default 250 */
  batchMs?: number;
  /** Entries that may wait between the listers and the reconciler. @default 4 × batchEntries */
  channelEntries?: number;
  /** Read the index and count what would change, write nothing. @default false */
  dryRun?: boolean;
  signal?: AbortSignal;
  onProgress?: (progress: ScanProgress) => void;
  /** @default 250 */
  progressIntervalMs?: number;
  /** Called after each committed batch with the ids it changed. */
  onChanges?: ChangeSink;
  /** Errors kept with path and message; the rest are only counted. @default 20 */
  errorSampleSize?: number;
  /**
   * A directory whose path is longer than this many UTF-8 bytes is not listed: an error
   * (PROTOCOL) instead, so a server that lists a directory inside itself forever cannot walk
   * the scan into the ground. @default 4096 (Linux's PATH_MAX)
   */
  maxPathBytes?: number;
  /** The same bound on depth below the root. @default 1024 */
  maxTreeDepth?: number;
  /**
   * Gitignore patterns for this scan only (`trawl scan --exclude`), anchored at the storage's
   * root. An excluded directory is not listed; excluded entries are counted as skipped and
   * leave the index. They rank above marker files and the storage's list (docs/excludes.md).
   */
  exclude?: readonly string[];
  /** The storage's own `exclude` list: the same patterns, ranked below marker files. */
  storageExclude?: readonly string[];
  /** Honour `.nomedia`, `.ignore` and `.trawlignore` files. @default true */
  markers?: boolean;
}

/** @see ScanOptions.maxPathBytes */
export const DEFAULT_MAX_PATH_BYTES = 4096;
/** @see ScanOptions.maxTreeDepth */
export const DEFAULT_MAX_TREE_DEPTH = 1024;

export interface ScanEngineDeps {
  storage: StorageHandle;
  entries: EntryRepository;
  /** Extra counters from the storage layer (retries, rate-limit waits), read at the end. */
  storageStats?: () => { retries: number; rateLimitWaits: number };
  /**
   * The process's memory budget for listings waiting to be reconciled, shared by every scan
   * of the process. @default a budget of this scan's own
   */
  budget?: MemoryBudget;
}

/**
 * One scan of one storage: N listers walk the tree breadth-first and hand complete
 * listings through a bounded channel to one reconciler, which diffs each listed directory
 * against the index and writes the differences a batch per transaction.
 *
 * Deletion happens only per successfully listed directory, so memory does not grow with
 * the tree and a directory that could not be listed keeps its index entries.
 */
export async function scan(
  deps: ScanEngineDeps,
  scope: EntryScope,
  options: ScanOptions = {},
): Promise<ScanResult> {
  return new ScanRun(deps, scope, options).run();
}

class ScanRun {
  readonly #deps: ScanEngineDeps;
  readonly #scope: EntryScope;
  readonly #maxDepth: number;
  readonly #listers: number;
  readonly #batchEntries: number;
  readonly #batchMs: number;
  readonly #maxPathBytes: number;
  readonly #maxTreeDepth: number;
  readonly #opts: ScanOptions;
  readonly #roots: readonly string[];
  readonly #started = Date.now();
  readonly #counters: ScanCounters = emptyCounters();
  readonly #frontier = new Frontier();
  readonly #channel: Channel<ListingPart>;
  readonly #budget: MemoryBudget;
  readonly #reconciler: Reconciler;
  /** The exclude patterns in force at the storage's root. */
  readonly #rootRules: Exclusions;
  /** Rules of the directories above the roots (below `/`), each found once. */
  readonly #ancestorRules = new Map<string, Promise<Exclusions>>();
  readonly #markers: boolean;
  /** Aborts in-flight listings on cancellation or on a fatal error. */
  readonly #internal = new AbortController();
  #dirsListed = 0;
  /**
   * Directories a tree walk said to descend into (`descend`) and not yet done with: its
   * `dirsQueued`, where a walk by directory counts its frontier. 0 over a backend that lists
   * everything without asking (S3).
   */
  #treeQueued = 0;
  #rootFailed = false;
  /** The caller's signal stopped the scan before it was done. */
  #cancelled = false;
  #fatal: unknown;

  constructor(deps: ScanEngineDeps, scope: EntryScope, options: ScanOptions) {
    this.#deps = deps;
    this.#scope = scope;
    this.#opts = options;
    this.#roots = options.roots ?? [ROOT];
    const bad = this.#roots.find((r) => !isStoragePath(r));
    if (this.#roots.length === 0 || bad !== undefined) {
      throw new RangeError(
        `Expected \`roots\` to be storage paths like /a/b (no trailing slash, no . or ..), got ${JSON.stringify(bad ?? [])}`,
      );
    }
    this.#maxDepth = options.recursive === false ? 1 : (options.maxDepth ?? Infinity);
    this.#listers = options.listers ?? DEFAULT_LISTERS;
    this.#batchEntries = options.batchEntries ?? deps.entries.batchEntries;
    this.#batchMs = options.batchMs ?? 250;
    this.#maxPathBytes = options.maxPathBytes ?? DEFAULT_MAX_PATH_BYTES;
    this.#maxTreeDepth = options.maxTreeDepth ?? DEFAULT_MAX_TREE_DEPTH;
    this.#channel = new Channel(options.channelEntries ?? this.#batchEntries * 4);
    this.#budget = deps.budget ?? new MemoryBudget();
    this.#rootRules = Exclusions.root(
      checkPatterns('exclude', options.exclude),
      checkPatterns('storageExclude', options.storageExclude),
    );
    this.#markers = options.markers ?? true;
    this.#reconciler = new Reconciler({
      entries: deps.entries,
      scope,
      counters: this.#counters,
      batchEntries: this.#batchEntries,
      dryRun: options.dryRun ?? false,
      onChanges: options.onChanges,
      recordError: (path, code, message) => this.#recordError(path, code, message),
      digestSalt: () =>
        digestSalt({
          exclude: options.exclude,
          storageExclude: options.storageExclude,
          markers: options.markers,
        }),
    });
    // Every request in flight listens to this signal (here, in the service, in the backend):
    // many listeners are expected, not a leak.
    setMaxListeners(0, this.#internal.signal);
    for (const [name, value] of [
      ['maxDepth', this.#maxDepth],
      ['listers', this.#listers],
      ['batchEntries', this.#batchEntries],
      ['maxPathBytes', this.#maxPathBytes],
      ['maxTreeDepth', this.#maxTreeDepth],
    ] as const) {
      if (!(value >= 1) || (value !== Infinity && !Number.isInteger(value))) {
        throw new RangeError(`Expected \`${name}\` to be an integer from 1 and up, got ${value}`);
      }
    }
  }

  async run(): Promise<ScanResult> {
    const signal = this.#opts.signal;
    const onAbort = () => {
      if (!this.#internal.signal.aborted) this.#cancelled = true;
      this.#stop();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const ticker = this.#opts.onProgress
      ? setInterval(() => this.#emitProgress(), this.#opts.progressIntervalMs ?? 250)
      : undefined;
    ticker?.unref();
    try {
      if (signal?.aborted) onAbort();
      const reconciling = this.#reconcileLoop();
      await this.#walk();
      this.#channel.close();
      await reconciling;
    } finally {
      if (ticker) clearInterval(ticker);
      signal?.removeEventListener('abort', onAbort);
      this.#reconciler.abandon();
    }
    this.#emitProgress();
    return this.#result();
  }

  async #walk(): Promise<void> {
    const storage = this.#deps.storage;
    if (storage.listTree && this.#maxDepth === Infinity && this.#roots.length === 1) {
      await this.#walkTree(storage.listTree.bind(storage));
      return;
    }
    const items: FrontierItem[] = [];
    for (const dir of this.#roots) {
      const rules = await this.#rulesAt(dir);
      if (rules) items.push({ dir, depth: 0, rules });
    }
    const ready = await this.#rootRows(items.map((i) => i.dir));
    for (const item of items) if (ready.has(item.dir)) this.#frontier.push(item);
    const listers = Array.from({ length: this.#listers }, () => this.#lister());
    await Promise.all(listers);
  }

  /**
   * The rules in force for the entries of a root: at `/` the scan's and the storage's
   * patterns; below it, those and the marker files of every directory above the root (read
   * where the storage reads files), as a walk from `/` would have gathered them. Undefined
   * when the root is excluded or lies under an excluded directory (it is not listed), or when
   * a marker above it cannot be read (recorded as the root's error: nothing under it changes).
   */
  async #rulesAt(root: string): Promise<Exclusions | undefined> {
    if (root === ROOT) return this.#rootRules;
    const signal = this.#internal.signal;
    let rules = this.#rootRules;
    let dir = ROOT;
    try {
      for (const name of root.slice(1).split('/')) {
        rules = await this.#ownRules(dir, rules, signal);
        const path = dir === ROOT ? `/${name}` : `${dir}/${name}`;
        if (rules.excludes({ path, name, isDir: true })) return undefined;
        dir = path;
      }
    } catch (error) {
      if (!(error instanceof MarkerError)) {
        this.#listingFailed(root, error);
        return undefined;
      }
      // Rules above the root unknown: nothing under it is listed (nor changed).
      if (!signal.aborted) this.#recordError(error.path, error.code, error.message);
      if (this.#roots.length === 1) this.#rootFailed = true;
      return undefined;
    }
    return rules;
  }

  /**
   * Of `roots` (not excluded), those to list: each whose row the index does not hold as a
   * directory gets one first, from its parent's listing (see root-row.ts), in the channel
   * before any of its own listing. One whose parent cannot be listed is not listed either
   * (recorded as its error): its children would go under a row that is no directory.
   */
  async #rootRows(roots: readonly string[]): Promise<Set<string>> {
    const ready = new Set(roots);
    const below = roots.filter((r) => r !== ROOT);
    if (below.length === 0) return ready;
    const signal = this.#internal.signal;
    const byParent = new Map<string, string[]>();
    try {
      const rows = await this.#deps.entries.lookup(this.#scope, below);
      for (const root of below) {
        if (rows.get(root)?.isDir === true) continue;
        const parent = parentOf(root);
        byParent.set(parent, [...(byParent.get(parent) ?? []), root]);
      }
    } catch (error) {
      for (const root of below) this.#rootUnlisted(ready, root, error);
      return ready;
    }
    for (const [parent, missing] of byParent) {
      try {
        const names = new Set(missing.map(baseName));
        const found = await directoriesIn(this.#deps.storage, parent, names, signal);
        // Not a directory in its parent's listing: gone, or a file (its own listing fails).
        if (found.length === 0) continue;
        const item = { dir: parent, depth: 0 };
        await this.#send(item, 'page', found, false);
        await this.#send(item, 'broken', [], false);
      } catch (error) {
        for (const root of missing) this.#rootUnlisted(ready, root, error);
      }
    }
    return ready;
  }

  #rootUnlisted(ready: Set<string>, root: string, error: unknown): void {
    ready.delete(root);
    this.#listingFailed(root, error);
  }

  /** The rules for `dir`'s entries given its parent's, its marker files read once a scan. */
  #ownRules(dir: string, parent: Exclusions, signal: AbortSignal): Promise<Exclusions> {
    const storage = this.#deps.storage;
    const read = storage.readHead?.bind(storage);
    if (!this.#markers || !read) return Promise.resolve(parent);
    let rules = this.#ancestorRules.get(dir);
    if (!rules) {
      rules = probeMarkers(dir, read, signal).then((markers) =>
        markers ? rulesFor(dir, markers, parent, read, signal) : parent,
      );
      this.#ancestorRules.set(dir, rules);
    }
    return rules;
  }

  async #lister(): Promise<void> {
    for (;;) {
      const item = await this.#frontier.next();
      if (!item) return;
      try {
        await this.#listDirectory(item);
      } finally {
        this.#frontier.done();
      }
    }
  }

  /**
   * Lists one directory and sends it on: whole when its listing ends within a few pages,
   * else in parts. A failure after some entries arrived sends what arrived as `broken`
   * (applied, nothing deleted) and records the directory's error.
   */
  async #listDirectory(
    item: FrontierItem,
    known?: ReadonlyMap<string, Marker>,
    probed = false,
    /** The storage did not answer the marker probes: take a late marker as it comes. */
    unprobed = false,
  ): Promise<void> {
    const { dir } = item;
    // Depth bounds count from `/`, whatever the roots.
    const outOfBounds = this.#outOfBounds({ dir, depth: depthOf(dir) });
    if (outOfBounds) {
      this.#listingFailed(dir, outOfBounds);
      return;
    }
    const signal = this.#internal.signal;
    // The root's listing starts a new walk: nothing a backend read ahead before may answer it.
    const options = item.depth === 0 ? { signal, newWalk: true } : { signal };
    const pages = this.#deps.storage.list(dir, options)[Symbol.asyncIterator]();
    const held = new HeldPages();
    const storage = this.#deps.storage;
    const read = storage.readHead?.bind(storage);
    const exclusion = new DirectoryExclusion(dir, item.rules ?? this.#rootRules, {
      read,
      markers: this.#markers,
      known,
      probed,
    });
    // A paged listing queues its subdirectories once it is complete: a late marker file
    // (below) may still change what is excluded, and then the directory is listed again.
    const children: FrontierItem[] = [];
    let sent = false;
    let listed = false;
    let again = false;
    /** The next part under the rules, settling them on the first; undefined: list again. */
    const rule = async (part: Entry[], complete: boolean): Promise<Entry[] | undefined> => {
      if (!exclusion.settled) {
        await exclusion.settle(part, complete, signal);
        return exclusion.filter(part);
      }
      const late = exclusion.late(part);
      if (late.length > 0) {
        if (known === undefined) return undefined;
        // Listed again already: a marker that appeared meanwhile waits for the next scan.
        this.#recordError(
          dir,
          'MARKER_LATE',
          `${late.map((m) => m.name).join(', ')} appeared in ${dir} while it was scanned; it applies from the next scan`,
        );
      }
      return exclusion.filter(part);
    };
    try {
      for (;;) {
        // Raced against the signal here only when the handle does not race it already: a
        // race per page is a promise, closures and a Set entry (two per directory were
        // ~13 MB of a 200,000-file dry run's ~300 MB of garbage, heap sampling).
        const next = pages.next();
        const step = await (storage.abortsListing ? next : abortable(next, signal));
        if (step.done) break;
        held.push(step.value);
        if (held.full) {
          const first = held.take();
          if (!exclusion.settled && known === undefined && !unprobed && read && this.#markers) {
            if (!findMarkers(first)) {
              // Too large to hold, and its markers not seen yet: ask for them before anything
              // goes out. The listing is let go first (it holds a request slot the reads may
              // need), then started again knowing them.
              listed = true;
              void pages.return?.()?.catch(() => undefined);
              let markers: Map<string, Marker> | undefined;
              try {
                markers = await probeMarkers(dir, read, signal);
              } catch (error) {
                // The probes are a guess at files that are mostly not there: a server that
                // will not answer them (a GET refused, a read denied) must not cost the
                // directory. It is listed as on a storage that reads no files: a marker
                // that turns up late has it listed again.
                if (!(error instanceof MarkerError) || signal.aborted) throw error;
              }
              await this.#listDirectory(
                item,
                markers,
                markers !== undefined,
                markers === undefined,
              );
              return;
            }
          }
          const part = await rule(first, false);
          if (!part) {
            again = true;
            break;
          }
          sent = true;
          await this.#send(item, 'page', part, children, exclusion.rules);
        }
      }
      if (!again) {
        listed = true;
        const part = await rule(held.take(), !sent);
        // A probe's marker the listing did not hold as a file: the parts sent were ruled wrong.
        if (part && !exclusion.misprobed) {
          await this.#send(item, sent ? 'last' : 'whole', part, true, exclusion.rules);
          for (const child of children) this.#frontier.push(child);
          this.#dirsListed++;
          return;
        }
        again = true;
      }
    } catch (error) {
      // A backend stuck in a request would never finish its return(): do not wait on it.
      if (!listed) void pages.return?.()?.catch(() => undefined);
      if (error instanceof MarkerError) {
        // Its rules are unknown: nothing in it is indexed anew, nothing removed, nothing
        // below it listed (a paged listing under way is closed, deleting nothing).
        if (sent && !signal.aborted) {
          await this.#send(item, 'broken', [], false).catch(() => undefined);
        }
        if (!signal.aborted) this.#recordError(error.path, error.code, error.message);
        return;
      }
      // What arrived is true and is applied; a paged listing under way is closed. Nothing
      // in the directory is deleted either way.
      if (!signal.aborted && (sent || held.count > 0)) {
        const part = exclusion.settled
          ? exclusion.filter(held.take())
          : this.#unsettled(held, item);
        await this.#send(item, 'broken', part, false).catch(() => undefined);
      }
      this.#listingFailed(dir, error);
      return;
    }
    // A marker file turned up after part of the directory had gone out under rules that did
    // not know it: close that listing (deleting nothing) and list the directory again with
    // the marker known from its first part. Its subdirectories were not queued yet.
    void pages.return?.()?.catch(() => undefined);
    if (signal.aborted) return;
    // Reconciled before the new listing's first part, so that the two never share a batch.
    await new Promise<void>((resolve, reject) => {
      this.#send(item, 'broken', [], false, undefined, resolve).catch(reject);
    });
    await this.#listDirectory(item, exclusion.markersFound);
  }

  /**
   * What arrived of a listing that failed before its rules were settled: applied under its
   * parent's rules, unless it holds a marker file whose rules are not known (then nothing).
   */
  #unsettled(held: HeldPages, item: FrontierItem): Entry[] {
    const part = held.take();
    if (this.#markers && findMarkers(part)) return [];
    return excludeEntries(part, item.rules ?? this.#rootRules);
  }

  /**
   * Checks a part against the contract, charges it to the memory budget and puts it in the
   * (FIFO) channel, then queues its subdirectories. The part enters the channel before its
   * subdirectories are queued, so a parent is always reconciled no later than its children:
   * a scan stopped between batches never leaves entries under a directory the index does
   * not hold. `relisting`: this `broken` part closes a listing let go to list the directory
   * again (its counts are taken back); called once it is reconciled or dropped. A packed
   * listing (a local tree walk's, no rule to apply) goes out packed: checked, weighed and
   * classified in place, its entries made only if the reconciler needs them.
   */
  async #send(
    item: FrontierItem,
    kind: PartKind,
    listing: Entry[] | PackedListing,
    queueChildren: boolean | FrontierItem[] = true,
    rules?: Exclusions,
    relisting?: () => void,
  ): Promise<void> {
    const { dir } = item;
    const packed = listing instanceof PackedListing ? listing : undefined;
    const entries = packed ? undefined : (listing as Entry[]);
    if (packed) checkPacked(packed);
    else checkListing(dir, entries!);
    const bytes = packed ? packedBytes(packed) : partBytes(entries!);
    const signal = this.#internal.signal;
    const storage = this.#deps.storage;
    // Most listings hold no `.ts` / `.mts` file: no call (a promise and its closures) for them.
    const video = (packed ? hasAmbiguousPacked(packed) : hasAmbiguousMedia(entries!))
      ? await classifyListing(dir, packed ? packed.entries : entries!, {
          readHead: storage.readHead?.bind(storage),
          indexed: (paths) => this.#deps.entries.lookup(this.#scope, paths),
          signal,
        })
      : undefined;
    try {
      await this.#budget.acquire(bytes, signal);
    } catch {
      relisting?.();
      return; // stopped
    }
    const part: ListingPart = packed
      ? new PackedPart(packed, kind, bytes, video, relisting)
      : {
          dir,
          entries: entries!,
          kind,
          bytes,
          video,
          reconciled: relisting,
          relisted: !!relisting,
        };
    if (!(await this.#channel.put(part, (packed ? packed.count : entries!.length) + 1))) {
      this.#budget.release(bytes);
      relisting?.();
      return;
    }
    if (queueChildren && item.depth + 1 < this.#maxDepth) {
      const depth = item.depth + 1;
      for (const e of part.entries) {
        if (!e.isDir || e.skip) continue;
        const child = { dir: e.path, depth, rules };
        if (queueChildren === true) this.#frontier.push(child);
        else queueChildren.push(child);
      }
    }
  }

  /** Why a directory is too deep or its path too long to list, if it is. */
  #outOfBounds(item: FrontierItem): StorageError | undefined {
    const { dir, depth } = item;
    if (depth > this.#maxTreeDepth) {
      return new ProtocolError(
        `not listed: ${depth} levels deep, more than the ${this.#maxTreeDepth} allowed (maxTreeDepth)`,
        { path: dir },
      );
    }
    if (dir.length * 3 > this.#maxPathBytes && Buffer.byteLength(dir) > this.#maxPathBytes) {
      return new ProtocolError(
        `not listed: path longer than ${this.#maxPathBytes} bytes (maxPathBytes)`,
        { path: dir },
      );
    }
    return undefined;
  }

  async #walkTree(listTree: NonNullable<StorageHandle['listTree']>): Promise<void> {
    const signal = this.#internal.signal;
    const rootRules = await this.#rulesAt(this.#roots[0]!);
    if (!rootRules || (await this.#rootRows(this.#roots)).size === 0) return;
    const tree: TreeState = {
      open: new Set(),
      failed: new Set(),
      rules: new TreeExclusions(rootRules),
    };
    // A backend that walks the tree itself (local) lists only what this says: an excluded
    // directory, or one out of bounds (recorded here, as a lister would), is never listed.
    const descend = (dir: string): boolean => {
      const outOfBounds = this.#outOfBounds({ dir, depth: depthOf(dir) });
      if (outOfBounds) {
        if (tree.rules.rulesFor(dir)) this.#listingFailed(dir, outOfBounds, false);
        return false;
      }
      if (!tree.rules.rulesFor(dir)) return false;
      this.#treeQueued++;
      return true;
    };
    const listings = listTree(this.#roots[0]!, { signal, newWalk: true, descend })[
      Symbol.asyncIterator
    ]();
    try {
      // Raced against the signal here only when the handle does not race it already.
      const aborts = this.#deps.storage.abortsListing;
      for (;;) {
        const step = listings.next();
        const next = await (aborts ? step : abortable(step, signal));
        if (next.done) break;
        const value = next.value;
        if (!Array.isArray(value)) {
          if (!this.#sendPackedNow(value, tree)) await this.#sendTreeListing(value, tree);
        } else {
          for (const listing of value) {
            if (!this.#sendPackedNow(listing, tree)) await this.#sendTreeListing(listing, tree);
            if (signal.aborted) break;
          }
        }
        if (signal.aborted) break;
      }
      await listings.return?.();
    } catch (error) {
      // A generator stuck in a request would never finish its return(): do not wait on it.
      void listings.return?.()?.catch(() => undefined);
      // Listings already yielded were complete and stay reconciled; pieces of listings not
      // finished are applied but delete nothing.
      for (const dir of tree.open) {
        await this.#send({ dir, depth: 0 }, 'broken', [], false).catch(() => undefined);
      }
      this.#listingFailed(this.#roots[0]!, error, this.#dirsListed === 0 && tree.open.size === 0);
    }
  }

  /**
   * {@link #sendTreeListing} of the common piece of a local walk, without a promise: a packed
   * (whole) listing of a directory whose rules are settled, inert and not changed by a marker
   * file in it, that holds no `.ts` / `.mts` to classify, with room in the memory budget and
   * the channel now. Each await of the general path was a promise and a resumption per
   * listing (~15 MB of a 200,000-file dry run's garbage). False, and nothing done, for any
   * other piece: the general path takes it, and says why when it is refused.
   */
  #sendPackedNow(listing: TreeListing, tree: TreeState): boolean {
    if (!(listing instanceof PackedListing) || this.#internal.signal.aborted) return false;
    const dir = listing.dir;
    if (tree.open.has(dir) || tree.failed.has(dir)) return false;
    const rules = tree.rules.rulesFor(dir);
    if (!rules?.inert || (this.#markers && findPackedMarkers(listing))) return false;
    if (this.#outOfBounds({ dir, depth: depthOf(dir) }) || hasAmbiguousPacked(listing))
      return false;
    try {
      checkPacked(listing);
    } catch {
      return false;
    }
    const bytes = packedBytes(listing);
    if (!this.#budget.tryAcquire(bytes)) return false;
    const part = new PackedPart(listing, 'whole', bytes, undefined, undefined);
    if (!this.#channel.tryPut(part, listing.count + 1)) {
      this.#budget.release(bytes);
      return false;
    }
    this.#treeListed(dir);
    this.#dirsListed++;
    return true;
  }

  /**
   * One piece of a tree listing. A directory whose piece is refused (out of bounds, breaking
   * the contract) is recorded once and the rest of its pieces are dropped: it is reconciled
   * as far as it got and nothing in it is deleted.
   */
  async #sendTreeListing(listing: TreeListing, tree: TreeState): Promise<void> {
    // Not `entries`: a packed listing would make them (see PackedListing).
    const { dir, more } = listing;
    const item = { dir, depth: 0 };
    if (listing.error !== undefined) {
      // This directory only: what went out of it is applied, nothing in it is deleted.
      this.#treeListed(dir);
      if (tree.open.delete(dir)) await this.#send(item, 'broken', [], false);
      tree.failed.delete(dir);
      this.#listingFailed(dir, listing.error);
      return;
    }
    if (!more) this.#treeListed(dir);
    if (tree.failed.has(dir)) {
      if (!more) tree.failed.delete(dir);
      return;
    }
    const ruled = this.#treeRules(listing, tree);
    const rules = ruled instanceof Promise ? await ruled : ruled;
    if (!rules) {
      // Excluded (or under an excluded directory): the storage listed it all the same, but
      // none of it is used. A piece already sent before an ancestor's marker came is closed.
      if (tree.open.delete(dir)) await this.#send(item, 'broken', [], false);
      return;
    }
    let kind: PartKind;
    if (more) kind = 'page';
    else kind = tree.open.has(dir) ? 'last' : 'whole';
    try {
      const outOfBounds = this.#outOfBounds({ dir, depth: depthOf(dir) });
      if (outOfBounds) throw outOfBounds;
      // A tree listing brings every directory itself: nothing to queue for the listers.
      // Packed, it stays so unless a rule may exclude some of it.
      const sent =
        listing instanceof PackedListing && rules.inert
          ? listing
          : excludeEntries(listing.entries, rules);
      await this.#send(item, kind, sent, false);
    } catch (error) {
      if (tree.open.delete(dir)) await this.#send(item, 'broken', [], false);
      if (more) tree.failed.add(dir);
      this.#listingFailed(dir, error, false);
      return;
    }
    if (more) tree.open.add(dir);
    else {
      tree.open.delete(dir);
      this.#dirsListed++;
    }
  }

  /**
   * The rules for a piece of a tree listing, settling its directory's marker files on its
   * first piece; undefined when none of it is to be used. A tree listing cannot be asked for
   * one directory again, so a marker that comes in a later piece (after some of the
   * directory went out) is reported and not applied.
   */
  #treeRules(
    listing: TreeListing,
    tree: TreeState,
  ): Exclusions | undefined | Promise<Exclusions | undefined> {
    const rules = tree.rules.rulesFor(listing.dir);
    if (!rules || !this.#markers) return rules;
    const found =
      listing instanceof PackedListing ? findPackedMarkers(listing) : findMarkers(listing.entries);
    if (found) return this.#markedRules(listing, tree, rules, found);
    // A large directory's markers may come in a later piece: asked for before its first
    // goes out, as a walk by directory does (below, in #listDirectory).
    if (listing.large && listing.more && !tree.open.has(listing.dir) && this.#deps.storage.readHead)
      return this.#probedRules(listing, tree, rules);
    // Most directories hold no marker: their rules without a promise of their own.
    return rules;
  }

  /**
   * {@link #treeRules} of a large directory's first piece that shows no marker: the storage
   * is asked for them. One that will not answer leaves the parent's rules (a marker that then
   * comes late is reported, as over a storage that reads no files).
   */
  async #probedRules(
    listing: TreeListing,
    tree: TreeState,
    rules: Exclusions,
  ): Promise<Exclusions | undefined> {
    const storage = this.#deps.storage;
    const signal = this.#internal.signal;
    let markers: Map<string, Marker>;
    try {
      markers = await probeMarkers(listing.dir, storage.readHead!.bind(storage), signal);
    } catch (error) {
      if (!(error instanceof MarkerError) || signal.aborted) throw error;
      return rules;
    }
    if (markers.size === 0) return rules;
    return this.#markedRules(listing, tree, rules, markers);
  }

  /** {@link #treeRules} of a piece that holds marker files. */
  async #markedRules(
    listing: TreeListing,
    tree: TreeState,
    rules: Exclusions,
    found: Map<string, Marker>,
  ): Promise<Exclusions | undefined> {
    const { dir } = listing;
    if (!tree.open.has(dir)) {
      const storage = this.#deps.storage;
      try {
        const own = await rulesFor(
          dir,
          found,
          rules,
          storage.readHead?.bind(storage),
          this.#internal.signal,
        );
        tree.rules.mark(dir, own, found.keys());
        return own;
      } catch (error) {
        if (!(error instanceof MarkerError)) throw error;
        tree.rules.mark(dir, 'unreadable', found.keys());
        this.#recordError(error.path, error.code, error.message);
        return undefined;
      }
    }
    const known = tree.rules.markerNames(dir);
    const late = [...found.keys()].filter((name) => !known?.has(name));
    if (late.length > 0) {
      this.#recordError(
        dir,
        'MARKER_LATE',
        `${late.join(', ')} came after part of ${dir} was indexed (this storage lists whole trees at once), so it was not applied; exclude the directory by a pattern instead`,
      );
    }
    return rules;
  }

  /** A directory of a tree walk is done with: no longer queued (see {@link #treeQueued}). */
  #treeListed(dir: string): void {
    if (dir !== this.#roots[0] && this.#treeQueued > 0) this.#treeQueued--;
  }

  #listingFailed(
    dir: string,
    error: unknown,
    isRoot = this.#roots.length === 1 && dir === this.#roots[0],
  ): void {
    if (this.#internal.signal.aborted) return; // cancelled or already failing: not the directory's fault
    const e = toStorageError(error, dir);
    // The directory whose listing failed, whatever path the error carries (a reconnect's `/`).
    this.#recordError(dir, e.code, e.message);
    this.#counters.invalidEntries += e.invalidEntries ?? 0;
    if (e.code === 'INTERNAL') {
      // A bug, not a property of the storage: fail loudly rather than pass as `partial`.
      this.#fatal = e;
      this.#stop();
    } else if (isRoot) {
      // A root that cannot be listed (storage offline, root gone) fails the scan and must
      // change nothing: there is nothing to reconcile, and nothing else was queued.
      this.#rootFailed = true;
      this.#stop();
    }
  }

  #recordError(path: string, code: string, message: string): void {
    this.#counters.errors++;
    if (this.#counters.errorSample.length < (this.#opts.errorSampleSize ?? 20)) {
      this.#counters.errorSample.push({ path, code, message });
    }
  }

  /**
   * One batch at a time, in order, with the next batch taken and its index reads started
   * while this one is diffed and written (Reconciler.prefetch decides whether those reads
   * can be used). Batches commit strictly in order; with an index that commits in call
   * order the reconciler hands a batch on and returns before it commits (Reconciler.reconcile),
   * so the next is diffed while it is written — its memory charge is returned when it is
   * handed on, one batch early. A batch taken ahead when the scan stops or a write fails is
   * dropped unwritten, like what is left in the channel; batches already handed on are
   * waited for, and counted, before the scan ends.
   */
  async #reconcileLoop(): Promise<void> {
    let ahead: Promise<Prefetch> | undefined;
    try {
      let next = await this.#take();
      while (next.batch.length > 0) {
        const { batch } = next;
        try {
          // Draining after a stop: drop, write nothing more.
          if (!this.#internal.signal.aborted) {
            const reconciled = this.#reconciler.reconcile(batch, next);
            ahead = this.#take();
            await reconciled;
          }
        } finally {
          this.#release(batch);
        }
        next = ahead ? await ahead : await this.#take();
        ahead = undefined;
      }
      await this.#reconciler.drain();
    } catch (error) {
      await this.#reconciler.settle();
      const code = (error as { code?: unknown } | null)?.code;
      // The caller cancelled while a write was in flight and the index gave up on it (its
      // transaction rolled back whole): a cancelled scan, not an index failure.
      if (!(this.#cancelled && code === 'CANCELLED')) {
        this.#fatal = error;
        const message = error instanceof Error ? error.message : String(error);
        if (error instanceof SinkError) this.#recordError(ROOT, 'CHANGE_SINK', message);
        else {
          // The runner hands in a guarded index (db/guard.ts): its errors name the cause
          // (INDEX_LOCKED, INDEX_DISK_FULL, INDEX_CONNECTION_LOST…); anything else is INDEX.
          const cause = typeof code === 'string' && code.startsWith('INDEX') ? code : 'INDEX';
          this.#recordError(ROOT, cause, `index write failed: ${message}`);
        }
        this.#stop();
      }
      // The batch taken ahead is never written: the stop closed the channel, so its take
      // returns, and its reads (if any) are dropped unawaited.
      if (ahead) this.#release((await ahead).batch);
    }
  }

  /** The next batch from the channel, its index reads started (see Reconciler.prefetch). */
  async #take(): Promise<Prefetch> {
    const batch = await this.#channel.takeBatch(this.#batchEntries, this.#batchMs);
    if (batch.length === 0 || this.#internal.signal.aborted) {
      return { batch, committed: 0, children: undefined, digests: undefined };
    }
    return this.#reconciler.prefetch(batch);
  }

  #release(batch: readonly ListingPart[]): void {
    for (const part of batch) {
      this.#budget.release(part.bytes);
      part.reconciled?.();
    }
  }

  #stop(): void {
    if (this.#internal.signal.aborted) return;
    this.#internal.abort(new StorageError('CANCELLED', 'scan stopped'));
    this.#frontier.stop();
    for (const part of this.#channel.discard()) {
      this.#budget.release(part.bytes);
      part.reconciled?.();
    }
  }

  #status(): FinalStatus {
    if (this.#fatal !== undefined || this.#rootFailed) return 'failed';
    if (this.#cancelled) return 'cancelled';
    return this.#counters.errors > 0 ? 'partial' : 'succeeded';
  }

  #result(): ScanResult {
    const stats = this.#deps.storageStats?.();
    return {
      ...this.#counters,
      retries: stats?.retries ?? 0,
      rateLimitWaits: stats?.rateLimitWaits ?? 0,
      durationMs: Date.now() - this.#started,
      status: this.#status(),
    };
  }

  #emitProgress(): void {
    const onProgress = this.#opts.onProgress;
    if (!onProgress) return;
    const c = this.#counters;
    const stats = this.#deps.storageStats?.();
    const progress: ScanProgress = {
      dirsListed: this.#dirsListed,
      dirsQueued: this.#frontier.outstanding + this.#treeQueued,
      dirs: c.dirs,
      files: c.files,
      bytes: c.bytes,
      created: c.created,
      updated: c.updated,
      deleted: c.deleted,
      unchanged: c.unchanged,
      skipped: c.skipped,
      errors: c.errors,
      retries: stats?.retries ?? 0,
      rateLimitWaits: stats?.rateLimitWaits ?? 0,
      elapsedMs: Date.now() - this.#started,
    };
    try {
      onProgress(progress);
    } catch {
      // A display that fails (a closed terminal) must not take the scan down from a timer.
    }
  }
}

/** Directories of a tree listing whose pieces are still coming, and those refused. */
interface TreeState {
  open: Set<string>;
  failed: Set<string>;
  rules: TreeExclusions;
}

/** Exclude patterns as given: strings without line breaks (a pattern is one line). */
function checkPatterns(name: string, patterns: readonly string[] | undefined): readonly string[] {
  for (const p of patterns ?? []) {
    if (typeof p !== 'string' || /[\r\n\0]/.test(p)) {
      throw new RangeError(
        `Expected \`${name}\` to hold gitignore patterns, one line each, got ${JSON.stringify(p)}`,
      );
    }
  }
  return patterns ?? [];
}

/** A path as the storage contract writes them: `/`, or `/a/b` without `.`/`..`/empty segments. */
function isStoragePath(path: string): boolean {
  if (path === ROOT) return true;
  if (!path.startsWith('/') || path.endsWith('/')) return false;
  return path
    .slice(1)
    .split('/')
    .every((s) => s !== '' && s !== '.' && s !== '..');
}

/** Depth below the root: `/` is 0, `/a` is 1, `/a/b` is 2. */
function depthOf(path: string): number {
  if (path === ROOT) return 0;
  let depth = 0;
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 47) depth++;
  return depth;
}
