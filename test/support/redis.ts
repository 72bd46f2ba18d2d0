import { Redis } from 'ioredis';

/** The Redis the fleet tests use (the machine's own; each test takes a key prefix of its own). */
export const REDIS_URL = process.env.TRAWL_TEST_REDIS_URL || 'redis://127.0.0.1:6379';

let reachable: Promise<boolean> | undefined;

/**
 * Whether Redis answers. On a developer's machine without it, its tests are skipped; with
 * `TRAWL_REQUIRE_SERVICES` set (CI) a missing Redis is an error, never a skip.
 */
export function requireRedis(): Promise<boolean> {
  reachable ??= (async () => {
    const client = new Redis(REDIS_URL, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectTimeout: 2000,
    });
    try {
      await client.connect();
      await client.ping();
      return true;
    } catch (error) {
      if (process.env.TRAWL_REQUIRE_SERVICES) {
        throw new Error(
          `Redis at ${REDIS_URL} is unreachable (${(error as Error).message}), and TRAWL_REQUIRE_SERVICES is set`,
        );
      }
      return false;
    } finally {
      client.disconnect();
    }
  })();
  return reachable;
}

/** Deletes every key under `prefix` (a test's own namespace). */
export async function dropPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}
