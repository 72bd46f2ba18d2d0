/**
 * One scan per storage: leases (in the index and in Redis), the fence they grant, and the
 * outbox — on both dialects. A holder that lost its lease writes nothing after its successor
 * was granted, whatever write path its batch takes.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { App } from '../src/app.js';
import { bumpFence } from '../src/db/repositories/fences.js';
import { DbLeaseStore } from '../src/jobs/db-lease.js';
import type { LeaseStore } from '../src/jobs/lease.js';
import { RedisLeaseStore } from '../src/jobs/redis-lease.js';
import { MemoryTree } from '../src/storage/backends/memory-tree.js';
import { registerMemoryVolume, unregisterMemoryVolume } from '../src/storage/backends/memory.js';
import { DIALECTS, createDatabase, rowsWritten, skipDialect } from './support/databases.js';
import { indexRows, treeRows } from './support/harness.js';
import { requireRedis, REDIS_URL } from './support/redis.js';

const redisAvailable = await requireRedis();
const redis = redisAvailable ? new Redis(REDIS_URL) : undefined;
afterAll(async () => redis?.quit());

for (const dialect of DIALECTS) {
  describe.skipIf(await skipDialect(dialect))(`leases and fences on ${dialect}`, () => {
    const cleanup: Array<() => unknown> = [];
    afterEach(async () => {
      for (const c of cleanup.splice(0).reverse()) await c();
    });

    async function fixture(tree = new MemoryTree()) {
      const db = await createDatabase(dialect);
      cleanup.push(() => db.drop());
      const volume = `fence-${randomUUID()}`;
      registerMemoryVolume(volume, tree);
      cleanup.push(() => unregisterMemoryVolume(volume));
      const app = await App.open({ database: db.url, tenant: 'default', env: {} });
      cleanup.push(() => app.close());
      const storage = await app.index.storages.upsert({
        tenantId: app.tenantId,
        name: volume,
        kind: 'memory',
        location: `memory://${volume}`,
        options: { volume },
      });
      const scope = { tenantId: storage.tenantId, storageId: storage.id };
      return { app, storage, scope, tree };
    }

    // A lease of 1 s, not less: c's must outlive the few statements after its grant even on
    // a loaded CI machine (at 150 ms it once expired before the check below).
    const stores: Array<[string, (app: App) => LeaseStore | undefined]> = [
      [
        'the index',
        (app) => new DbLeaseStore(app.index.leases, { ttlMs: 1000, renewEveryMs: 1e9 }),
      ],
      [
        'Redis',
        (app) =>
          redis &&
          new RedisLeaseStore(redis, (id) => bumpFence(app.index.db, id), {
            prefix: `test-${randomUUID()}`,
            timing: { ttlMs: 1000, renewEveryMs: 1e9 },
          }),
      ],
    ];
    for (const [where, make] of stores) {
      it(`grants a storage to one holder at a time, with a greater fence each time (leases in ${where})`, async () => {
        const { app, storage } = await fixture();
        const store = make(app)!;
        const a = await store.tryAcquire(storage.id, 'a');
        expect(a).toBeDefined();
        expect(await store.tryAcquire(storage.id, 'b')).toBeUndefined();
        expect((await store.holderOf(storage.id))?.holder).toBe('a');
        await a!.release();
        const b = await store.tryAcquire(storage.id, 'b');
        expect(b!.fence).toBeGreaterThan(a!.fence);
        // Not renewed: it expires, and the next grant moves the fence on again.
        await new Promise((r) => setTimeout(r, 1100));
        expect(await store.holderOf(storage.id)).toBeUndefined();
        const c = await store.tryAcquire(storage.id, 'c');
        expect(c!.fence).toBeGreaterThan(b!.fence);
        // b's release does not free c's lease: only the holder's own value releases it.
        await b!.release();
        expect((await store.holderOf(storage.id))?.holder).toBe('c');
        await c!.release();
      });
    }

    it('loses a lease whose renewal is refused, and says so through its signal', async () => {
      const { app, storage } = await fixture();
      const store = new DbLeaseStore(app.index.leases, { ttlMs: 2_000, renewEveryMs: 30 });
      const lease = (await store.tryAcquire(storage.id, 'a'))!;
      await app.index.db.deleteFrom('leases').execute(); // taken from it
      await new Promise((r) => setTimeout(r, 150));
      expect(lease.lost.aborted).toBe(true);
    });

    it('refuses every write of a scan whose fence moved on, on every write path', async () => {
      const { app, storage, scope } = await fixture();
      const fence = await bumpFence(app.index.db, storage.id);
      const write = (i: number) => ({
        path: `/f${i}`,
        parent: '/',
        name: `f${i}`,
        isDir: false,
        size: 1,
        mtime: 1,
        etag: null,
        mediaKind: null,
        isNew: true,
      });
      const entries = app.index.entries;
      await entries.apply({ ...scope, fence }, [], [write(0)]);
      await bumpFence(app.index.db, storage.id); // a successor's grant
      const stale = { ...scope, fence };
      const many = Array.from({ length: 600 }, (_, i) => write(i + 1)); // the COPY path on PostgreSQL
      for (const [removals, writes] of [
        [[], [write(1)]], // a lone upsert
        [[], many],
        [[{ path: '/f0', isDir: false }], []], // a deletion
      ] as const) {
        await expect(entries.apply(stale, removals, writes)).rejects.toMatchObject({
          code: 'INDEX_FENCED',
        });
      }
      const rows: string[] = [];
      for await (const e of entries.list(scope, '/')) rows.push(e.path);
      expect(rows).toEqual(['/f0']);
    });

    it('a scan that lost its lease writes nothing after its successor was granted', async () => {
      const tree = new MemoryTree();
      for (let d = 0; d < 40; d++)
        for (let f = 0; f < 30; f++) tree.writeFile(`/d${d}/f${f}`, f, d);
      tree.latencyMs = 10;
      const { app, storage } = await fixture(tree);
      const store = new DbLeaseStore(app.index.leases, { ttlMs: 100, renewEveryMs: 1e9 });
      const zombie = (await store.tryAcquire(storage.id, 'zombie'))!;
      let successorAt = 0;
      let afterGrant = 0;
      const running = app.scan(
        storage,
        {
          batchEntries: 30,
          batchMs: 1,
          listers: 1, // ~40 listings of 10 ms: the scan outlives its 100 ms lease
          onChanges: () => {
            if (successorAt) afterGrant++;
          },
        },
        { fence: zombie.fence, lost: zombie.lost, workerId: 'zombie' },
      );
      // The zombie's lease expires mid-scan (it never renews); a successor is granted.
      await new Promise((r) => setTimeout(r, 200));
      let written = -1;
      let result: Awaited<typeof running> | undefined;
      const successor = (await store.tryAcquire(storage.id, 'successor'))!;
      successorAt = Date.now();
      written = await rowsWritten(app.index, async () => {
        result = await running;
      });
      expect(successor.fence).toBeGreaterThan(zombie.fence);
      expect(written).toBe(0);
      expect(afterGrant).toBe(0);
      expect(result!.status).toBe('failed');
      expect(result!.errorSample.map((e) => e.code)).toContain('INDEX_FENCED');
      // Its end could not be recorded either: the row says what the successor will mark.
      const row = await app.index.scans.get(result!.scanId!);
      expect(row?.status).toBe('running');
      await app.index.scans.start(
        { tenantId: storage.tenantId, storageId: storage.id },
        {},
        { fence: successor.fence, workerId: 'successor' },
      );
      expect((await app.index.scans.get(result!.scanId!))?.status).toBe('interrupted');
    });

    it('writes each batch’s change event to the outbox in the batch’s transaction, and none for an unchanged rescan', async () => {
      const tree = new MemoryTree();
      for (let d = 0; d < 10; d++)
        for (let f = 0; f < 30; f++) tree.writeFile(`/d${d}/f${f}`, f, d);
      const { app, storage, scope } = await fixture(tree);
      const target = { tenantId: storage.tenantId, storageId: storage.id };
      const events = async () =>
        (await app.index.db.selectFrom('change_events').selectAll().orderBy('id').execute()).map(
          (r) => ({
            scanId: r.scan_id === null ? null : Number(r.scan_id),
            created: JSON.parse(r.created) as number[],
            updated: JSON.parse(r.updated) as number[],
            deleted: JSON.parse(r.deleted) as number[],
          }),
        );
      const { runScan } = await import('../src/scan/runner.js');
      const deps = { storage: app.storage, entries: app.index.entries, scans: app.index.scans };
      const first = await runScan(deps, { ...target, outbox: true }, { batchEntries: 50 });
      const created = (await events()).flatMap((e) => e.created).sort((a, b) => a - b);
      const ids: number[] = [];
      for await (const e of app.index.entries.list(scope, '/', { recursive: true })) ids.push(e.id);
      expect(created).toEqual(ids.sort((a, b) => a - b));
      expect(new Set((await events()).map((e) => e.scanId))).toEqual(new Set([first.scanId]));
      const count = (await events()).length;
      await runScan(deps, { ...target, outbox: true });
      expect((await events()).length).toBe(count);
      tree.modify('/d1/f1', { size: 99 }).remove('/d2');
      await runScan(deps, { ...target, outbox: true });
      const last = (await events()).slice(count);
      expect(last.flatMap((e) => e.updated)).toHaveLength(1);
      expect(last.flatMap((e) => e.deleted)).toHaveLength(31);
      expect(
        indexRows(
          await (async () => {
            const out = [];
            for await (const e of app.index.entries.list(scope, '/', { recursive: true }))
              out.push(e);
            return out;
          })(),
        ),
      ).toEqual(treeRows(tree));
    });
  });
}
