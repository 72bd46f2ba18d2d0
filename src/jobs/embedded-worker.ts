import { CronExpressionParser } from 'cron-parser';
import type { App } from '../app.js';
import type { QueuedScan } from '../db/repositories/scans.js';
import { ScheduleRepository, type ScheduledStorage } from '../db/repositories/schedules.js';
import { scanUnderLease } from './scan-job.js';
import { schedulerIdOf } from './schedules.js';
import { LocalTenantScans, type ScanSlot, type TenantScans } from './tenant-scans.js';
import type { WorkerEvent } from './worker.js';
import type { ScanRunner } from './scan-runner.js';

/**
 * When a schedule is next due, from the index's history alone: an interval, the last run's
 * start plus the interval (at once when it never ran); a cron expression, its first time
 * after the last run's start (after the storage's creation when it never ran). A time that
 * passed while no scheduler ran is due now, once: a restart neither loses a run nor doubles
 * one.
 */
export function dueAt(
  s: Pick<ScheduledStorage, 'everyMs' | 'cron' | 'lastStart' | 'createdAt'>,
): number {
  if (s.everyMs !== null) return s.lastStart === undefined ? 0 : s.lastStart + s.everyMs;
  const after = new Date(s.lastStart ?? s.createdAt);
  return CronExpressionParser.parse(s.cron!, { tz: 'UTC', currentDate: after }).next().getTime();
}

export interface EmbeddedWorkerOptions {
  /** This process's name in leases and scan rows. */
  workerId: string;
  /** Scans run at once. @default 2 */
  concurrency?: number;
  /**
   * The longest sleep between two looks at the schedules: other processes (the CLI) change
   * them meanwhile. @default 5000
   */
  pollMs?: number;
  onEvent?: (event: WorkerEvent) => void;
}

/**
 * The worker of embedded mode (no Redis): runs each storage's scheduled scans in this process
 * when they are due, under the storage's lease in the index — processes sharing one SQLite
 * file never scan one storage twice, and a due run one of them made is not made again by
 * another (it looks again once it holds the lease). The per-tenant cap on running scans holds
 * in this process.
 */
export class EmbeddedWorker implements ScanRunner {
  readonly #app: App;
  readonly #repo: ScheduleRepository;
  readonly #o: Required<Omit<EmbeddedWorkerOptions, 'onEvent'>> &
    Pick<EmbeddedWorkerOptions, 'onEvent'>;
  readonly #tenantScans: TenantScans;
  /** Storage id → the controller of its scan running here. */
  readonly #running = new Map<number, AbortController>();
  readonly #scans = new Set<Promise<void>>();
  /** The scan last told as holding a storage, so that a long one is told once. */
  readonly #told = new Map<number, number | undefined>();
  /** Storages found held by another process: not tried again before this time. */
  readonly #heldUntil = new Map<number, number>();
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(app: App, options: EmbeddedWorkerOptions) {
    this.#app = app;
    this.#repo = new ScheduleRepository(app.index.db);
    this.#o = {
      workerId: options.workerId,
      concurrency: options.concurrency ?? 2,
      pollMs: options.pollMs ?? 5_000,
      onEvent: options.onEvent,
    };
    this.#tenantScans = new LocalTenantScans(app.tenantMaxScans);
  }

  /** Scans running now. */
  get active(): number {
    return this.#running.size;
  }

  start(): void {
    this.#wake();
  }

  /**
   * One look at the schedules: starts every due scan there is room for (not awaited) and
   * resolves to when the next one is due. Never throws: a failure is told, and the next look
   * tries again.
   */
  async tick(): Promise<number> {
    const now = Date.now();
    let next = now + this.#o.pollMs;
    let rows: ScheduledStorage[];
    try {
      rows = await this.#repo.scheduled();
    } catch (error) {
      this.#tell({ kind: 'error', message: `schedules: ${(error as Error).message}` });
      return next;
    }
    // Scans asked for (the API's triggers) first, oldest first.
    let queued: QueuedScan[] = [];
    try {
      queued = await this.#app.index.scans.queued();
    } catch (error) {
      this.#tell({ kind: 'error', message: `queued scans: ${(error as Error).message}` });
    }
    for (const q of queued) {
      if (this.#stopped || this.#running.size >= this.#o.concurrency) break;
      if (this.#running.has(q.storageId) || (this.#heldUntil.get(q.storageId) ?? 0) > now) continue;
      const slot = await this.#tenantScans.tryTake(q.tenantId);
      if (!slot) continue;
      this.#launch(q.storageId, slot, (signal) => this.#runQueued(q, signal));
    }
    const due = new Map(
      rows.map((r) => [r.id, Math.max(dueAt(r), this.#heldUntil.get(r.id) ?? 0)] as const),
    );
    for (const row of rows.sort((a, b) => due.get(a.id)! - due.get(b.id)!)) {
      if (this.#stopped) break;
      if (this.#running.has(row.id)) continue;
      const at = due.get(row.id)!;
      if (at > now) {
        next = Math.min(next, at);
        continue;
      }
      if (this.#running.size >= this.#o.concurrency) break;
      const slot = await this.#tenantScans.tryTake(row.tenantId);
      if (!slot) continue; // its tenant's next scan starts when one of its scans ends
      this.#launch(row.id, slot, (signal) => this.#scan(row, signal));
    }
    return next;
  }

  /** Stops looking; cancels the scans running (each ends `cancelled`, its lease given back). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    for (const c of this.#running.values()) c.abort();
    await this.#ticking;
    await Promise.all(this.#scans);
  }

  /** Asks for a look now (a scan was queued), instead of at the next poll. */
  wake(): void {
    this.#wake();
  }

  #launch(storageId: number, slot: ScanSlot, run: (signal: AbortSignal) => Promise<void>): void {
    const controller = new AbortController();
    this.#running.set(storageId, controller);
    const scan = run(controller.signal)
      .catch((error: unknown) =>
        this.#tell({ kind: 'error', message: `storage ${storageId}: ${(error as Error).message}` }),
      )
      .finally(() => {
        this.#running.delete(storageId);
        slot.release();
        this.#scans.delete(scan);
        // Its history changed and a place is free: look again now.
        this.#wake();
      });
    this.#scans.add(scan);
  }

  async #scan(row: ScheduledStorage, signal: AbortSignal): Promise<void> {
    const jobId = schedulerIdOf(row.id);
    const storage = await this.#app.index.storages.get(row.id);
    if (!storage?.enabled) return;
    await this.#app.storage.refresh(storage.id);
    const outcome = await scanUnderLease(
      this.#app,
      storage,
      { signal },
      {
        workerId: this.#o.workerId,
        // Under the lease, the history again: another process may have just made this run.
        stillWanted: async () => {
          const now = await this.#repo.one(row.id);
          return now !== undefined && dueAt(now) <= Date.now();
        },
      },
    );
    if ('held' in outcome) {
      this.#heldUntil.set(row.id, Date.now() + Math.min(this.#o.pollMs, 1_000));
      const scanId = outcome.held.scanId;
      if (outcome.held.holder && this.#told.get(row.id) !== scanId) {
        this.#told.set(row.id, scanId);
        this.#tell({ kind: 'held', jobId, storageId: row.id, holder: outcome.held.holder.holder });
      }
      return;
    }
    this.#told.delete(row.id);
    this.#heldUntil.delete(row.id);
    const result = outcome.ran;
    this.#tell({ kind: 'scanned', jobId, storageId: row.id, scanId: result.scanId, result });
  }

  /** A scan asked for (a `queued` row): run under the lease, turning that row `running`. */
  async #runQueued(q: QueuedScan, signal: AbortSignal): Promise<void> {
    const scans = this.#app.index.scans;
    const storage = await this.#app.index.storages.get(q.storageId);
    if (!storage?.enabled) {
      // No scan will run for it: the row goes, as a fleet worker drops a disabled job's.
      await scans.dropQueued(q.id);
      this.#tell({
        kind: 'skipped',
        jobId: q.jobId,
        storageId: q.storageId,
        why: storage ? 'the storage is disabled' : 'the storage was deleted',
      });
      return;
    }
    await this.#app.storage.refresh(storage.id);
    const outcome = await scanUnderLease(
      this.#app,
      storage,
      { signal },
      {
        workerId: this.#o.workerId,
        jobId: q.jobId,
        // Cancelled (or taken by another process) while this one waited for the lease.
        stillWanted: async () => (await scans.queuedFor(q.jobId)) !== undefined,
      },
    );
    if ('held' in outcome) {
      this.#heldUntil.set(q.storageId, Date.now() + Math.min(this.#o.pollMs, 1_000));
      return;
    }
    const result = outcome.ran;
    this.#tell({
      kind: 'scanned',
      jobId: q.jobId,
      storageId: q.storageId,
      scanId: result.scanId,
      result,
    });
  }

  /** Looks at the schedules now (or right after the look under way), then when next due. */
  #wake(): void {
    if (this.#stopped) return;
    if (this.#ticking) {
      this.#again = true;
      return;
    }
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#ticking = (async () => {
      let next: number;
      do {
        this.#again = false;
        next = await this.tick();
      } while (this.#again && !this.#stopped);
      this.#ticking = undefined;
      if (this.#stopped) return;
      // A wait of at least a few ms: a due storage no slot could take is tried again soon,
      // not in a busy loop.
      const wait = Math.min(Math.max(next - Date.now(), 50), this.#o.pollMs);
      this.#timer = setTimeout(() => this.#wake(), wait);
    })();
  }

  #tell(event: WorkerEvent): void {
    try {
      this.#o.onEvent?.(event);
    } catch {
      // a display that fails must not fail a scan
    }
  }
}
