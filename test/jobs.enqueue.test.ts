/**
 * Triggers for one storage: collapsed into the scan already waiting, and while a scan runs,
 * kept (one) to run after it — read from BullMQ's deduplication state, whose layout this
 * test pins.
 */
import { Worker, type ConnectionOptions } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { enqueueScan } from '../src/jobs/enqueue.js';
import { redisOptions } from '../src/jobs/redis.js';
import { queuePrefix, SCAN_QUEUE } from '../src/jobs/scan-queue.js';
import { openQueueApp } from './support/fleet-app.js';
import { REDIS_URL, requireRedis } from './support/redis.js';

const redisUp = await requireRedis();

describe.skipIf(!redisUp)('enqueueScan', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('joins a waiting scan, and while one runs keeps the newest trigger to run after it', async () => {
    const { app, storage, prefix } = await openQueueApp('enq', cleanups);
    const first = await enqueueScan(app, storage);
    expect(first).toMatchObject({ created: true });
    expect(first.scanId).toBeDefined();
    const joined = await enqueueScan(app, storage);
    expect(joined).toMatchObject({ created: false, jobId: first.jobId, scanId: undefined });

    // A worker takes the first job and holds it active.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const active = new Promise<void>((r) => (started = r));
    const ran: string[] = [];
    const worker = new Worker(
      SCAN_QUEUE,
      async (job) => {
        ran.push(job.id!);
        started();
        await held;
      },
      { connection: redisOptions(REDIS_URL) as ConnectionOptions, prefix: queuePrefix(prefix) },
    );
    cleanups.push(() => worker.close());
    await active;
    const during = await enqueueScan(app, storage);
    expect(during).toMatchObject({ created: true, after: first.jobId, scanId: undefined });
    expect(during.jobId).not.toBe(first.jobId);
    const newer = await enqueueScan(app, storage);
    expect(newer).toMatchObject({ created: true, after: first.jobId });
    release();
    // The first runs, then exactly one more: the newest trigger's.
    const deadline = Date.now() + 15_000;
    while (ran.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    expect(ran).toEqual([first.jobId, newer.jobId]);
    // No queued row is left behind for a job that will never run.
    const rows = await app.index.scans.list({ tenantId: app.tenantId, status: 'queued' });
    expect(rows.map((r) => r.jobId)).toEqual([first.jobId]);
  });
});
