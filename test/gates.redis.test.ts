/**
 * The fleet-wide gates (src/jobs/redis-semaphore.ts) on the real Redis: several instances,
 * each with its own connection, play the processes of a fleet.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RedisSemaphore, type RedisSemaphoreOptions } from '../src/jobs/redis-semaphore.js';
import { dropPrefix, REDIS_URL, requireRedis } from './support/redis.js';

const available = await requireRedis();
const admin = available ? new Redis(REDIS_URL) : undefined;
afterAll(async () => admin?.quit());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!available)(RedisSemaphore.name, () => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  /** `n` processes' worth of gates on one prefix, each with its own connection. */
  function fleet(n: number, options: Partial<RedisSemaphoreOptions> = {}) {
    const prefix = `{test-gates-${randomUUID()}}`;
    cleanup.push(() => dropPrefix(admin!, prefix));
    const calls = { evalsha: 0 };
    return {
      prefix,
      calls,
      members: Array.from({ length: n }, () => {
        const redis = new Redis(REDIS_URL);
        const evalsha = redis.evalsha.bind(redis);
        redis.evalsha = ((...args: Parameters<typeof evalsha>) => {
          calls.evalsha++;
          return evalsha(...args);
        }) as typeof redis.evalsha;
        const gates = new RedisSemaphore(redis, { prefix, ...options });
        cleanup.push(async () => {
          await gates.close();
          await redis.quit();
        });
        return gates;
      }),
    };
  }

  it('never admits more than the cap across processes, and admits everyone in the end', async () => {
    const { members } = fleet(4);
    let inside = 0;
    let most = 0;
    let done = 0;
    const slot = [{ name: 'key:webdav:nas', limit: 5 }];
    await Promise.all(
      members.flatMap((gates) =>
        Array.from({ length: 30 }, async () => {
          for (let i = 0; i < 5; i++) {
            const release = await gates.acquire(slot);
            most = Math.max(most, ++inside);
            await sleep(1 + Math.random() * 4);
            inside--;
            release();
            done++;
          }
        }),
      ),
    );
    expect(done).toBe(4 * 30 * 5);
    expect(most).toBeLessThanOrEqual(5);
    expect(most).toBeGreaterThan(1);
    // Releases are not awaited by their holders: the last ones land a moment later.
    await expect.poll(() => members[0]!.count('key:webdav:nas')).toBe(0);
  });

  it('takes a tenant’s and a key’s slot together or neither', async () => {
    const { members } = fleet(2);
    const [a, b] = members as [RedisSemaphore, RedisSemaphore];
    const tenant1 = (limitKey: string) => [
      { name: 'tenant:1', limit: 2 },
      { name: limitKey, limit: 3 },
    ];
    const r1 = await a.acquire(tenant1('key:x'));
    const r2 = await b.acquire(tenant1('key:y'));
    // Tenant 1 is full: a request of its for key:x waits, and holds no slot of key:x meanwhile.
    let third = false;
    const waiting = a.acquire(tenant1('key:x')).then((r) => ((third = true), r));
    await sleep(100);
    expect(third).toBe(false);
    expect(await a.count('key:x')).toBe(1);
    // Another tenant's requests fill key:x up to its cap regardless.
    const others = [await b.acquire([{ name: 'key:x', limit: 3 }])];
    others.push(await b.acquire([{ name: 'key:x', limit: 3 }]));
    expect(await a.count('key:x')).toBe(3);
    r2(); // the tenant has room now, key:x has none
    await sleep(100);
    expect(third).toBe(false);
    others.pop()!();
    const r3 = await waiting;
    expect(await a.count('tenant:1')).toBe(2);
    for (const r of [r1, r3, ...others]) r();
    await expect.poll(() => a.count('tenant:1')).toBe(0);
  });

  it('frees the slots of a process that stopped renewing once their TTL passed, not before', async () => {
    const { members } = fleet(2, { ttlMs: 1_500 });
    const [dead, alive] = members as [RedisSemaphore, RedisSemaphore];
    const slot = [{ name: 'key:k', limit: 2 }];
    await dead.acquire(slot);
    await dead.acquire(slot);
    await dead.close(); // "killed": holds its slots, renews nothing any more
    const started = Date.now();
    let admittedAt = 0;
    const waiting = alive.acquire(slot).then((r) => ((admittedAt = Date.now()), r));
    await sleep(500);
    expect(admittedAt).toBe(0);
    const release = await waiting;
    expect(admittedAt - started).toBeGreaterThanOrEqual(1_000);
    release();
  });

  it('keeps the slots of a living holder past the TTL: it renews them', async () => {
    const { members } = fleet(2, { ttlMs: 300 });
    const [holder, other] = members as [RedisSemaphore, RedisSemaphore];
    const slot = [{ name: 'key:k', limit: 1 }];
    const release = await holder.acquire(slot);
    await sleep(1_000);
    expect(await other.tryAcquire(slot)).toBeUndefined();
    release();
    await expect.poll(async () => (await other.tryAcquire(slot)) !== undefined).toBe(true);
  });

  it('gives up a wait when its signal aborts, holding nothing', async () => {
    const { members } = fleet(1);
    const gates = members[0]!;
    const slot = [{ name: 'key:k', limit: 1 }];
    const release = await gates.acquire(slot);
    const controller = new AbortController();
    const waiting = gates.acquire(slot, controller.signal);
    await sleep(50);
    controller.abort(new Error('cancelled'));
    await expect(waiting).rejects.toThrow('cancelled');
    release();
    await expect.poll(() => gates.count('key:k')).toBe(0);
    await sleep(200); // a try under way when it aborted must not leave a slot behind
    expect(await gates.count('key:k')).toBe(0);
  });

  it('wakes its waiters on a release instead of waiting out the backoff', async () => {
    const { members } = fleet(2, { maxPollMs: 60_000 });
    const [holder, waiter] = members as [RedisSemaphore, RedisSemaphore];
    const slot = [{ name: 'key:k', limit: 1 }];
    const release = await holder.acquire(slot);
    let admittedAt = 0;
    const waiting = waiter.acquire(slot).then((r) => ((admittedAt = Date.now()), r));
    // By now its backoff has grown past 1.6 s (25 ms doubling): only a wake-up is quick.
    await sleep(2_000);
    const releasedAt = Date.now();
    release();
    (await waiting)();
    expect(admittedAt - releasedAt).toBeLessThan(1_000);
  });

  it('asks Redis once per wake-up or backoff step for a queue of waiters, not once per waiter', async () => {
    const { members, calls } = fleet(2);
    const [holder, waiter] = members as [RedisSemaphore, RedisSemaphore];
    const slot = [{ name: 'key:k', limit: 1 }];
    const release = await holder.acquire(slot);
    const before = calls.evalsha;
    const waiting = Array.from({ length: 50 }, () => waiter.acquire(slot));
    await sleep(2_500);
    // 50 first tries, then the head alone: 25 ms doubling to 1 s is ~7 tries in 2.5 s.
    const tries = calls.evalsha - before;
    expect(tries).toBeLessThan(50 + 15);
    release();
    for (const w of waiting) (await w)();
  });
});
