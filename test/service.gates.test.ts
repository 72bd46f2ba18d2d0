/**
 * The StorageService's shared caps behind their gates: connects count against them, and with
 * the Redis gates two services (two processes of a fleet) share one cap.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RedisSemaphore } from '../src/jobs/redis-semaphore.js';
import { MemoryTree } from '../src/storage/backends/memory-tree.js';
import { createClient } from '../src/storage/registry.js';
import { StorageService, type StorageServiceDeps } from '../src/storage/service.js';
import { Configs, volume } from './service.helpers.js';
import { listAll } from './support/list-all.js';
import { dropPrefix, REDIS_URL, requireRedis } from './support/redis.js';

const redisAvailable = await requireRedis();
const admin = redisAvailable ? new Redis(REDIS_URL) : undefined;
afterAll(async () => admin?.quit());

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function vol(tree = new MemoryTree()) {
  const v = volume(tree);
  v.tree.writeFile('/f', 1, 1);
  cleanup.push(v.drop);
  return v;
}

function serve(configs: Configs, deps: Partial<StorageServiceDeps> = {}) {
  const service = new StorageService({ lookup: configs.lookup, ...deps });
  cleanup.push(() => service.closeAll());
  return service;
}

describe('StorageService shared caps', () => {
  it('counts a connect against the limit key’s cap, as a request', async () => {
    const host = vol();
    host.tree.connectLatencyMs = 50;
    const configs = new Configs();
    for (let id = 1; id <= 4; id++) configs.add({ id, options: { volume: host.name } });
    let connecting = 0;
    let most = 0;
    const service = serve(configs, {
      limits: { perKind: { memory: 1 } },
      createClient: (kind, options, deps) => {
        const client = createClient(kind, options, deps);
        const connect = client.connect.bind(client);
        client.connect = async () => {
          most = Math.max(most, ++connecting);
          try {
            await connect();
          } finally {
            connecting--;
          }
        };
        return client;
      },
    });
    await Promise.all([1, 2, 3, 4].map((id) => listAll(service.handle(id).list('/'))));
    expect(host.tree.stats.connects).toBe(4);
    expect(most).toBe(1);
  });

  it.skipIf(!redisAvailable)(
    'holds a cap across two services when their gates are in Redis',
    async () => {
      const prefix = `{svc-gates-${randomUUID()}}`;
      cleanup.push(() => dropPrefix(admin!, prefix));
      const host = vol();
      host.tree.latencyMs = 5;
      const configs = new Configs();
      configs.add({ id: 1, options: { volume: host.name }, maxConcurrency: 20 });
      const services = [0, 1].map(() => {
        const redis = new Redis(REDIS_URL);
        const gates = new RedisSemaphore(redis, { prefix });
        cleanup.push(async () => {
          await gates.close();
          await redis.quit();
        });
        return serve(configs, { limits: { perKind: { memory: 3 } }, gates });
      });
      await Promise.all(
        services.flatMap((service) =>
          Array.from({ length: 60 }, () => listAll(service.handle(1).list('/'))),
        ),
      );
      expect(host.tree.stats.lists).toBe(120);
      // Each service alone would let 3 through: 6 together without the shared gates.
      expect(host.tree.stats.maxInFlight).toBe(3);
    },
  );
});
