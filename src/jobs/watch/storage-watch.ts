import type { App } from '../../app.js';
import type { StorageRecord } from '../../db/repositories/storages.js';
import type { RecordedScanResult } from '../../scan/runner.js';
import type { LocalOptions } from '../../storage/backends/local.js';
import { splitServiceOptions } from '../../storage/limits/options.js';
import { backendFor } from '../../storage/registry.js';
import { sleep } from '../../util/sleep.js';
import { workerName } from '../scan-job.js';
import { applyPlan, type Applied } from './apply.js';
import {
  DEFAULT_MAX_DIRTY,
  defaultOverflowEvents,
  DirectoryEvents,
  WatchError,
  type TakenPlan,
} from './events.js';
import type { ThreadConfig } from './watch-thread.js';

/** The safety net's period: a full rescan this often. */
export const DEFAULT_RESCAN_EVERY_MS = 6 * 3600_000;

export interface WatchOptions {
  /** A full rescan this often, whatever the events said; 0 never. @default 6 h */
  rescanEveryMs?: number;
  /** After the first change is seen, wait this long for more before applying them together. @default 200 */
  settleMs?: number;
  /** Directories marked before the set coarsens to whole subtrees. @default {@link DEFAULT_MAX_DIRTY} */
  maxDirty?: number;
  /** While another process holds the storage's lease, try again this often. @default 1000 */
  pollMs?: number;
  /** This process's name in the lease. @default `watch@host:pid` */
  workerId?: string;
  /** Told of each thing the watch does. */
  onActivity?: (activity: WatchActivity) => void;
  /** Thread settings (tests: a lower overflow threshold, a watch limit). */
  thread?: Partial<Pick<ThreadConfig, 'overflowEvents' | 'watchLimit'>>;
}

export type WatchActivity =
  | { kind: 'watching'; watches: number; unwatchable: string[] }
  | { kind: 'scan'; why: 'start' | 'rescan' | 'overflow' | 'coarsened'; result: RecordedScanResult }
  | {
      kind: 'applied';
      dirs: number;
      deep: number;
      coarsened: number;
      applied: Applied;
      durationMs: number;
    }
  | { kind: 'held'; holder: string | undefined }
  | { kind: 'retry'; error: string; delayMs: number };

/** Counters over a watch's life. */
export interface WatchStats {
  /** Plans applied (full scans included). */
  applies: number;
  fullScans: number;
  /** Directories listed by applies that were not full scans. */
  steps: number;
  created: number;
  updated: number;
  deleted: number;
  /** Kernel queue overflows seen (each a full rescan). */
  overflows: number;
  /** Times the dirty set outgrew its bound and coarsened. */
  coarsened: number;
  watches: number;
}

/**
 * `trawl watch`: keeps one local storage's index live from file-system events. Directories
 * that changed are marked by a watch thread ({@link DirectoryEvents}); a loop here takes the
 * marks, a burst at a time, and applies them under the storage's lease with the scan's own
 * rules ({@link applyPlan}). A full scan runs first (after every directory is watched, so no
 * change falls between), whenever the kernel's event queue overflowed, and every
 * {@link WatchOptions.rescanEveryMs} as a safety net.
 */
export class StorageWatch {
  readonly stats: WatchStats = {
    applies: 0,
    fullScans: 0,
    steps: 0,
    created: 0,
    updated: 0,
    deleted: 0,
    overflows: 0,
    coarsened: 0,
    watches: 0,
  };
  /** Resolves when the watch is stopped; rejects with a WatchError when it cannot go on. */
  readonly done: Promise<void>;
  readonly #app: App;
  readonly #storage: StorageRecord;
  readonly #events: DirectoryEvents;
  readonly #o: Required<Omit<WatchOptions, 'onActivity' | 'thread'>> &
    Pick<WatchOptions, 'onActivity'>;
  readonly #stop = new AbortController();
  #wake: (() => void) | undefined;
  #dirty = true; // the first pass takes the full scan marked at start
  #busy = false;
  #idleWaiters: Array<() => void> = [];
  #fatal: WatchError | undefined;
  #fullWhy: 'start' | 'rescan' | 'overflow' | 'coarsened' = 'start';

  private constructor(
    app: App,
    storage: StorageRecord,
    events: DirectoryEvents,
    options: WatchOptions,
  ) {
    this.#app = app;
    this.#storage = storage;
    this.#events = events;
    this.#o = {
      rescanEveryMs: options.rescanEveryMs ?? DEFAULT_RESCAN_EVERY_MS,
      settleMs: options.settleMs ?? 200,
      maxDirty: options.maxDirty ?? DEFAULT_MAX_DIRTY,
      pollMs: options.pollMs ?? 1000,
      workerId: options.workerId ?? workerName('watch'),
      onActivity: options.onActivity,
    };
    this.stats.watches = events.ready.watches;
    events.onDirty = () => this.#poke();
    events.onFatal = (error) => {
      this.#fatal = error;
      this.#stop.abort(error);
      this.#poke();
    };
    this.#o.onActivity?.({ kind: 'watching', ...events.ready });
    this.done = this.#loop().finally(() => this.#events.close());
  }

  /**
   * Watches `storage` (a local folder): resolves once every directory is watched and the
   * first full scan is under way. Throws a WatchError for a storage that cannot be watched.
   */
  static async start(
    app: App,
    storage: StorageRecord,
    options: WatchOptions = {},
  ): Promise<StorageWatch> {
    const local = localOptionsOf(storage);
    const events = await DirectoryEvents.start({
      root: local.root,
      follow: local.followSymlinks,
      maxDirty: options.maxDirty ?? DEFAULT_MAX_DIRTY,
      overflowEvents: options.thread?.overflowEvents ?? defaultOverflowEvents(),
      ...(options.thread?.watchLimit !== undefined
        ? { watchLimit: options.thread.watchLimit }
        : {}),
    });
    events.mark([], ['/']);
    return new StorageWatch(app, storage, events, options);
  }

  /** Stops watching; resolves when the apply under way (if any) has ended. */
  async stop(): Promise<void> {
    this.#stop.abort();
    this.#poke();
    await this.done.catch(() => undefined);
  }

  /**
   * Resolves when every change the watch has been told of is applied: nothing marked, nothing
   * being applied. (A change the thread has not read yet is not known: a caller that needs one
   * in particular waits for it to show in the index.)
   */
  idle(): Promise<void> {
    if (this.#fatal) return Promise.reject(this.#fatal);
    if (!this.#dirty && !this.#busy) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #poke(): void {
    this.#dirty = true;
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #loop(): Promise<void> {
    const signal = this.#stop.signal;
    let nextRescan = this.#o.rescanEveryMs > 0 ? Date.now() + this.#o.rescanEveryMs : Infinity;
    let failures = 0;
    while (!signal.aborted) {
      if (!this.#dirty) {
        for (const resolve of this.#idleWaiters.splice(0)) resolve();
        await this.#sleepUntil(nextRescan);
        if (signal.aborted) break;
        if (Date.now() >= nextRescan) {
          this.#fullWhy = 'rescan';
          this.#events.mark([], ['/']);
          nextRescan = Date.now() + this.#o.rescanEveryMs;
        }
        continue;
      }
      // A burst of changes is applied together: wait for it to settle a little.
      if (this.#o.settleMs > 0) await sleep(this.#o.settleMs, signal).catch(() => undefined);
      if (signal.aborted) break;
      this.#dirty = false;
      this.#busy = true;
      try {
        const outcome = await this.#applyOnce();
        if (outcome === 'held') {
          this.#dirty = true;
          await sleep(this.#o.pollMs, signal).catch(() => undefined);
        } else if (outcome === 'full' && this.#o.rescanEveryMs > 0) {
          nextRescan = Date.now() + this.#o.rescanEveryMs;
        }
        failures = 0;
      } catch (error) {
        if (signal.aborted) break;
        failures++;
        const delayMs = Math.min(30_000, 500 * 2 ** Math.min(failures, 6));
        this.#o.onActivity?.({ kind: 'retry', error: messageOf(error), delayMs });
        this.#dirty = true;
        await sleep(delayMs, signal).catch(() => undefined);
      } finally {
        this.#busy = false;
      }
    }
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
    if (this.#fatal) throw this.#fatal;
  }

  /** Takes the marks and applies them under the lease; 'held' when another process has it. */
  async #applyOnce(): Promise<'held' | 'empty' | 'applied' | 'full'> {
    const app = this.#app;
    const lease = await app.leases.tryAcquire(this.#storage.id, this.#o.workerId);
    if (!lease) {
      const holder = await app.leases.holderOf(this.#storage.id);
      this.#o.onActivity?.({ kind: 'held', holder: holder?.holder });
      return 'held';
    }
    let taken: TakenPlan | undefined;
    try {
      taken = await this.#events.take();
      this.#note(taken);
      const { plan } = taken;
      if (plan.shallow.length === 0 && plan.deep.length === 0) return 'empty';
      const started = Date.now();
      const applied = await applyPlan(app, this.#storage, plan, lease, this.#stop.signal);
      taken = undefined; // applied: nothing to give back
      this.#count(applied);
      if ('full' in applied) {
        this.#o.onActivity?.({ kind: 'scan', why: this.#fullWhy, result: applied.full });
        // The next full scan that is neither due nor after an overflow comes from a coarsened set.
        this.#fullWhy = 'coarsened';
        return 'full';
      }
      this.#o.onActivity?.({
        kind: 'applied',
        dirs: plan.shallow.length + plan.deep.length,
        deep: plan.deep.length,
        coarsened: plan.coarsened,
        applied,
        durationMs: Date.now() - started,
      });
      return 'applied';
    } finally {
      // Not applied (a failure, a stop): marked again, so the next pass brings it.
      if (taken) this.#events.mark(taken.plan.shallow, taken.plan.deep);
      await lease.release();
    }
  }

  #note(taken: TakenPlan): void {
    this.stats.watches = taken.watches;
    this.stats.coarsened += taken.plan.coarsened;
    if (taken.overflows > 0) {
      this.stats.overflows += taken.overflows;
      this.#fullWhy = 'overflow';
    }
  }

  #count(applied: Applied): void {
    this.stats.applies++;
    if ('full' in applied) {
      this.stats.fullScans++;
      this.stats.created += applied.full.created;
      this.stats.updated += applied.full.updated;
      this.stats.deleted += applied.full.deleted;
      return;
    }
    this.stats.steps += applied.steps;
    this.stats.created += applied.created;
    this.stats.updated += applied.updated;
    this.stats.deleted += applied.deleted;
  }

  #sleepUntil(at: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = at === Infinity ? undefined : setTimeout(resolve, Math.max(0, at - Date.now()));
      this.#wake = () => {
        if (timer) clearTimeout(timer);
        resolve();
      };
      if (this.#dirty || this.#stop.signal.aborted) this.#wake();
    });
  }
}

/** The folder and link rule of a local storage; a WatchError for any other kind. */
function localOptionsOf(storage: StorageRecord): LocalOptions {
  if (storage.kind !== 'local') {
    throw new WatchError(
      'WATCH_FAILED',
      `${storage.name} is a ${storage.kind} storage: only local folders can be watched (file-system events); schedule its scans instead (trawl storages edit ${storage.name} --every 6h)`,
    );
  }
  const { backend } = splitServiceOptions(storage.options);
  return backendFor('local').parseOptions(backend) as LocalOptions;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
