/**
 * A lease grant against a storage row locked by a write of its previous holder — a worker
 * paused inside a batch (test/fleet.drills.test.ts drills it with processes): the grant
 * answers "held" within a third of the TTL and gives its Redis key back, instead of waiting
 * out the statement timeout and failing; once the write is gone, it grants.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { App } from '../src/app.js';
import { bumpFence } from '../src/db/repositories/fences.js';
import { RedisLeaseStore } from '../src/jobs/redis-lease.js';
import { createDatabase, skipDialect } from './support/databases.js';
import { dropPrefix, requireRedis, REDIS_URL } from './support/redis.js';

const available = (await requireRedis()) && !(await skipDialect('postgres'));

describe.skipIf(!available)('a lease grant on PostgreSQL', () => {
  const redis = available ? new Redis(REDIS_URL) : undefined;
  afterAll(async () => redis?.quit());

  it('answers "held" while a write of the previous holder keeps the storage row locked, and grants once it is gone', async () => {
    const db = await createDatabase('postgres');
    const app = await App.open({ database: db.url, tenant: 'default', env: {} });
    const prefix = `grant-${randomUUID()}`;
    const paused = new pg.Client({ connectionString: db.url });
    try {
      const storage = await app.index.storages.upsert({
        tenantId: app.tenantId,
        name: 'locked',
        kind: 'memory',
        location: 'memory://locked',
        options: { volume: 'locked' },
      });
      const store = new RedisLeaseStore(redis!, (id, wait) => bumpFence(app.index.db, id, wait), {
        prefix,
        timing: { ttlMs: 900 },
      });
      // What every fenced write holds until its commit: the storage row, FOR SHARE.
      await paused.connect();
      await paused.query('BEGIN');
      await paused.query('SELECT fence FROM storages WHERE id = $1 FOR SHARE', [storage.id]);
      const started = Date.now();
      expect(await store.tryAcquire(storage.id, 'successor')).toBeUndefined();
      expect(Date.now() - started).toBeLessThan(5_000); // 300 ms of lock wait, on a busy machine
      expect(await store.holderOf(storage.id)).toBeUndefined(); // its key given back
      await paused.query('ROLLBACK');
      const lease = await store.tryAcquire(storage.id, 'successor');
      expect(lease?.fence).toBe(1);
      await lease!.release();
    } finally {
      await paused.end().catch(() => undefined);
      await app.close();
      await dropPrefix(redis!, prefix);
      await db.drop();
    }
  });
});
