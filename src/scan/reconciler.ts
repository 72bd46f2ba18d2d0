import type {
  ApplyResult,
  ChildrenUnlessSame,
  EntryRepository,
  EntryScope,
  IndexedEntry,
  Removal,
} from '../db/entries.js';
import { ROOT } from '../storage/paths.js';
import {
  byPath,
  diffDirectory,
  diffFresh,
  diffSame,
  diffUnchanged,
  diffWhole,
  emptyDiff,
  mergeDiff,
  type DirDiff,
} from './diff.js';
import { listingDigest } from './listing-digest.js';
import { ListingTally, writtenBefore } from './listing-tally.js';
import type { ListingPart } from './parts.js';
import type { ChangeBatch, ChangeSink, ScanCounters } from './result.js';
import { SeenNames } from './seen-names.js';

export interface ReconcilerDeps {
  entries: EntryRepository;
  scope: EntryScope;
  counters: ScanCounters;
  /** Entries per transaction of a deletion sweep. */
  batchEntries: number;
  dryRun: boolean;
  onChanges?: ChangeSink | undefined;
  /** A directory's listing turned out unusable for deletion (duplicates). */
  recordError(path: string, code: string, message: string): void;
  /**
   * The salt of this scan's listing digests (listing-digest.ts's digestSalt), asked for at
   * the first digest. Undefined: no digest is read or written, every directory is compared
   * with its rows.
   */
  digestSalt?: (() => string) | undefined;
}

/** The batch is committed but downstream missed it: the scan must not pass as clean. */
/** A paged listing under way. */
interface PagedListing {
  /** The names its pages have shown so far. */
  seen: SeenNames;
  /**
   * The index held no child of the directory when its first page came (a first scan): every
   * entry is new, so its pages need no lookups and its end no deletion sweep.
   */
  fresh: boolean;
  /** What its committed parts added to the scan's counters. */
  tally: ListingTally;
}

/**
 * Index reads for a batch, taken while the batch before it was still being reconciled (see
 * {@link Reconciler.prefetch}); {@link Reconciler.reconcile} uses them only when the batches
 * in between cannot have changed a row they read.
 */
export interface Prefetch {
  readonly batch: readonly ListingPart[];
  /** Batches committed when the reads were taken. */
  readonly committed: number;
  /** The children of the batch's directories, or undefined when nothing was read ahead. */
  readonly children: Promise<ChildrenUnlessSame> | undefined;
  /** The listing digest of each part of the batch (null: none), as the reads used them. */
  readonly digests: readonly (string | null)[] | undefined;
}

/** What a batch's write can change, kept to judge the next batch's prefetched reads. */
interface Footprint {
  /** Only `whole` parts, none of a paged listing: no sweep, no paged state. */
  plain: boolean;
  /** Its directories: its upserts and removals are children of these. */
  dirs: Set<string>;
  /** Paths it removes (a directory: with its subtree). */
  removed: Set<string>;
}

export class SinkError extends Error {
  override name = 'SinkError';
}

/**
 * Writes what listings mean for the index, one batch (one transaction) at a time.
 *
 * A `whole` listing is diffed against the directory's indexed children, read for the whole
 * batch in one round trip: inserts, updates and deletions in one go. A paged listing is
 * diffed page by page against the rows at its paths (inserts and updates only), its names
 * remembered as hashes ({@link SeenNames}); when its `last` page has been applied, the
 * directory's indexed children are walked once and those not seen are deleted. A `broken`
 * listing deletes nothing. So no directory is ever held whole, and nothing is deleted on
 * the strength of a listing that did not complete.
 */
export class Reconciler {
  readonly #d: ReconcilerDeps;
  /** Paged listings under way: the names seen so far. */
  readonly #open = new Map<string, PagedListing>();
  /**
   * Directories being listed again after a listing was abandoned (a marker file came late):
   * the names of the files the abandoned listings wrote (see {@link writtenBefore}).
   */
  readonly #relisting = new Map<string, SeenNames[]>();
  /** Batches whose reconciliation has begun, and those that have committed. */
  #begun = 0;
  #committed = 0;
  /** What the last few batches write, by batch index (see {@link Footprint}). */
  readonly #footprints = new Map<number, Footprint>();
  /**
   * The index commits batches in the order they are handed to it (`appliesInOrder`), so a
   * plain batch is handed on before the one before it has committed (see {@link reconcile}).
   */
  readonly #handsOn: boolean;
  /** The completion (commit, counts, change events) of the batch handed on last, if pending. */
  #inflight: Promise<void> | undefined;
  /** A write handed on has failed: nothing more is handed on (the scan is stopping). */
  #handOnFailed = false;
  /** This scan's digest salt, made at the first digest. */
  #salt: string | undefined;

  constructor(deps: ReconcilerDeps) {
    this.#d = deps;
    this.#handsOn = deps.entries.appliesInOrder === true && !deps.dryRun;
  }

  /** Paged listings whose last page has not come (for tests). */
  get openListings(): number {
    return this.#open.size;
  }

  /**
   * Starts reading the index for `batch`, the batch after the one being reconciled, so that
   * its reads overlap the previous batch's diff and write. Only the children of a batch of
   * `whole` parts are read ahead, and only while no paged listing is open: paged parts carry
   * state (#open, #relisting) and a deletion sweep, and stay strictly sequential. Whether the
   * reads can be used is decided when the batch is reconciled (see {@link reconcile}).
   */
  prefetch(batch: readonly ListingPart[]): Prefetch {
    const committed = this.#committed;
    // More batches than can be in flight (one, or two handed on) could write after the read.
    if (!isPlain(batch) || this.#open.size > 0 || this.#begun - committed > this.#depth) {
      return { batch, committed, children: undefined, digests: undefined };
    }
    const digests = this.#digests(batch);
    const children = this.#read(
      batch.map((p) => p.dir),
      digests,
    );
    // A read that is never used must not surface as an unhandled rejection; one that is used
    // rethrows its failure where it is awaited.
    children.catch(() => undefined);
    return { batch, committed, children, digests };
  }

  /**
   * The listing digest of each part of `batch`, or null: only a `whole` packed listing, not
   * decoded (no rule, marker or classification looked into it: see listing-digest.ts), not
   * a relisting, of a scan with a salt and an index that keeps digests, has one.
   */
  #digests(batch: readonly ListingPart[]): (string | null)[] | undefined {
    const salted = this.#d.digestSalt;
    if (salted === undefined || !this.#d.entries.childrenUnlessSame) return undefined;
    return batch.map((p) =>
      // The root has no row to hold one.
      p.kind === 'whole' &&
      p.packed &&
      !p.packed.decoded &&
      !p.video &&
      !p.relisted &&
      p.dir !== ROOT
        ? listingDigest(p.packed, (this.#salt ??= salted()))
        : null,
    );
  }

  /** The rows of `dirs`, except those of directories whose stored digest is theirs. */
  #read(
    dirs: readonly string[],
    digests: readonly (string | null)[] | undefined,
  ): Promise<ChildrenUnlessSame> {
    const { entries, scope } = this.#d;
    if (dirs.length === 0) {
      return Promise.resolve({ children: new Map(), same: new Set(), was: new Map() });
    }
    // No digest to compare (a listing not packed: a remote walk's, the bench's memory store).
    if (digests?.some((d) => d !== null) && entries.childrenUnlessSame) {
      return entries.childrenUnlessSame(scope, dirs, digests);
    }
    return entries
      .childrenOf(scope, dirs)
      .then((children) => ({ children, same: new Set<string>(), was: new Map() }));
  }

  /**
   * Reconciles one batch: reads, diffs, writes it in one transaction and counts it once
   * committed. `prefetched` holds reads taken earlier by {@link prefetch} for this batch.
   *
   * With an index that commits in call order (`appliesInOrder`: SQLite's single writer), a
   * batch of `whole` parts is handed on without waiting for its commit: this resolves once
   * the batch *before* it has committed and been counted, so the caller diffs the next batch
   * while this one is written (two batches in the writer's hands at most). Its own commit
   * and counts follow in order; {@link drain} waits for them. Any other batch waits for
   * every batch before it, and for its own commit, as without such an index.
   */
  async reconcile(batch: readonly ListingPart[], prefetched?: Prefetch): Promise<void> {
    const index = this.#begun++;
    const handOn = this.#handsOn && !this.#handOnFailed && isPlain(batch) && this.#open.size === 0;
    // A paged part's state and sweep are sequential: everything before it commits first.
    if (!handOn && this.#inflight) await this.drain();
    const { entries, scope } = this.#d;
    // Which parts belong to paged listings: a listing is paged from its first `page` on.
    const paged: boolean[] = [];
    const openNow = new Set(this.#open.keys());
    const wholeDirs: string[] = [];
    const pagedPaths: string[] = [];
    for (const p of batch) {
      if (p.kind === 'page' && !openNow.has(p.dir)) {
        openNow.add(p.dir);
        const fresh = await this.#isEmpty(p.dir);
        this.#open.set(p.dir, { seen: new SeenNames(), fresh, tally: new ListingTally(!fresh) });
      }
      const isPaged = openNow.has(p.dir);
      paged.push(isPaged);
      if (p.kind === 'last' || p.kind === 'broken') openNow.delete(p.dir);
      if (!isPaged) wholeDirs.push(p.dir);
      else if (!this.#open.get(p.dir)!.fresh) {
        for (const e of p.entries) if (!e.skip) pagedPaths.push(e.path);
      }
    }
    const ahead = this.#usable(prefetched, batch, index, paged);
    // No usable reads ahead: read once every batch before this one has committed.
    if (!ahead && this.#inflight) await this.drain();
    // The digest of each whole part, by directory (paged parts have none).
    // Taken with the reads ahead, used or not: a listing's digest is its own.
    const digests =
      prefetched?.batch === batch && prefetched.children
        ? prefetched.digests
        : this.#digests(batch);
    const digestOf = new Map<string, string | null>();
    if (digests) for (let i = 0; i < batch.length; i++) digestOf.set(batch[i]!.dir, digests[i]!);
    const [reads, atPaths] = await Promise.all([
      ahead ?? this.#read(wholeDirs, digests && wholeDirs.map((dir) => digestOf.get(dir) ?? null)),
      pagedPaths.length > 0 ? entries.lookup(scope, pagedPaths) : new Map<string, IndexedEntry>(),
    ]);
    // `was`: from the same probe as `same` and `children`, ahead or not.
    const { children, same, was } = reads;
    const diff = emptyDiff();
    const countOnly = this.#d.dryRun;
    // Each part's own diff, kept to count per listing; a whole listing not being listed
    // again is counted with its batch, so it goes straight into the batch's.
    const parts = batch.map((p, i) => {
      const before = this.#relisting.get(p.dir);
      const own = paged[i] || before ? emptyDiff() : diff;
      if (!paged[i] && p.kind === 'whole') {
        const digest = digestOf.get(p.dir) ?? null;
        // Its listing digest is the one stored with its rows (only a packed one has one).
        if (digest !== null && same.has(p.dir)) diffSame(p.packed!, own);
        else {
          const rows = children.get(p.dir);
          // New to the index (a first scan's directory, most of a dry run's): rows, or
          // counts, straight from the packed listing, without an object per entry in between.
          // Unchanged (most of a rescan's): counted against its rows in place.
          const packed = p.packed && !p.packed.decoded && !p.video ? p.packed : undefined;
          if (packed && (rows === undefined || rows.length === 0))
            diffFresh(packed, own, countOnly);
          else if (!packed || !diffUnchanged(packed, rows!, own))
            diffWhole(p.dir, p.entries, rows, own, p.video, countOnly);
          // Compared in full: its rows are what the listing makes once this batch commits,
          // unless another writer wrote under it since the probe (the store is refused then).
          const read = was.get(p.dir);
          if (digest !== null && !countOnly && read) {
            own.digests.push({ dir: p.dir, digest, was: read.value, row: read.row });
          }
        }
      } else if (!paged[i]) {
        const old = byPath(children.get(p.dir));
        diffDirectory(p.dir, p.entries, old, own, false, p.video, countOnly);
      } else {
        diffDirectory(p.dir, p.entries, atPaths, own, false, p.video, countOnly);
        const { seen } = this.#open.get(p.dir)!;
        for (const e of p.entries) if (!e.skip) seen.add(e.name);
      }
      if (before) own.unchangedFiles -= writtenBefore(own, p.entries, before);
      if (own !== diff) mergeDiff(diff, own);
      return own;
    });
    this.#footprints.set(index, {
      plain: !paged.includes(true) && isPlain(batch),
      dirs: new Set(batch.map((p) => p.dir)),
      removed: new Set(diff.removals.map((r) => r.path)),
    });
    // Older ones no read ahead can be judged by (see #usable).
    this.#footprints.delete(index - 4);
    if (handOn) {
      await this.#handOn(batch, diff);
      return;
    }
    await this.#write(diff);
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      if (paged[i]) await this.#tally(p.dir, parts[i]!);
      if (p.kind === 'whole' || p.kind === 'last' || (p.kind === 'broken' && !p.relisted)) {
        this.#relisting.delete(p.dir);
      }
      if (!paged[i]) continue;
      if (p.kind === 'last') await this.#sweep(p.dir);
      else if (p.kind === 'broken') this.#close(p.dir, p.relisted === true);
    }
    this.#committed++;
  }

  /**
   * The prefetched children of `batch`, when no write since they were read can have changed
   * a row they hold; otherwise undefined (they are read again, now that everything before
   * this batch has committed).
   *
   * The rule: reads taken for batch K are used only when every batch N that may have
   * committed after them (committed-at-read ≤ N < K: one batch, or two when batches are
   * handed on, see {@link reconcile}) is such that
   * - both N and K are plain (`whole` parts only, no paged listing open): a paged part's
   *   sweep deletes outside any listed directory's children, and its state is sequential;
   * - K shares no directory with N: N's upserts and removals are children of N's
   *   directories, so a row whose parent is a K directory is not one of them;
   * - no K directory is at or under a path N removes: removing a directory removes its
   *   subtree, whose rows are the children of directories under it (and a removed file may
   *   be a directory now).
   * Then every row K's read returned is as those commits left it, whether the read ran
   * before, during or after their transactions (another connection in PostgreSQL; WAL
   * snapshots in SQLite).
   */
  #usable(
    prefetched: Prefetch | undefined,
    batch: readonly ListingPart[],
    index: number,
    paged: readonly boolean[],
  ): Promise<ChildrenUnlessSame> | undefined {
    if (!prefetched?.children || prefetched.batch !== batch) return undefined;
    if (paged.includes(true) || !isPlain(batch)) return undefined;
    if (index - prefetched.committed > this.#depth) return undefined;
    // Every batch that may have committed after the reads (one, or two handed on).
    for (let j = prefetched.committed; j < index; j++) {
      const before = this.#footprints.get(j);
      if (!before?.plain) return undefined;
      for (const p of batch) {
        if (before.dirs.has(p.dir)) return undefined;
        if (before.removed.size > 0 && atOrUnderAny(p.dir, before.removed)) return undefined;
      }
    }
    return prefetched.children;
  }

  /** Batches that may commit after a read ahead is taken: the one being written, and one handed on. */
  get #depth(): number {
    return this.#handsOn ? 2 : 1;
  }

  /**
   * Waits for the batches handed on to commit and be counted; rejects with the first
   * failure among them.
   */
  async drain(): Promise<void> {
    await this.#inflight;
  }

  /** Waits for the batches handed on to finish, failed or not (a stopping scan's counts). */
  async settle(): Promise<void> {
    await this.#inflight?.catch(() => undefined);
  }

  /**
   * Hands a plain batch's write to the index (which commits in call order) and returns once
   * the batch before it has committed and been counted; this batch's own commit, counts and
   * change events follow in {@link #inflight}.
   */
  async #handOn(batch: readonly ListingPart[], diff: DirDiff): Promise<void> {
    const applying = this.#d.entries.apply(this.#d.scope, diff.removals, diff.writes, diff.digests);
    // Its failure surfaces through #inflight; meanwhile no batch is handed on behind it (on
    // the calling thread a write that fails has waited its busy timeout already).
    applying.catch(() => (this.#handOnFailed = true));
    const previous = this.#inflight;
    const done = this.#complete(batch, diff, applying, previous);
    this.#inflight = done;
    // Settled and nothing handed on since: the next batch need not wait at all. A failure
    // stays, so that every later drain rejects with it.
    done.then(
      () => {
        if (this.#inflight === done) this.#inflight = undefined;
      },
      () => undefined,
    );
    await previous;
  }

  async #complete(
    batch: readonly ListingPart[],
    diff: DirDiff,
    applying: Promise<ApplyResult>,
    previous: Promise<void> | undefined,
  ): Promise<void> {
    try {
      await previous;
    } catch (error) {
      // The batch before failed and the scan stops, but this one was handed on already:
      // what it committed is counted, so the counters still say what the index holds.
      // (Its change events are not handed to the sink: the scan fails either way.)
      const applied = await applying.catch(() => undefined);
      if (applied) this.#count(diff, applied);
      throw error;
    }
    const applied = await applying;
    this.#count(diff, applied);
    await this.#notify(changesOf(applied));
    for (const p of batch) this.#relisting.delete(p.dir);
    this.#committed++;
  }

  /** Forgets paged listings that will never complete (the scan stopped). */
  abandon(): void {
    this.#open.clear();
    this.#relisting.clear();
  }

  /** Adds a committed part's counts to its listing's tally. */
  async #tally(dir: string, part: DirDiff): Promise<void> {
    let deleted = 0;
    // Only a dry run takes deletions back (see ListingTally); a paged part removes only
    // entries whose type changed, so this is rarely a read.
    if (this.#d.dryRun) deleted = await this.#dryDeleted(part.removals);
    this.#open.get(dir)?.tally.add(part, part.unchangedFiles, deleted);
  }

  /**
   * A paged listing ends without completing. When the directory is listed again at once,
   * what this listing counted is taken back and the files it wrote are remembered, so the
   * relisting counts the directory as a clean scan would.
   */
  #close(dir: string, relisted: boolean): void {
    const listing = this.#open.get(dir);
    this.#open.delete(dir);
    if (!listing || !relisted) return;
    const dryRun = this.#d.dryRun;
    listing.tally.takeBack(this.#d.counters, dryRun);
    if (dryRun) return;
    // A fresh listing wrote every file it saw (see ListingTally.written).
    const written = listing.fresh ? listing.seen : listing.tally.written;
    written.seal();
    this.#relisting.set(dir, [...(this.#relisting.get(dir) ?? []), written]);
  }

  /** Files a dry run counts as deleted for these removals (a directory: its subtree's files). */
  async #dryDeleted(removals: readonly Removal[]): Promise<number> {
    const { entries, scope } = this.#d;
    let deleted = 0;
    for (const r of removals) {
      deleted += r.isDir ? (await entries.countSubtree(scope, r.path)).files : 1;
    }
    return deleted;
  }

  async #write(diff: DirDiff): Promise<void> {
    const { entries, scope, counters: c } = this.#d;
    if (this.#d.dryRun) {
      const deleted = await this.#dryDeleted(diff.removals);
      countListed(c, diff);
      c.created += diff.newFiles;
      c.updated += diff.changedFiles;
      c.deleted += deleted;
      return;
    }
    const applied = await entries.apply(scope, diff.removals, diff.writes, diff.digests);
    this.#count(diff, applied);
    await this.#notify(changesOf(applied));
  }

  /**
   * Counts a committed batch. Counted once committed: a batch that failed to write, or a scan
   * stopped before it, adds nothing, so a cancelled scan's counters say exactly what the
   * index holds.
   */
  #count(diff: DirDiff, applied: ApplyResult): void {
    const c = this.#d.counters;
    countListed(c, diff);
    const created = applied.created.filter((r) => !r.isDir).length;
    const updated = applied.updated.filter((r) => !r.isDir).length;
    c.created += created;
    c.updated += updated;
    c.deleted += applied.deleted.filter((r) => !r.isDir).length;
    // A write the database found already done (an overlapping scan got there first) is unchanged.
    c.unchanged += diff.newFiles + diff.changedFiles - created - updated;
  }

  /**
   * A paged listing is complete: every indexed child of `dir` it did not show has vanished.
   * One walk of the children in path order, deletions a batch at a time. (A listing that
   * named a name twice cannot be trusted to say what is missing: nothing is deleted.)
   */
  async #sweep(dir: string): Promise<void> {
    const listing = this.#open.get(dir);
    this.#open.delete(dir);
    if (!listing) return;
    const { seen, fresh } = listing;
    const repeats = seen.seal();
    if (repeats > 0) {
      this.#d.recordError(
        dir,
        'PROTOCOL',
        `the listing of ${dir} named ${repeats} ${repeats === 1 ? 'entry' : 'entries'} twice, so nothing in it was deleted`,
      );
      return;
    }
    // Nothing was indexed under it when its listing began: nothing can have vanished.
    if (fresh) return;
    const { entries, scope } = this.#d;
    const prefix = dir === ROOT ? 1 : dir.length + 1;
    let gone: Removal[] = [];
    for await (const e of entries.list(scope, dir)) {
      if (!seen.has(e.path.slice(prefix))) gone.push({ path: e.path, isDir: e.isDir });
      if (gone.length >= this.#d.batchEntries) {
        await this.#remove(gone);
        gone = [];
      }
    }
    if (gone.length > 0) await this.#remove(gone);
  }

  /** True when the index holds no child of `dir` (one short read). */
  async #isEmpty(dir: string): Promise<boolean> {
    for await (const _ of this.#d.entries.list(this.#d.scope, dir)) return false;
    return true;
  }

  async #remove(removals: Removal[]): Promise<void> {
    const { entries, scope, counters: c } = this.#d;
    if (this.#d.dryRun) {
      c.deleted += await this.#dryDeleted(removals);
      return;
    }
    const applied = await entries.apply(scope, removals, []);
    c.deleted += applied.deleted.filter((r) => !r.isDir).length;
    await this.#notify({ created: [], updated: [], deleted: applied.deleted.map((r) => r.id) });
  }

  async #notify(changes: ChangeBatch): Promise<void> {
    const sink = this.#d.onChanges;
    if (!sink || (!changes.created.length && !changes.updated.length && !changes.deleted.length)) {
      return;
    }
    try {
      await sink(changes);
    } catch (error) {
      throw new SinkError(`change sink failed: ${(error as Error)?.message ?? String(error)}`);
    }
  }
}

function changesOf(applied: ApplyResult): ChangeBatch {
  return {
    created: applied.created.map((r) => r.id),
    updated: applied.updated.map((r) => r.id),
    deleted: applied.deleted.map((r) => r.id),
  };
}

/** Only `whole` parts. */
function isPlain(batch: readonly ListingPart[]): boolean {
  return batch.every((p) => p.kind === 'whole');
}

/** True when `dir` or one of its ancestors is in `paths`. */
function atOrUnderAny(dir: string, paths: ReadonlySet<string>): boolean {
  if (paths.has(ROOT)) return true;
  for (let at = dir; at !== ROOT && at !== ''; at = at.slice(0, at.lastIndexOf('/'))) {
    if (paths.has(at)) return true;
  }
  return false;
}

function countListed(c: ScanCounters, diff: DirDiff): void {
  c.dirs += diff.dirs;
  c.files += diff.files;
  c.mediaFiles += diff.mediaFiles;
  c.bytes += diff.bytes;
  c.skipped += diff.skipped;
  c.unchanged += diff.unchangedFiles;
}
