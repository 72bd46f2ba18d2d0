/**
 * Scheduled scans in a fleet: one BullMQ job scheduler per storage with a schedule, kept in
 * Redis (so schedules outlive every worker and fire once, whichever worker is up).
 *
 * A scheduler does not queue the scan itself: it fires a tiny *trigger* job on a queue of its
 * own, and the trigger's processor (schedule-triggers.ts) calls `enqueueScan`. Why: BullMQ's job schedulers
 * cannot carry `deduplication` (their template options omit it, and the jobs they make skip
 * the deduplication check), so a scheduler's scan job would sit beside a trigger's for the
 * same storage — two scans queued, the second a waste. Through `enqueueScan` a scheduled
 * scan collapses into one already waiting, gets its `queued` row like any other, and is
 * dropped when the storage is being scanned right now (the schedule is met). A queue of its
 * own keeps the triggers out of the scan queue's counts and off the scan workers' slots.
 *
 * The schedulers follow the storages table: {@link FleetSchedules.sync} after each change
 * of a storage (set, changed, removed, disabled, enabled), and a reconcile when a worker
 * starts and every few minutes — it adds what is missing and removes what is stale, so a
 * change made while Redis was away (or by a process without Redis) is not lost.
 */
import { Queue, type ConnectionOptions } from 'bullmq';
import type { RedisOptions } from 'ioredis';
import type { ScheduleRepository, ScheduledStorage } from '../db/repositories/schedules.js';

/** The queue of trigger jobs. */
export const SCHEDULE_QUEUE = 'schedules';

/** What a trigger carries: which storage is due. */
export interface ScheduleTriggerData {
  tenantId: number;
  storageId: number;
}

const ID_PREFIX = 'schedule-storage-';

/** The job scheduler of a storage's schedule. */
export function schedulerIdOf(storageId: number): string {
  return `${ID_PREFIX}${storageId}`;
}

export interface ReconcileResult {
  /** Schedulers made or changed to match their storage. */
  set: number;
  /** Schedulers of storages gone, disabled or without a schedule now. */
  removed: number;
}

/** The job schedulers of the fleet, made to follow the storages table. */
export class FleetSchedules {
  readonly queue: Queue;
  readonly #repo: ScheduleRepository;

  constructor(
    connection: RedisOptions,
    prefix: string,
    repo: ScheduleRepository,
    onError: (error: Error) => void = () => {},
  ) {
    this.queue = new Queue(SCHEDULE_QUEUE, { connection: connection as ConnectionOptions, prefix });
    // Heard, not printed by BullMQ: while Redis is away its client reconnects with backoff.
    this.queue.on('error', onError);
    this.#repo = repo;
  }

  /** Makes the storage's scheduler match its row: set, changed, or removed. */
  async sync(storageId: number): Promise<'set' | 'removed'> {
    const row = await this.#repo.one(storageId);
    if (row) {
      await this.#upsert(row);
      return 'set';
    }
    await this.queue.removeJobScheduler(schedulerIdOf(storageId));
    return 'removed';
  }

  /** Makes every scheduler match the storages table: adds the missing, removes the stale. */
  async reconcile(): Promise<ReconcileResult> {
    const want = new Map((await this.#repo.scheduled()).map((r) => [schedulerIdOf(r.id), r]));
    const result: ReconcileResult = { set: 0, removed: 0 };
    for (const have of await this.queue.getJobSchedulers(0, -1)) {
      if (!have.key.startsWith(ID_PREFIX)) continue;
      const row = want.get(have.key);
      if (!row) {
        // Looked up again by sync: a storage scheduled since the list was read keeps its own.
        if ((await this.sync(Number(have.key.slice(ID_PREFIX.length)))) === 'removed') {
          result.removed++;
        }
        continue;
      }
      const same =
        row.everyMs !== null
          ? Number(have.every) === row.everyMs && !have.pattern
          : have.pattern === row.cron && !have.every && (have.tz ?? 'UTC') === 'UTC';
      if (same) want.delete(have.key);
    }
    for (const row of want.values()) {
      await this.#upsert(row);
      result.set++;
    }
    return result;
  }

  async close(): Promise<void> {
    await this.queue.close();
  }

  /**
   * An interval's first run comes an interval after the last scan's start (now when it never
   * ran or that time passed), then every interval; a cron expression fires at its times, UTC.
   */
  async #upsert(row: ScheduledStorage): Promise<void> {
    const now = Date.now();
    const repeat =
      row.everyMs !== null
        ? {
            every: row.everyMs,
            ...(row.lastStart !== undefined && row.lastStart + row.everyMs > now
              ? { startDate: row.lastStart + row.everyMs }
              : {}),
          }
        : { pattern: row.cron!, tz: 'UTC' };
    const data: ScheduleTriggerData = { tenantId: row.tenantId, storageId: row.id };
    await this.queue.upsertJobScheduler(schedulerIdOf(row.id), repeat, {
      name: 'schedule',
      data,
      // A trigger that fails (the index away a moment) is tried again before it is given up.
      opts: {
        attempts: 5,
        backoff: { type: 'exponential', delay: 2_000 },
        removeOnComplete: 100,
        removeOnFail: 100,
      },
    });
  }
}
