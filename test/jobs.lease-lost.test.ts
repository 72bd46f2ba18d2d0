/**
 * A worker whose lease is lost with no successor (a long stall, Redis forgetting the key):
 * its scan stops, and the storage is queued again — the trigger is not used up.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../src/app.js';
import { enqueueScan } from '../src/jobs/enqueue.js';
import { queuePrefix } from '../src/jobs/scan-queue.js';
import { ScanWorker, type WorkerEvent } from '../src/jobs/worker.js';
import { MemoryTree } from '../src/storage/backends/memory-tree.js';
import { registerMemoryVolume, unregisterMemoryVolume } from '../src/storage/backends/memory.js';
import { createDatabase } from './support/databases.js';
import { dropPrefix, REDIS_URL, requireRedis } from './support/redis.js';
import { until } from './support/trawl-process.js';

const redisUp = await requireRedis();

describe.skipIf(!redisUp)('a worker that loses its lease mid-scan', () => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('stops the scan and queues the storage again; the next scan completes the index', async () => {
    const db = await createDatabase('sqlite');
    cleanup.push(() => db.drop());
    const prefix = `lost-${randomUUID()}`;
    const redis = new Redis(REDIS_URL);
    cleanup.push(async () => {
      await dropPrefix(redis, queuePrefix(prefix));
      await dropPrefix(redis, prefix);
      await redis.quit();
    });
    const tree = new MemoryTree();
    for (let d = 0; d < 80; d++) for (let f = 0; f < 5; f++) tree.writeFile(`/d${d}/f${f}`, f, d);
    tree.latencyMs = 15;
    const volume = `lost-${randomUUID()}`;
    registerMemoryVolume(volume, tree);
    cleanup.push(() => unregisterMemoryVolume(volume));
    const env = {
      TRAWL_REDIS_URL: REDIS_URL,
      TRAWL_REDIS_PREFIX: prefix,
      TRAWL_LEASE_TTL_MS: '600',
    };
    const app = await App.open({ database: db.url, tenant: 'default', env });
    cleanup.push(() => app.close());
    const storage = await app.ensureStorage({
      kind: 'memory',
      location: `memory://${volume}`,
      options: { volume },
    });
    const events: WorkerEvent[] = [];
    const worker = new ScanWorker(app, {
      workerId: 'w',
      concurrency: 1,
      onEvent: (e) => events.push(e),
    });
    worker.start(REDIS_URL);
    cleanup.push(() => worker.stop());
    // Redis forgets the lease mid-scan (as after a stall past its TTL, with no successor).
    let listed = 0;
    tree.beforeList = async () => {
      if (++listed === 10) await redis.del(`${prefix}:lease:storage:${storage.id}`);
    };
    await enqueueScan(app, storage);
    await until(() => events.filter((e) => e.kind === 'scanned').length >= 2, 30_000);
    const scanned = events.flatMap((e) => (e.kind === 'scanned' ? [e.result.status] : []));
    expect(scanned.slice(0, 2)).toEqual(['cancelled', 'succeeded']);
    const rows: number[] = [];
    for await (const e of app.index.entries.list(
      { tenantId: storage.tenantId, storageId: storage.id },
      '/',
      { recursive: true },
    )) {
      rows.push(e.id);
    }
    expect(rows).toHaveLength(80 * 6);
  });
});
