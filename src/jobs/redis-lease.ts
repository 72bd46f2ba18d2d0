import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { FenceBusyError } from '../db/repositories/fences.js';
import {
  DEFAULT_LEASE_TTL_MS,
  grantedLease,
  type Lease,
  type LeaseHolder,
  type LeaseStore,
  type LeaseTiming,
} from './lease.js';

/**
 * Renews a lease only if it is still ours. KEYS[1] the lease; ARGV[1] our value, ARGV[2]
 * the TTL in ms. Returns 1 when renewed, 0 when the lease is gone or someone else's.
 */
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`;

/** Deletes a lease only if it is still ours (compare-and-delete). KEYS[1], ARGV[1] as above. */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

/**
 * What the fence bump needs from the index: one storage's fence, incremented and returned,
 * waiting at most `lockTimeoutMs` for a write under way (else FenceBusyError).
 */
export type BumpFence = (storageId: number, lockTimeoutMs: number) => Promise<number>;

/**
 * Leases in Redis, for a fleet: `SET key value NX PX ttl` grants, a Lua compare-and-expire
 * renews, a Lua compare-and-delete releases — only the holder's random value can. The fence
 * lives in the index (the storage row), bumped right after the grant: the writes it guards
 * are in the index, and only there can a write check it in its own transaction.
 */
export class RedisLeaseStore implements LeaseStore {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #timing: LeaseTiming;
  readonly #bumpFence: BumpFence;

  constructor(
    redis: Redis,
    bumpFence: BumpFence,
    options: { prefix?: string; timing?: Partial<LeaseTiming> } = {},
  ) {
    this.#redis = redis;
    this.#bumpFence = bumpFence;
    this.#prefix = options.prefix ?? 'trawl';
    this.#timing = { ttlMs: options.timing?.ttlMs ?? DEFAULT_LEASE_TTL_MS, ...options.timing };
  }

  #key(storageId: number): string {
    return `${this.#prefix}:lease:storage:${storageId}`;
  }

  async tryAcquire(storageId: number, holder: string): Promise<Lease | undefined> {
    const key = this.#key(storageId);
    const value = `${holder} ${randomUUID()}`;
    const ok = await this.#redis.set(key, value, 'PX', this.#timing.ttlMs, 'NX');
    if (ok !== 'OK') return undefined;
    let fence: number;
    try {
      // Not renewed yet: the bump must end well within the TTL. A longer wait is for a
      // previous holder paused inside a batch — the storage is held, as far as a grant goes
      // (it waited out the statement timeout and failed its job: test/fleet.drills.test.ts).
      fence = await this.#bumpFence(storageId, Math.max(50, Math.floor(this.#timing.ttlMs / 3)));
    } catch (error) {
      await this.#redis.eval(RELEASE, 1, key, value).catch(() => undefined);
      if (error instanceof FenceBusyError) return undefined;
      throw error;
    }
    return grantedLease(
      { storageId, fence, holder },
      this.#timing,
      async () => (await this.#redis.eval(RENEW, 1, key, value, this.#timing.ttlMs)) === 1,
      () => this.#redis.eval(RELEASE, 1, key, value),
    );
  }

  async holderOf(storageId: number): Promise<LeaseHolder | undefined> {
    const key = this.#key(storageId);
    const [value, ttl] = await Promise.all([this.#redis.get(key), this.#redis.pttl(key)]);
    if (value === null) return undefined;
    return { holder: value.split(' ')[0]!, expiresAt: ttl > 0 ? Date.now() + ttl : undefined };
  }

  async close(): Promise<void> {}
}
