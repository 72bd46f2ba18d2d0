/**
 * Fleet-wide caps, measured at the server: four `trawl worker` processes scan eight WebDAV
 * storages of two tenants on one Apache (mod_dav) behind a proxy that counts the requests in
 * flight at its door. The limit key's cap (TRAWL_KIND_MAX_CONCURRENCY) and each tenant's
 * (TRAWL_TENANT_MAX_CONCURRENCY) hold across the processes, not per process.
 */
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { App } from '../src/app.js';
import type { StorageRecord } from '../src/db/repositories/storages.js';
import { enqueueScan } from '../src/jobs/enqueue.js';
import { queuePrefix } from '../src/jobs/scan-queue.js';
import { parseStorageSpec } from '../src/storage/url.js';
import { apacheBinary, startApache } from './servers/apache.js';
import { requireServices } from './servers/util.js';
import { createDatabase, skipDialect } from './support/databases.js';
import { tempDir } from './support/harness.js';
import { dropPrefix, REDIS_URL, requireRedis } from './support/redis.js';
import { startTrawl, until, type TrawlProcess } from './support/trawl-process.js';
import { startCountingProxy } from './tools/counting-proxy.js';

const available =
  (await requireRedis()) &&
  !(await skipDialect('postgres')) &&
  requireServices(apacheBinary() ?? 'apache2');
const admin = available ? new Redis(REDIS_URL) : undefined;
afterAll(async () => admin?.quit());

const DIRS = 80;
const FILES = 2;

describe.skipIf(!available)('fleet-wide caps with 4 worker processes (WebDAV)', () => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('never lets more requests reach the server than the key’s cap, nor a tenant more than its own', async () => {
    const dir = tempDir('trawl-fleet-caps-');
    cleanup.push(() => dir.cleanup());
    chmodSync(dir.path, 0o755);
    const root = join(dir.path, 'root');
    const folders = ['a0', 'a1', 'a2', 'a3', 'b0', 'b1', 'b2', 'b3'];
    for (const f of folders) {
      for (let d = 0; d < DIRS; d++) {
        mkdirSync(join(root, f, `d${d}`), { recursive: true });
        for (let i = 0; i < FILES; i++) writeFileSync(join(root, f, `d${d}`, `f${i}.txt`), 'x');
      }
    }
    const apache = await startApache({ root });
    cleanup.push(() => apache.stop());
    const proxy = await startCountingProxy({
      targetPort: apache.port,
      latencyMs: 30,
      groupOf: (path) => /^\/pub\/([ab])/.exec(path)?.[1],
    });
    cleanup.push(() => proxy.close());

    const db = await createDatabase('postgres');
    cleanup.push(() => db.drop());
    const prefix = `caps-${randomUUID()}`;
    cleanup.push(() => dropPrefix(admin!, queuePrefix(prefix)));
    const env = {
      TRAWL_REDIS_URL: REDIS_URL,
      TRAWL_REDIS_PREFIX: prefix,
      TRAWL_KIND_MAX_CONCURRENCY: 'webdav=6',
      TRAWL_TENANT_MAX_CONCURRENCY: '4',
    };
    const open = async (tenant: string) => {
      const app = await App.open({ database: db.url, tenant, env });
      cleanup.push(() => app.close());
      return app;
    };
    const tenants = { a: await open('a'), b: await open('b') };
    const storages: Array<{ app: App; storage: StorageRecord }> = [];
    for (const f of folders) {
      const app = tenants[f[0] as 'a' | 'b'];
      // Each storage would take 8 requests at once on its own: 64 wanted, 6 allowed.
      const spec = parseStorageSpec(`webdav://127.0.0.1:${proxy.port}/pub/${f}?maxConcurrency=8`);
      storages.push({ app, storage: await app.catalog.add(app.tenantId, spec, { name: f }) });
    }

    const workers: TrawlProcess[] = [];
    for (let w = 0; w < 4; w++) {
      const worker = startTrawl(['worker', '--concurrency', '2'], {
        ...env,
        TRAWL_DATABASE_URL: db.url,
      });
      cleanup.push(async () => {
        worker.kill('SIGKILL');
        await worker.exit(10_000).catch(() => undefined);
      });
      workers.push(worker);
    }
    await Promise.all(workers.map((w) => w.waitFor('takes scan jobs', 30_000)));
    proxy.reset();
    for (const { app, storage } of storages) await enqueueScan(app, storage);

    const last = async ({ app, storage }: { app: App; storage: StorageRecord }) =>
      (await app.index.scans.list({ tenantId: app.tenantId, storageId: storage.id, limit: 5 }))[0];
    await until(
      async () => (await Promise.all(storages.map(last))).every((s) => s?.status === 'succeeded'),
      120_000,
    );
    const scans = await Promise.all(storages.map(last));
    expect(scans.map((s) => s!.files)).toEqual(folders.map(() => DIRS * FILES));
    // The scans ran in several processes at once…
    expect(new Set(scans.map((s) => s!.workerId)).size).toBeGreaterThanOrEqual(2);
    // …and the server never saw more than the caps.
    expect(proxy.most).toBeLessThanOrEqual(6);
    expect(proxy.mostOf('a')).toBeLessThanOrEqual(4);
    expect(proxy.mostOf('b')).toBeLessThanOrEqual(4);
    // Demand far above them: the caps were reached, not merely unneeded.
    expect(proxy.most).toBeGreaterThanOrEqual(4);
    expect(proxy.total).toBeGreaterThanOrEqual(folders.length * (DIRS + 1));
    for (const w of workers) w.kill('SIGTERM');
    for (const w of workers) expect((await w.exit(30_000)).code).toBe(0);
    // Every slot given back (or its holder's process gone): nothing held in Redis.
    await expect.poll(() => tenants.a.gates!.count(`key:webdav:127.0.0.1:${proxy.port}`)).toBe(0);
  }, 180_000);
});
