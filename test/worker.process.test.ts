/**
 * `trawl worker` as a real process (dist/, through test/fixtures/paced-scan.mjs, which
 * registers the paced memory volume `memory://paced` in the worker): SIGTERM drains, Redis
 * going away and coming back, and the embedded worker (no Redis) running schedules.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { App } from '../src/app.js';
import type { StorageRecord } from '../src/db/repositories/storages.js';
import { enqueueScan } from '../src/jobs/enqueue.js';
import { queuePrefix } from '../src/jobs/scan-queue.js';
import { createDatabase, skipDialect } from './support/databases.js';
import { dropPrefix, REDIS_URL, requireRedis } from './support/redis.js';
import { startTrawl, until, type TrawlProcess } from './support/trawl-process.js';
import { startTcpProxy, type TcpProxy } from './tools/tcp-proxy.js';

const available = await requireRedis();
const admin = available ? new Redis(REDIS_URL) : undefined;
afterAll(async () => admin?.quit());

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An index with the paced volume registered as a storage, and an App of the test's own on it. */
async function setup(env: Record<string, string>) {
  const db = await createDatabase('sqlite');
  cleanup.push(() => db.drop());
  const app = await App.open({ database: db.url, tenant: 'default', env });
  cleanup.push(() => app.close());
  const spec = {
    kind: 'memory' as const,
    location: 'memory://paced',
    options: { volume: 'paced' },
  };
  const storage = await app.catalog.add(app.tenantId, spec, { name: 'paced' });
  return { db, app, storage };
}

function worker(args: string[], env: Record<string, string>, json = true): TrawlProcess {
  const w = startTrawl(['worker', ...(json ? ['--json'] : []), ...args], env);
  cleanup.push(async () => {
    w.kill('SIGKILL');
    await w.exit(10_000).catch(() => undefined);
  });
  return w;
}

/** The worker's --json events. */
function events(w: TrawlProcess): Array<Record<string, unknown>> {
  return w
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function scansOf(app: App, storage: StorageRecord) {
  return (
    await app.index.scans.list({ tenantId: storage.tenantId, storageId: storage.id, limit: 100 })
  ).reverse();
}

describe.skipIf(!available)('trawl worker in a fleet, as a process', () => {
  function fleetEnv(redisUrl = REDIS_URL) {
    const prefix = `wp-${randomUUID()}`;
    cleanup.push(() => dropPrefix(admin!, queuePrefix(prefix)));
    return {
      TRAWL_REDIS_URL: redisUrl,
      TRAWL_REDIS_PREFIX: prefix,
      // Long: whatever is freed at once below is freed by its holder, not by expiry.
      TRAWL_LEASE_TTL_MS: '60000',
    };
  }

  it('drains on SIGTERM: the scan ends cancelled, its lease and slot are given back at once, the storage is queued again; exit 0', async () => {
    const env = fleetEnv();
    const { db, app, storage } = await setup(env);
    await enqueueScan(app, storage);
    const paced = { PACED_DIRS: '400', PACED_LATENCY_MS: '30' };
    const first = worker([], { ...env, ...paced, TRAWL_DATABASE_URL: db.url });
    await first.waitFor('fixture: listing');
    await sleep(300);
    first.kill('SIGTERM');
    const out = await first.exit(30_000);
    expect(out.code).toBe(0);
    const [cancelled, ...rest] = await scansOf(app, storage);
    expect(cancelled!.status).toBe('cancelled');
    // Given back by its holder, not left to expire (60 s): another worker may take it now.
    expect(await app.leases.holderOf(storage.id)).toBeUndefined();
    expect(await app.gates!.count(`scans:tenant:${storage.tenantId}`)).toBe(0);
    // Queued again, for whichever worker comes next.
    // (Its queued row is not there: enqueueScan takes BullMQ's "stored as the next job while
    // this one is active" for a collapse into a waiting job, and drops the row.)
    expect(rest.map((s) => s.status)).toEqual([]);
    const waiting = await app.scanQueue!.queue.getJobs(['waiting', 'delayed']);
    expect(waiting.map((j) => (j.data as { reason: string }).reason)).toEqual(['retry']);
    // The next worker finishes the storage, well within the lease's TTL.
    const drainedAt = Date.now();
    const second = worker([], { ...env, ...paced, TRAWL_DATABASE_URL: db.url });
    await until(async () => (await scansOf(app, storage)).at(-1)?.status === 'succeeded', 30_000);
    expect(Date.now() - drainedAt).toBeLessThan(45_000);
    expect((await scansOf(app, storage)).map((s) => s.status)).toEqual(['cancelled', 'succeeded']);
    second.kill('SIGTERM');
    expect((await second.exit(30_000)).code).toBe(0);
  }, 90_000);

  it('rides out Redis going away: says it is retrying, and when Redis is back finishes the scan under way and runs what was queued meanwhile, each once', async () => {
    let proxy: TcpProxy = await startTcpProxy({
      targetPort: Number(new URL(REDIS_URL).port || 6379),
    });
    const port = proxy.port;
    cleanup.push(() => proxy.close());
    const env = fleetEnv(`redis://127.0.0.1:${port}`);
    // The test's own App talks to Redis directly, the worker through the proxy.
    const { db, app, storage } = await setup({ ...env, TRAWL_REDIS_URL: REDIS_URL });
    const spec = {
      kind: 'memory' as const,
      location: 'memory://paced?2',
      options: { volume: 'paced' },
    };
    const other = await app.catalog.add(app.tenantId, spec, { name: 'paced-2' });
    await enqueueScan(app, storage);
    // Not --json: what an operator reads.
    const w = worker(
      [],
      { ...env, PACED_DIRS: '100', PACED_LATENCY_MS: '40', TRAWL_DATABASE_URL: db.url },
      false,
    );
    await w.waitFor('fixture: listing');
    await proxy.kill(); // every connection dropped, new ones refused
    // Meanwhile the rest of the fleet goes on queuing.
    await enqueueScan(app, other);
    await until(() => /ECONNREFUSED.*\(retrying\)/.test(w.stderr()), 20_000);
    await sleep(3_000);
    proxy = await startTcpProxy({ targetPort: Number(new URL(REDIS_URL).port || 6379), port });
    await until(
      async () =>
        (await scansOf(app, storage)).at(-1)?.status === 'succeeded' &&
        (await scansOf(app, other)).at(-1)?.status === 'succeeded',
      60_000,
    );
    await sleep(1_000); // anything run twice would show now
    expect((await scansOf(app, storage)).map((s) => s.status)).toEqual(['succeeded']);
    expect((await scansOf(app, other)).map((s) => s.status)).toEqual(['succeeded']);
    expect(w.stderr().match(/: scan \d+ of storage \d+ succeeded/g)).toHaveLength(2);
    // Said once per failed reconnect of a connection, with its backoff: no flood, no stack trace.
    expect(w.stderr()).not.toContain('    at ');
    const counts = await app.scanQueue!.counts();
    expect(counts).toMatchObject({ waiting: 0, active: 0, delayed: 0, failed: 0, completed: 2 });
    w.kill('SIGTERM');
    expect((await w.exit(30_000)).code).toBe(0);
  }, 120_000);
});

describe.skipIf(!available || (await skipDialect('postgres')))(
  'trawl worker when PostgreSQL goes away, as a process',
  () => {
    it('puts back the jobs that met the index away, says so, and runs each once the index is back', async () => {
      const db = await createDatabase('postgres');
      cleanup.push(() => db.drop());
      const url = new URL(db.url);
      let proxy = await startTcpProxy({ targetPort: Number(url.port || 5432) });
      cleanup.push(() => proxy.close());
      const port = proxy.port;
      const throughProxy = new URL(db.url);
      throughProxy.port = String(port);
      const prefix = `wp-${randomUUID()}`;
      cleanup.push(() => dropPrefix(admin!, queuePrefix(prefix)));
      const env = {
        TRAWL_REDIS_URL: REDIS_URL,
        TRAWL_REDIS_PREFIX: prefix,
        TRAWL_LEASE_TTL_MS: '10000',
      };
      const app = await App.open({ database: db.url, tenant: 'default', env });
      cleanup.push(() => app.close());
      const add = (location: string, name: string) =>
        app.catalog.add(
          app.tenantId,
          { kind: 'memory', location, options: { volume: 'paced' } },
          { name },
        );
      const first = await add('memory://paced', 'paced');
      const second = await add('memory://paced?2', 'paced-2');
      await enqueueScan(app, first);
      const w = worker(
        [],
        {
          ...env,
          PACED_DIRS: '100',
          PACED_LATENCY_MS: '40',
          TRAWL_DATABASE_URL: throughProxy.toString(),
        },
        false,
      );
      await w.waitFor('fixture: listing');
      await proxy.kill(); // PostgreSQL gone: every connection dropped, new ones refused
      await enqueueScan(app, second); // the rest of the fleet still reaches it
      await until(() => /index database is unavailable.*retried in/.test(w.stderr()), 30_000);
      await sleep(3_000);
      proxy = await startTcpProxy({ targetPort: Number(url.port || 5432), port });
      const succeeded = async (s: StorageRecord) =>
        (await scansOf(app, s)).filter((r) => r.status === 'succeeded').length;
      await until(
        async () => (await succeeded(first)) === 1 && (await succeeded(second)) === 1,
        90_000,
      );
      await sleep(1_000); // a second run would show now
      expect(await succeeded(first)).toBe(1);
      expect(await succeeded(second)).toBe(1);
      // The first scan's cut-short attempt is marked (interrupted or failed), never left running.
      expect((await scansOf(app, first)).map((r) => r.status)).not.toContain('running');
      const counts = await app.scanQueue!.counts();
      expect(counts).toMatchObject({ waiting: 0, active: 0, delayed: 0, failed: 0, completed: 2 });
      // Exactly the tree, once: 100 directories of 5 files.
      expect(await app.catalog.countEntries(first.id)).toBe(600);
      w.kill('SIGTERM');
      expect((await w.exit(30_000)).code).toBe(0);
    }, 150_000);
  },
);

describe('trawl worker without Redis (embedded), as a process', () => {
  it('runs the storages’ scheduled scans when due, and drains on SIGTERM', async () => {
    const { db, app, storage } = await setup({});
    await app.catalog.edit(app.tenantId, storage.name, { schedule: { everyMs: 1_000 } });
    const w = worker(['--db', db.url], { PACED_DIRS: '20', PACED_LATENCY_MS: '5' });
    await until(() => events(w).filter((e) => e.kind === 'scanned').length >= 2, 30_000);
    w.kill('SIGTERM');
    const out = await w.exit(30_000);
    expect(out.code).toBe(0);
    const scans = await scansOf(app, storage);
    expect(scans.length).toBeGreaterThanOrEqual(2);
    expect(scans[1]!.startedAt - scans[0]!.startedAt).toBeGreaterThanOrEqual(1_000);
  }, 60_000);
});
