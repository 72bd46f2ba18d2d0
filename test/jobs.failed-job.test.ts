/**
 * A job that fails for good before its scan starts (a job is tried once) finishes its
 * `queued` history row as failed, with the cause: the history never shows a scan waiting
 * forever for a job that is gone.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { enqueueScan } from '../src/jobs/enqueue.js';
import { ScanWorker } from '../src/jobs/worker.js';
import { openQueueApp } from './support/fleet-app.js';
import { requireRedis } from './support/redis.js';
import { until } from './support/trawl-process.js';

const redisUp = await requireRedis();

describe.skipIf(!redisUp)('a scan job that fails before its scan', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('leaves its queued row failed, naming the cause', async () => {
    const { app, storage } = await openQueueApp('failjob', cleanups);
    // The worker's first look at the job fails with a fault that is not an index outage.
    app.index.scans.jobCancelled = () => Promise.reject(new Error('disk on fire'));
    const queued = await enqueueScan(app, storage);
    expect(queued.scanId).toBeDefined();
    const worker = new ScanWorker(app, { workerId: 'failing-worker' });
    cleanups.push(() => worker.stop());
    worker.start();
    const row = () => app.index.scans.get(queued.scanId!);
    await until(async () => (await row())?.status === 'failed', 15_000);
    const failed = await row();
    expect(failed?.finishedAt).toBeGreaterThan(0);
    expect(failed?.errorSample).toEqual([
      { path: '/', code: 'JOB_FAILED', message: 'disk on fire' },
    ]);
  });
});
