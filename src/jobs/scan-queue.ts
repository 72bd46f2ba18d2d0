import { randomUUID } from 'node:crypto';
import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import type { Redis, RedisOptions } from 'ioredis';

/** What a scan job carries: ids and the storage's config version, never a config or a secret. */
export interface ScanJobData {
  tenantId: number;
  storageId: number;
  /** The storage's config version when the job was made: a worker with an older client reconnects. */
  version: number;
  /** Why: `trigger` (someone asked), `schedule`, `retry` (a drained worker gave it back). */
  reason: 'trigger' | 'schedule' | 'retry';
}

export interface Enqueued {
  /** The job that will run the scan: this trigger's own, or the one it collapsed into. */
  jobId: string;
  /** False when a scan of the storage was already waiting and this trigger joined it. */
  created: boolean;
  /** When the storage's scan was running: the job this one runs after. */
  after?: string | undefined;
}

export interface QueueCounts {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  completed: number;
}

/** The queue's name in Redis. */
export const SCAN_QUEUE = 'scans';

/**
 * Key prefix with a Redis Cluster hash tag: every key of trawl's queues lands in one slot,
 * so BullMQ's multi-key scripts run on a cluster unchanged.
 */
export function queuePrefix(name = 'trawl'): string {
  return `{${name}}`;
}

/** How long finished jobs are kept for `trawl jobs` and debugging. */
const KEEP = { age: 24 * 3600, count: 1000 };

/**
 * The fleet's scan queue (BullMQ on Redis). At most one waiting job per storage: a trigger
 * for a storage whose scan is already waiting collapses into that job (deduplication on
 * the storage id); while its scan runs, one more may wait (`keepLastIfActive`), so a change
 * made during a scan is never left for the next schedule.
 */
export class ScanQueue {
  readonly queue: Queue;
  readonly #redis: Redis | undefined;

  /** `redis`: a client to read the queue's deduplication state (see {@link enqueue}). */
  constructor(connection: RedisOptions, prefix = queuePrefix(), redis?: Redis) {
    this.#redis = redis;
    // BullMQ declares its own copy of ioredis's option type; the shapes are the same.
    this.queue = new Queue(SCAN_QUEUE, { connection: connection as ConnectionOptions, prefix });
    // Without a listener BullMQ prints a stack trace for every failed reconnect while Redis is
    // away; the client reconnects with backoff, and callers' commands wait for it.
    this.queue.on('error', () => {});
  }

  /** A fresh job id for a scan of `storageId` (to record before the job exists). */
  static newJobId(storageId: number): string {
    return `scan-${storageId}-${randomUUID()}`;
  }

  async enqueue(
    data: ScanJobData,
    options: { delayMs?: number; jobId?: string } = {},
  ): Promise<Enqueued> {
    const jobId = options.jobId ?? ScanQueue.newJobId(data.storageId);
    const opts: JobsOptions = {
      jobId,
      deduplication: { id: `storage-${data.storageId}`, keepLastIfActive: true },
      removeOnComplete: KEEP,
      removeOnFail: KEEP,
      ...(options.delayMs ? { delay: options.delayMs } : {}),
    };
    const job = await this.queue.add('scan', data, opts);
    if (job.id === jobId) return { jobId, created: true };
    // Deduplicated: into a job waiting (this trigger joins it), or — while the storage's job
    // is active — kept as the one to run after it (`keepLastIfActive`). BullMQ answers both
    // with the existing job's id; the kept one is only seen in its `dn:` hash (BullMQ 6's
    // layout, checked by test/jobs.enqueue.test.ts).
    const next = await this.#redis?.hget(this.queue.toKey(`dn:storage-${data.storageId}`), 'jid');
    if (next === jobId) return { jobId, created: true, after: job.id };
    // The running job may have ended between the add and that read, and BullMQ made the kept
    // trigger — this one — a job already, which may even run now with a later trigger kept
    // after it (seen in test/fleet.drills.test.ts, 1,000 triggers). Job ids are unique: the
    // job's key tells.
    if ((await this.#redis?.exists(this.queue.toKey(jobId))) === 1) {
      return { jobId, created: true, after: job.id };
    }
    return { jobId: job.id ?? jobId, created: false };
  }

  /**
   * Takes back a job that has not started (its scan was cancelled while it waited), so that
   * the next trigger of its storage makes a new job instead of joining this one: a trigger
   * joining a cancelled job would run nothing. An active job is left to its worker, which
   * skips a cancelled scan.
   */
  async withdraw(jobId: string, storageId: number): Promise<void> {
    // A job with a `queued` row is the one its storage's deduplication points at (a trigger
    // kept to run after an active job has no row): once it is gone, so is the key.
    if ((await this.queue.remove(jobId)) !== 1) return;
    await this.queue.removeDeduplicationKey(`storage-${storageId}`);
  }

  async counts(): Promise<QueueCounts> {
    const c = await this.queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed');
    return {
      waiting: c.waiting ?? 0,
      active: c.active ?? 0,
      delayed: c.delayed ?? 0,
      failed: c.failed ?? 0,
      completed: c.completed ?? 0,
    };
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
