/**
 * Scheduled scans: BullMQ job schedulers in a fleet (real Redis, workers in this process,
 * each with an App of its own as a process would have), the in-process scheduler of embedded
 * mode, and the history both compute from.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { App } from '../src/app.js';
import { ScheduleRepository } from '../src/db/repositories/schedules.js';
import type { StorageRecord } from '../src/db/repositories/storages.js';
import { dueAt, EmbeddedWorker } from '../src/jobs/embedded-worker.js';
import { ScheduleTriggers } from '../src/jobs/schedule-triggers.js';
import { queuePrefix } from '../src/jobs/scan-queue.js';
import { schedulerIdOf } from '../src/jobs/schedules.js';
import { ScanWorker, type WorkerEvent } from '../src/jobs/worker.js';
import { redisOptions } from '../src/jobs/redis.js';
import { MemoryTree } from '../src/storage/backends/memory-tree.js';
import { registerMemoryVolume, unregisterMemoryVolume } from '../src/storage/backends/memory.js';
import { createDatabase, DIALECTS, skipDialect } from './support/databases.js';
import { dropPrefix, REDIS_URL, requireRedis } from './support/redis.js';
import { until } from './support/trawl-process.js';

const redisAvailable = await requireRedis();
const admin = redisAvailable ? new Redis(REDIS_URL) : undefined;
afterAll(async () => admin?.quit());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const HOUR = 3_600_000;

/** Everything a test made, undone in reverse order. */
const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function volume(): string {
  const name = `sched-${randomUUID()}`;
  const tree = new MemoryTree();
  for (let d = 0; d < 3; d++) tree.writeFile(`/d${d}/f.txt`, d, d);
  registerMemoryVolume(name, tree);
  cleanup.push(() => unregisterMemoryVolume(name));
  return name;
}

async function addStorage(app: App, schedule: { everyMs: number } | { cron: string } | null) {
  const v = volume();
  const spec = { kind: 'memory' as const, location: `memory://${v}`, options: { volume: v } };
  return app.catalog.add(app.tenantId, spec, { name: v, schedule });
}

/** Scans of a storage in the index, oldest first. */
async function scansOf(app: App, storage: StorageRecord) {
  const rows = await app.index.scans.list({
    tenantId: storage.tenantId,
    storageId: storage.id,
    limit: 1000,
  });
  return rows.reverse();
}

/** A scan row with the given start, as a finished scan of the past leaves it. */
async function pastScan(app: App, storage: StorageRecord, status: string, startedAt: number) {
  await app.index.db
    .insertInto('scans')
    .values({
      tenant_id: storage.tenantId,
      storage_id: storage.id,
      status,
      started_at: startedAt,
      finished_at: startedAt + 1000,
      options: '{}',
    })
    .execute();
}

describe(dueAt.name, () => {
  const base = { createdAt: Date.UTC(2026, 0, 1) };
  it('an interval is due at once when never run, else an interval after the last start', () => {
    expect(dueAt({ ...base, everyMs: HOUR, cron: null, lastStart: undefined })).toBe(0);
    expect(dueAt({ ...base, everyMs: HOUR, cron: null, lastStart: 5_000 })).toBe(5_000 + HOUR);
  });

  it('a cron expression is due at its first time after the last start (or the creation)', () => {
    const daily = { ...base, everyMs: null, cron: '0 3 * * *' };
    expect(dueAt({ ...daily, lastStart: undefined })).toBe(Date.UTC(2026, 0, 1, 3));
    expect(dueAt({ ...daily, lastStart: Date.UTC(2026, 0, 5, 3, 0, 1) })).toBe(
      Date.UTC(2026, 0, 6, 3),
    );
  });
});

for (const dialect of DIALECTS) {
  describe.skipIf(await skipDialect(dialect))(`schedules in the index on ${dialect}`, () => {
    async function app() {
      const db = await createDatabase(dialect);
      cleanup.push(() => db.drop());
      const a = await App.open({ database: db.url, tenant: 'default', env: {} });
      cleanup.push(() => a.close());
      return a;
    }

    it('lists enabled storages with a schedule, with the start of their last run', async () => {
      const a = await app();
      const every = await addStorage(a, { everyMs: HOUR });
      const cron = await addStorage(a, { cron: '0 3 * * *' });
      await addStorage(a, null);
      const off = await addStorage(a, { everyMs: HOUR });
      await a.catalog.setEnabled(a.tenantId, off.name, false);
      await pastScan(a, every, 'succeeded', 1_000);
      await pastScan(a, every, 'failed', 2_000);
      // A drained or killed scan owes its run; a queued one has not run.
      await pastScan(a, every, 'cancelled', 3_000);
      await pastScan(a, every, 'interrupted', 4_000);
      await pastScan(a, every, 'queued', 5_000);
      const rows = await new ScheduleRepository(a.index.db).scheduled();
      expect(rows.map((r) => [r.id, r.everyMs, r.cron, r.lastStart])).toEqual([
        [every.id, HOUR, null, 2_000],
        [cron.id, null, '0 3 * * *', undefined],
      ]);
    });
  });
}

describe('the embedded scheduler (no Redis)', () => {
  async function app(database?: string) {
    let url = database;
    if (!url) {
      const db = await createDatabase('sqlite');
      cleanup.push(() => db.drop());
      url = db.url;
    }
    const a = await App.open({ database: url, tenant: 'default', env: {} });
    cleanup.push(() => a.close());
    return a;
  }

  function worker(a: App, name = 'embedded', events: WorkerEvent[] = []) {
    const w = new EmbeddedWorker(a, {
      workerId: name,
      pollMs: 200,
      onEvent: (e) => events.push(e),
    });
    cleanup.push(() => w.stop());
    return w;
  }

  it('scans a storage each time its interval comes round', async () => {
    const a = await app();
    const storage = await addStorage(a, { everyMs: 400 });
    const events: WorkerEvent[] = [];
    worker(a, 'embedded', events).start();
    await until(async () => (await scansOf(a, storage)).length >= 3, 20_000);
    const scans = await scansOf(a, storage);
    expect(scans.slice(0, 3).map((s) => s.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    // One interval apart (at least), never two at once.
    expect(scans[1]!.startedAt - scans[0]!.startedAt).toBeGreaterThanOrEqual(400);
    expect(events.filter((e) => e.kind === 'scanned').length).toBeGreaterThanOrEqual(3);
  });

  it('after a restart, neither loses a run that fell due meanwhile nor doubles one just made', async () => {
    const a = await app();
    const recent = await addStorage(a, { everyMs: HOUR });
    const missed = await addStorage(a, { everyMs: HOUR });
    const missedCron = await addStorage(a, { cron: '0 3 * * *' });
    const drained = await addStorage(a, { everyMs: HOUR });
    const now = Date.now();
    await pastScan(a, recent, 'succeeded', now - 10 * 60_000);
    await pastScan(a, missed, 'succeeded', now - 2 * HOUR);
    await pastScan(a, missedCron, 'succeeded', now - 25 * HOUR); // a 03:00 passed since
    await pastScan(a, drained, 'succeeded', now - 2 * HOUR);
    await pastScan(a, drained, 'cancelled', now - 60_000); // drained mid-scan: still owed
    const w = worker(a);
    for (let i = 0; i < 3; i++) {
      await w.tick();
      await until(() => w.active === 0);
    }
    const ran = async (s: StorageRecord) =>
      (await scansOf(a, s)).filter((r) => r.startedAt > now).length;
    expect(await ran(recent)).toBe(0);
    expect(await ran(missed)).toBe(1);
    expect(await ran(missedCron)).toBe(1);
    expect(await ran(drained)).toBe(1);
  });

  it('runs nothing for a disabled storage, and runs it again once enabled', async () => {
    const a = await app();
    const storage = await addStorage(a, { everyMs: 300 });
    await a.catalog.setEnabled(a.tenantId, storage.name, false);
    const w = worker(a);
    w.start();
    await sleep(1_000);
    expect(await scansOf(a, storage)).toHaveLength(0);
    await a.catalog.setEnabled(a.tenantId, storage.name, true);
    await until(async () => (await scansOf(a, storage)).length >= 1, 20_000);
  });

  it('two processes sharing one index make a due run once', async () => {
    // (Two Apps of one process on one SQLite file must not write at once — a busy wait of
    // one blocks the other's event loop — so the race is played in turns.)
    const a = await app();
    const b = await app(await dbUrlOf(a));
    const storage = await addStorage(a, { everyMs: HOUR });
    const [wa, wb] = [worker(a, 'a'), worker(b, 'b')];
    // b finds the run due; before it takes the lease, a makes that whole run and gives the
    // lease back. b looks at the history again under the lease, and runs nothing.
    const take = b.leases.tryAcquire.bind(b.leases);
    b.leases.tryAcquire = async (id, holder) => {
      await wa.tick();
      await until(() => wa.active === 0);
      return take(id, holder);
    };
    await wb.tick();
    await until(() => wb.active === 0);
    const scans = await scansOf(a, storage);
    expect(scans.map((s) => [s.status, s.workerId])).toEqual([['succeeded', 'a']]);
  });
});

/** The SQLite file an App opened (the test databases are files in a temporary folder). */
async function dbUrlOf(a: App): Promise<string> {
  const { sql } = await import('kysely');
  const rows = await sql<{ file: string }>`PRAGMA database_list`.execute(a.index.db);
  return rows.rows.find((r) => (r as unknown as { name: string }).name === 'main')!.file;
}

describe.skipIf(!redisAvailable)('fleet schedules (BullMQ job schedulers)', () => {
  async function fleetApp(prefix: string, database?: string) {
    let url = database;
    if (!url) {
      const db = await createDatabase('sqlite');
      cleanup.push(() => db.drop());
      url = db.url;
    }
    const env = {
      TRAWL_REDIS_URL: REDIS_URL,
      TRAWL_REDIS_PREFIX: prefix,
      TRAWL_LEASE_TTL_MS: '3000',
    };
    const a = await App.open({ database: url, tenant: 'default', env });
    return a;
  }

  async function setup() {
    const prefix = `sched-${randomUUID()}`;
    cleanup.push(() => dropPrefix(admin!, queuePrefix(prefix)));
    const a = await fleetApp(prefix);
    cleanup.push(() => a.close());
    return { prefix, a, url: await dbUrlOf(a) };
  }

  const schedulers = async (a: App) =>
    (await a.schedules!.queue.getJobSchedulers(0, -1)).map((s) => ({
      key: s.key,
      every: s.every ?? null,
      pattern: s.pattern ?? null,
    }));

  /** A worker process's worth: an App of its own and a ScanWorker on it. */
  async function startWorker(prefix: string, url: string, events: WorkerEvent[] = []) {
    const app = await fleetApp(prefix, url);
    const worker = new ScanWorker(app, {
      workerId: `w-${randomUUID()}`,
      // A job that found its storage held is retried soon, so the checks below see every job
      // through to its end within their waits (the default is 5 s).
      heldDelayMs: 300,
      onEvent: (e) => events.push(e),
    });
    worker.start(REDIS_URL);
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      await worker.stop();
      await app.close();
    };
    cleanup.push(stop);
    return { app, worker, stop };
  }

  it('makes, changes and removes a storage’s scheduler with the storage', async () => {
    const { a } = await setup();
    const s = await addStorage(a, { everyMs: 60_000 });
    expect(await schedulers(a)).toEqual([
      { key: schedulerIdOf(s.id), every: 60_000, pattern: null },
    ]);
    await a.catalog.edit(a.tenantId, s.name, { schedule: { cron: '0 3 * * *' } });
    expect(await schedulers(a)).toEqual([
      { key: schedulerIdOf(s.id), every: null, pattern: '0 3 * * *' },
    ]);
    await a.catalog.setEnabled(a.tenantId, s.name, false);
    expect(await schedulers(a)).toEqual([]);
    await a.catalog.setEnabled(a.tenantId, s.name, true);
    expect(await schedulers(a)).toHaveLength(1);
    await a.catalog.edit(a.tenantId, s.name, { schedule: null });
    expect(await schedulers(a)).toEqual([]);
    await a.catalog.edit(a.tenantId, s.name, { schedule: { everyMs: 60_000 } });
    await a.catalog.remove(a.tenantId, s.name);
    expect(await schedulers(a)).toEqual([]);
  });

  it('fires, keeps firing after a restart of every worker, and stops when the storage is disabled', async () => {
    const { a, prefix, url } = await setup();
    const s = await addStorage(a, { everyMs: 1_000 });
    const events: WorkerEvent[] = [];
    const first = await startWorker(prefix, url, events);
    await until(async () => (await scansOf(a, s)).length >= 2, 30_000);
    expect(events.some((e) => e.kind === 'scheduled')).toBe(true);
    // Every worker gone: the schedule stays in Redis, and the next worker fires it.
    await first.stop();
    expect(await schedulers(a)).toHaveLength(1);
    const before = (await scansOf(a, s)).length;
    const second = await startWorker(prefix, url);
    await until(async () => (await scansOf(a, s)).length >= before + 2, 30_000);
    // Disabled: no more scans (one already queued or running may end).
    await a.catalog.setEnabled(a.tenantId, s.name, false);
    // The worker removes the scheduler when it reads the change (asynchronously: on a loaded
    // machine a fire may still come after a fixed wait), so this waits for that first.
    await until(async () => (await schedulers(a)).length === 0, 20_000);
    // Each ran to its end, or was cancelled by the first worker's drain (and queued again);
    // no job left a queued row behind when it was skipped for the disabled storage. A job
    // put back because the lease was still held keeps its row until it comes round again
    // (heldDelayMs; later on a loaded machine), so this waits for that, not a fixed time.
    const unfinished = async () =>
      [...new Set((await scansOf(a, s)).map((r) => r.status))].filter(
        (x) => x !== 'succeeded' && x !== 'cancelled',
      );
    await until(async () => (await unfinished()).length === 0, 40_000).catch(() => undefined);
    expect(await unfinished()).toEqual([]);
    // Disabled: no more scans, though the schedule's interval (1 s) passes three times.
    const stoppedAt = (await scansOf(a, s)).length;
    await sleep(3_000);
    expect((await scansOf(a, s)).length).toBe(stoppedAt);
    await second.stop();
  }, 150_000);

  it('fires a cron schedule', async () => {
    const { a, prefix, url } = await setup();
    // Six fields (seconds first) only to be quick: the CLI takes five.
    const s = await addStorage(a, { cron: '*/1 * * * * *' });
    await startWorker(prefix, url);
    await until(async () => (await scansOf(a, s)).length >= 2, 30_000);
  });

  it('a worker’s reconcile puts back a lost scheduler and removes a stale one', async () => {
    const { a, prefix, url } = await setup();
    const s = await addStorage(a, { everyMs: 1_000 });
    // Lost: the storage has a schedule, Redis no scheduler (a change made while it was away).
    await a.schedules!.queue.removeJobScheduler(schedulerIdOf(s.id));
    // Stale: a scheduler whose storage is gone.
    await a.schedules!.queue.upsertJobScheduler(
      schedulerIdOf(999_999),
      { every: 3_600_000, startDate: Date.now() + 3_600_000 },
      { name: 'schedule', data: { tenantId: a.tenantId, storageId: 999_999 } },
    );
    await startWorker(prefix, url);
    await until(async () => (await scansOf(a, s)).length >= 1, 30_000);
    expect((await schedulers(a)).map((x) => x.key)).toEqual([schedulerIdOf(s.id)]);
  });

  it('a trigger joins the scan already queued for the storage, and is dropped while it is scanned', async () => {
    const { a, prefix } = await setup();
    const s = await addStorage(a, { everyMs: 300 });
    // Triggers served, scan jobs not taken: what the schedule queues stays waiting.
    const events: Array<{ kind: string; created?: boolean; why?: string }> = [];
    const triggers = new ScheduleTriggers(a, a.schedules!, { onEvent: (e) => events.push(e) });
    triggers.start(redisOptions(REDIS_URL), queuePrefix(prefix));
    cleanup.push(() => triggers.stop());
    await until(() => events.filter((e) => e.kind === 'scheduled').length >= 3, 20_000);
    const counts = await a.scanQueue!.counts();
    expect(counts.waiting + counts.delayed).toBe(1);
    expect(events.filter((e) => e.kind === 'scheduled').map((e) => e.created)).toEqual(
      expect.arrayContaining([true, false]),
    );
    expect(events.filter((e) => e.kind === 'scheduled' && e.created)).toHaveLength(1);
    // One queued row in the history, not one per trigger.
    expect((await scansOf(a, s)).filter((r) => r.status === 'queued')).toHaveLength(1);
    // While someone holds the storage, triggers queue nothing more.
    await a.scanQueue!.queue.obliterate({ force: true });
    const lease = (await a.leases.tryAcquire(s.id, 'someone'))!;
    const seen = events.length;
    await until(() => events.slice(seen).some((e) => e.kind === 'skipped'), 20_000);
    expect((await a.scanQueue!.counts()).waiting).toBe(0);
    await lease.release();
  });
});
