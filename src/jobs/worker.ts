import { DelayedError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { App } from '../app.js';
import { classifyIndexError, IndexError, type IndexErrorCode } from '../db/errors.js';
import type { ScanResult } from '../scan/result.js';
import { redisOptions } from './redis.js';
import { enqueueScan } from './enqueue.js';
import type { ScanRunner } from './scan-runner.js';
import { OutboxRelay } from './outbox-relay.js';
import { scanUnderLease } from './scan-job.js';
import { queuePrefix, SCAN_QUEUE, type ScanJobData } from './scan-queue.js';
import { FleetTenantScans, LocalTenantScans, type TenantScans } from './tenant-scans.js';
import { ScheduleTriggers } from './schedule-triggers.js';

export interface ScanWorkerOptions {
  /** Scans this process runs at once. @default 2 */
  concurrency?: number;
  /** This process's name in leases, scan rows and logs. */
  workerId: string;
  /** A job whose storage another worker scans is retried this much later. @default 5000 */
  heldDelayMs?: number;
  /**
   * How long a job stays this worker's without a sign of life before another may take it
   * (BullMQ's lock); also how often stalled jobs are looked for. @default the lease TTL
   */
  lockMs?: number;
  /** One line per event worth telling (a scan's end, a job delayed, an error). */
  onEvent?: (event: WorkerEvent) => void;
  /** How often the storages' job schedulers are reconciled with the index. @default 300000 */
  reconcileEveryMs?: number;
}

export type WorkerEvent =
  | { kind: 'scanned'; jobId: string; storageId: number; scanId: number | null; result: ScanResult }
  | { kind: 'held'; jobId: string; storageId: number; holder: string | undefined }
  | { kind: 'tenant-busy'; jobId: string; storageId: number; tenantId: number; max: number }
  | { kind: 'scheduled'; storageId: number; jobId: string; created: boolean }
  | {
      kind: 'index-unavailable';
      jobId: string;
      storageId: number;
      code: IndexErrorCode;
      message: string;
      delayMs: number;
    }
  | { kind: 'skipped'; jobId: string; storageId: number; why: string }
  | { kind: 'interrupted'; scanIds: number[] }
  | { kind: 'error'; message: string };

/**
 * A worker of the fleet: takes scan jobs from the queue and runs each under its storage's
 * lease. A job whose storage is being scanned elsewhere is delayed, never run twice; a job
 * whose worker dies is taken again once BullMQ's lock on it lapses, and the storage's lease
 * with it. Every lease period it also marks `interrupted` the scans whose workers died
 * without a successor (no row stays `running` forever), and relays committed change events
 * from the outbox to the `changes` queue.
 */
export class ScanWorker implements ScanRunner {
  readonly #app: App;
  readonly #o: Required<Omit<ScanWorkerOptions, 'onEvent' | 'reconcileEveryMs'>> &
    Pick<ScanWorkerOptions, 'onEvent' | 'reconcileEveryMs'>;
  readonly #running = new Set<AbortController>();
  readonly #tenantScans: TenantScans;
  #worker: Worker | undefined;
  #relay: OutboxRelay | undefined;
  #triggers: ScheduleTriggers | undefined;
  #reaper: NodeJS.Timeout | undefined;
  /** Jobs put back in a row because the index was away: the backoff's exponent. */
  #outages = 0;
  #stopping = false;

  constructor(app: App, options: ScanWorkerOptions) {
    this.#app = app;
    this.#o = {
      concurrency: options.concurrency ?? 2,
      workerId: options.workerId,
      heldDelayMs: options.heldDelayMs ?? 5_000,
      lockMs: options.lockMs ?? app.leaseTtlMs,
      onEvent: options.onEvent,
      reconcileEveryMs: options.reconcileEveryMs,
    };
    this.#tenantScans = app.gates
      ? new FleetTenantScans(app.gates, app.tenantMaxScans)
      : new LocalTenantScans(app.tenantMaxScans);
  }

  /** BullMQ hands jobs to the workers as they come: nothing to wake. */
  wake(): void {}

  /** Scans running now. */
  get active(): number {
    return this.#running.size;
  }

  start(redisUrl: string | undefined = this.#app.redisUrl): void {
    if (!redisUrl) throw new Error('a fleet worker needs TRAWL_REDIS_URL');
    const lockMs = this.#o.lockMs;
    this.#worker = new Worker(SCAN_QUEUE, (job, token) => this.#guarded(job, token), {
      connection: redisOptions(redisUrl) as ConnectionOptions,
      prefix: queuePrefix(this.#app.redisPrefix),
      concurrency: this.#o.concurrency,
      lockDuration: lockMs,
      stalledInterval: lockMs,
      // A job whose worker died mid-scan is taken again: a few deaths in a row are tolerated.
      maxStalledCount: 3,
    });
    this.#worker.on('error', (error) => this.#tell({ kind: 'error', message: error.message }));
    // Every worker runs the outbox relay; a lock in Redis lets one at a time move events.
    this.#relay = new OutboxRelay(
      this.#app.index.db,
      this.#app.redis!,
      redisUrl,
      queuePrefix(this.#app.redisPrefix),
      this.#app.leaseTtlMs,
    );
    this.#relay.start();
    // Every worker serves the schedules: reconciles them now, turns their triggers into scans.
    this.#triggers = new ScheduleTriggers(this.#app, this.#app.schedules!, {
      ...(this.#o.reconcileEveryMs ? { reconcileEveryMs: this.#o.reconcileEveryMs } : {}),
      onEvent: (event) => this.#tell(event),
    });
    this.#triggers.start(redisOptions(redisUrl), queuePrefix(this.#app.redisPrefix));
    const every = Math.max(50, this.#app.leaseTtlMs);
    this.#reaper = setInterval(() => void this.reap(), every);
    this.#reaper.unref();
  }

  /**
   * Marks `interrupted` the running scans whose heartbeat stopped more than three lease
   * periods ago and whose storage nobody holds: their workers died and nothing took over.
   */
  async reap(): Promise<number[]> {
    try {
      const staleBefore = Date.now() - 3 * this.#app.leaseTtlMs;
      const ids = await this.#app.index.scans.interruptStale(
        staleBefore,
        async (storageId) => (await this.#app.leases.holderOf(storageId)) !== undefined,
      );
      if (ids.length) this.#tell({ kind: 'interrupted', scanIds: ids });
      return ids;
    } catch (error) {
      this.#tell({ kind: 'error', message: `reaper: ${(error as Error).message}` });
      return [];
    }
  }

  /**
   * Drains: takes no more jobs, cancels the scans running (every batch written stays whole;
   * each storage is queued again so another worker finishes it), gives their leases back.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#reaper) clearInterval(this.#reaper);
    const triggers = this.#triggers?.stop();
    const closing = this.#worker?.close();
    for (const c of this.#running) c.abort();
    await closing;
    await triggers;
    // After the scans: their last batches' events are in the outbox, relayed now or by
    // the next worker.
    await this.#relay?.relayOnce().catch(() => undefined);
    await this.#relay?.stop();
  }

  /**
   * A job that meets its index away (PostgreSQL restarting, a link cut: the storage cannot be
   * read, the lease's fence cannot be bumped, or the scan failed because its writes did) is
   * put back with a backoff (1 s doubling to 1 min) instead of failing: BullMQ would give it
   * up after its one attempt, and the scan with it. It runs once the index is back.
   */
  async #guarded(job: Job, token: string | undefined): Promise<unknown> {
    try {
      const out = await this.#process(job, token);
      this.#outages = 0;
      return out;
    } catch (error) {
      const code = classifyIndexError(error);
      if (error instanceof DelayedError) throw error;
      if (!code || !OUTAGES.has(code)) {
        // The job fails for good (one attempt): its waiting row must not stay `queued`.
        await this.#app.index.scans
          .failQueued(job.id ?? '', code ?? 'JOB_FAILED', (error as Error).message)
          .catch(() => undefined);
        throw error;
      }
      const delayMs = Math.min(60_000, 1_000 * 2 ** this.#outages++) * (1 + Math.random() / 5);
      this.#tell({
        kind: 'index-unavailable',
        jobId: job.id ?? '',
        storageId: (job.data as ScanJobData).storageId,
        code,
        message: (error as Error).message,
        delayMs: Math.round(delayMs),
      });
      await job.moveToDelayed(Date.now() + delayMs, token);
      throw new DelayedError();
    }
  }

  async #process(job: Job, token: string | undefined): Promise<unknown> {
    const data = job.data as ScanJobData;
    const jobId = job.id ?? '';
    const storage = await this.#app.index.storages.get(data.storageId);
    if (!storage || !storage.enabled) {
      const why = storage ? 'the storage is disabled' : 'the storage was deleted';
      // No scan will run for this job: its `queued` row goes too (a deleted storage's went).
      const queued = await this.#app.index.scans.queuedFor(jobId);
      if (queued !== undefined) await this.#app.index.scans.dropQueued(queued);
      this.#tell({ kind: 'skipped', jobId, storageId: data.storageId, why });
      return { skipped: why };
    }
    // Cancelled through the API while it waited: nothing to run.
    if (await this.#app.index.scans.jobCancelled(jobId)) {
      this.#tell({ kind: 'skipped', jobId, storageId: data.storageId, why: 'it was cancelled' });
      return { skipped: 'cancelled' };
    }
    // The job names the config version it was made for; whatever this process holds, the
    // storage's current config is what the scan must use (a change reaches every worker).
    await this.#app.storage.refresh(storage.id);
    // The tenant's quota of running scans first: a tenant at its cap waits its turn while
    // the workers take other tenants' jobs (the job comes back after the delay).
    const slot = await this.#tenantScans.tryTake(storage.tenantId);
    if (!slot) {
      const max = this.#tenantScans.max;
      this.#tell({
        kind: 'tenant-busy',
        jobId,
        storageId: storage.id,
        tenantId: storage.tenantId,
        max,
      });
      await job.moveToDelayed(Date.now() + this.#o.heldDelayMs * (1 + Math.random() / 5), token);
      throw new DelayedError();
    }
    const controller = new AbortController();
    this.#running.add(controller);
    try {
      const outcome = await scanUnderLease(
        this.#app,
        storage,
        { signal: controller.signal },
        { workerId: this.#o.workerId, jobId },
      );
      if ('held' in outcome) {
        this.#tell({
          kind: 'held',
          jobId,
          storageId: storage.id,
          holder: outcome.held.holder?.holder,
        });
        await job.moveToDelayed(Date.now() + this.#o.heldDelayMs, token);
        throw new DelayedError();
      }
      const result = outcome.ran;
      this.#tell({ kind: 'scanned', jobId, storageId: storage.id, scanId: result.scanId, result });
      // Failed because its index did, not its storage: the job is put back (see #guarded).
      const outage = result.errorSample.find((e) => OUTAGES.has(e.code as IndexErrorCode));
      if (result.status === 'failed' && outage) {
        throw new IndexError(`scan ${result.scanId ?? ''}: ${outage.message}`, {
          code: outage.code as IndexErrorCode,
        });
      }
      // Drained mid-scan, or stopped by a lease lost that nobody took over (a long stall of
      // this process): the storage is queued again, so the trigger is not used up. (When a
      // successor took it over, that successor's scan is the one that counts.)
      if (result.status === 'cancelled' && (this.#stopping || outcome.orphaned)) {
        await enqueueScan(this.#app, storage, 'retry').catch(() => undefined);
      }
      return { scanId: result.scanId, status: result.status };
    } finally {
      this.#running.delete(controller);
      slot.release();
    }
  }

  #tell(event: WorkerEvent): void {
    try {
      this.#o.onEvent?.(event);
    } catch {
      // a display that fails must not fail a job
    }
  }
}

/** Index failures that pass: the database is restarting, unreachable, or slow for a while. */
const OUTAGES: ReadonlySet<IndexErrorCode> = new Set([
  'INDEX_CONNECTION_LOST',
  'INDEX_UNREACHABLE',
  'INDEX_TIMEOUT',
  'INDEX_LOCKED',
]);
