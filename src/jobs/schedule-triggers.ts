import { Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { RedisOptions } from 'ioredis';
import type { App } from '../app.js';
import { ScheduleRepository } from '../db/repositories/schedules.js';
import { enqueueScan } from './enqueue.js';
import {
  SCHEDULE_QUEUE,
  type FleetSchedules,
  type ReconcileResult,
  type ScheduleTriggerData,
} from './schedules.js';

/** What the trigger worker did with one trigger. */
export type TriggerEvent =
  | { kind: 'scheduled'; storageId: number; jobId: string; created: boolean }
  | { kind: 'skipped'; jobId: string; storageId: number; why: string }
  | { kind: 'error'; message: string };

export interface ScheduleTriggersOptions {
  /** How often the schedulers are reconciled with the storages table. @default 300000 */
  reconcileEveryMs?: number;
  onEvent?: (event: TriggerEvent) => void;
}

/**
 * The part of a fleet worker that serves the schedules: reconciles them when it starts (and
 * every few minutes), and turns each trigger into a queued scan. Every worker runs one; a
 * trigger is taken by one of them.
 */
export class ScheduleTriggers {
  readonly #app: App;
  readonly #schedules: FleetSchedules;
  readonly #repo: ScheduleRepository;
  readonly #o: ScheduleTriggersOptions;
  #worker: Worker | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(app: App, schedules: FleetSchedules, options: ScheduleTriggersOptions = {}) {
    this.#app = app;
    this.#schedules = schedules;
    this.#repo = new ScheduleRepository(app.index.db);
    this.#o = options;
  }

  start(connection: RedisOptions, prefix: string): void {
    this.#worker = new Worker(SCHEDULE_QUEUE, (job) => this.#trigger(job), {
      connection: connection as ConnectionOptions,
      prefix,
      concurrency: 4,
    });
    this.#worker.on('error', (error) => this.#tell({ kind: 'error', message: error.message }));
    void this.reconcile();
    this.#timer = setInterval(() => void this.reconcile(), this.#o.reconcileEveryMs ?? 300_000);
    this.#timer.unref();
  }

  /** Never throws: a failure is told, and the next reconcile tries again. */
  async reconcile(): Promise<ReconcileResult | undefined> {
    try {
      return await this.#schedules.reconcile();
    } catch (error) {
      this.#tell({ kind: 'error', message: `schedules: ${(error as Error).message}` });
      return undefined;
    }
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#worker?.close();
  }

  async #trigger(job: Job): Promise<unknown> {
    const { storageId } = job.data as ScheduleTriggerData;
    const jobId = job.id ?? '';
    const row = await this.#repo.one(storageId);
    const storage = row && (await this.#app.index.storages.get(storageId));
    if (!row || !storage) {
      // A scheduler left behind (its update was lost): removed, the trigger dropped.
      await this.#schedules.sync(storageId);
      const why = 'the storage has no schedule now (removed, disabled or unscheduled)';
      this.#tell({ kind: 'skipped', jobId, storageId, why });
      return { skipped: why };
    }
    if (await this.#app.leases.holderOf(storageId)) {
      const why = 'the storage is being scanned right now';
      this.#tell({ kind: 'skipped', jobId, storageId, why });
      return { skipped: why };
    }
    const queued = await enqueueScan(this.#app, storage, 'schedule');
    this.#tell({ kind: 'scheduled', storageId, jobId: queued.jobId, created: queued.created });
    return { jobId: queued.jobId, created: queued.created };
  }

  #tell(event: TriggerEvent): void {
    try {
      this.#o.onEvent?.(event);
    } catch {
      // a display that fails must not fail a trigger
    }
  }
}
