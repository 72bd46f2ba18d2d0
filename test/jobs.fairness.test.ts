/**
 * The per-tenant cap on running scans (TRAWL_TENANT_MAX_SCANS), fleet-wide: two workers
 * (each its own App, connections and BullMQ worker, as two processes would be) on the real
 * Redis and one index.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { App } from '../src/app.js';
import { enqueueScan } from '../src/jobs/enqueue.js';
import { queuePrefix } from '../src/jobs/scan-queue.js';
import { ScanWorker, type WorkerEvent } from '../src/jobs/worker.js';
import { MemoryTree } from '../src/storage/backends/memory-tree.js';
import { registerMemoryVolume, unregisterMemoryVolume } from '../src/storage/backends/memory.js';
import { createDatabase } from './support/databases.js';
import { dropPrefix, REDIS_URL, requireRedis } from './support/redis.js';
import { until } from './support/trawl-process.js';

const available = await requireRedis();
const admin = available ? new Redis(REDIS_URL) : undefined;
afterAll(async () => admin?.quit());

describe.skipIf(!available)('per-tenant cap on running scans', () => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  /** A storage whose scan takes ~0.8 s: a root and 10 directories, 400 ms a listing. */
  function slowVolume(): string {
    const volume = `fair-${randomUUID()}`;
    const tree = new MemoryTree();
    for (let d = 0; d < 10; d++) tree.writeFile(`/d${d}/f.txt`, d, d);
    tree.latencyMs = 400;
    registerMemoryVolume(volume, tree);
    cleanup.push(() => unregisterMemoryVolume(volume));
    return volume;
  }

  async function run(maxScans: number) {
    const db = await createDatabase('sqlite');
    cleanup.push(() => db.drop());
    const prefix = `fair-${randomUUID()}`;
    cleanup.push(() => dropPrefix(admin!, queuePrefix(prefix)));
    const env = {
      TRAWL_REDIS_URL: REDIS_URL,
      TRAWL_REDIS_PREFIX: prefix,
      TRAWL_TENANT_MAX_SCANS: String(maxScans),
      TRAWL_LEASE_TTL_MS: '5000',
    };
    const open = async (tenant: string) => {
      const app = await App.open({ database: db.url, tenant, env });
      cleanup.push(() => app.close());
      return app;
    };
    const [a, b] = [await open('a'), await open('b')];
    const storagesOf = async (app: App, n: number) => {
      const out = [];
      for (let i = 0; i < n; i++) {
        const volume = slowVolume();
        out.push(
          await app.ensureStorage({
            kind: 'memory',
            location: `memory://${volume}`,
            options: { volume },
          }),
        );
      }
      return out;
    };
    const manyA = await storagesOf(a, 20);
    const [oneB] = await storagesOf(b, 1);
    // Tenant A's twenty are queued first, tenant B's one last.
    for (const s of manyA) await enqueueScan(a, s);
    await enqueueScan(b, oneB!);

    const events: WorkerEvent[] = [];
    for (let w = 0; w < 2; w++) {
      const app = await open('default');
      const worker = new ScanWorker(app, {
        workerId: `w${w}`,
        concurrency: 3,
        heldDelayMs: 300,
        onEvent: (e) => events.push(e),
      });
      worker.start(REDIS_URL);
      cleanup.push(() => worker.stop());
    }
    // The most of tenant A's scans seen running at once, from the index's own rows.
    let mostA = 0;
    const running = async () =>
      (await a.index.scans.list({ tenantId: a.tenantId, status: 'running', limit: 100 })).length;
    const watch = setInterval(() => {
      void running().then(
        (n) => (mostA = Math.max(mostA, n)),
        () => undefined,
      );
    }, 20);
    cleanup.push(() => clearInterval(watch));
    const succeeded = async (app: App) =>
      (await app.index.scans.list({ tenantId: app.tenantId, limit: 100 })).filter(
        (s) => s.status === 'succeeded',
      );
    await until(async () => (await succeeded(b)).length === 1, 60_000);
    const bStart = (await succeeded(b))[0]!.startedAt;
    const aStarts = (await a.index.scans.list({ tenantId: a.tenantId, limit: 100 }))
      .filter((s) => s.status !== 'queued')
      .map((s) => s.startedAt);
    const aBeforeB = aStarts.filter((t) => t < bStart).length;
    return { a, manyA, succeeded, events, mostA: () => mostA, aBeforeB };
  }

  it('lets another tenant’s scan start while a tenant with 20 storages queued waits at its cap', async () => {
    const r = await run(2);
    // B's scan was taken as soon as the workers reached it: only A's first scans had begun.
    expect(r.aBeforeB).toBeLessThanOrEqual(6);
    expect(r.events.some((e) => e.kind === 'tenant-busy')).toBe(true);
    // Every one of A's scans runs in the end, each once, never more than 2 at a time.
    await until(async () => (await r.succeeded(r.a)).length === 20, 90_000);
    const all = await r.a.index.scans.list({ tenantId: r.a.tenantId, limit: 100 });
    expect(all.map((s) => s.status).sort()).toEqual(Array(20).fill('succeeded'));
    expect(new Set(all.map((s) => s.storageId)).size).toBe(20);
    expect(r.mostA()).toBeLessThanOrEqual(2);
    expect(r.mostA()).toBeGreaterThan(0);
    await expect.poll(() => r.a.gates!.count(`scans:tenant:${r.a.tenantId}`)).toBe(0);
  }, 120_000);
});
