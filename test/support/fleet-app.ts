import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { App } from '../../src/app.js';
import type { StorageRecord } from '../../src/db/repositories/storages.js';
import { tempDir } from './harness.js';
import { dropPrefix, REDIS_URL } from './redis.js';

/**
 * An App on a SQLite index of its own, queueing into Redis under a key prefix of its own,
 * with one memory storage `x`: what a test of the scan queue starts from. Its cleanups (close,
 * keys dropped, folder removed) are pushed onto `cleanups`, to be run in reverse.
 */
export async function openQueueApp(
  label: string,
  cleanups: Array<() => unknown>,
): Promise<{ app: App; storage: StorageRecord; prefix: string }> {
  const prefix = `test-${label}-${randomUUID().slice(0, 8)}`;
  const dir = tempDir(`trawl-${label}-`);
  cleanups.push(dir.cleanup);
  const app = await App.open({
    database: `${dir.path}/index.db`,
    tenant: 'default',
    env: { TRAWL_REDIS_URL: REDIS_URL, TRAWL_REDIS_PREFIX: prefix },
  });
  const redis = new Redis(REDIS_URL);
  cleanups.push(async () => {
    await app.close();
    await dropPrefix(redis, `{${prefix}}`);
    await redis.quit();
  });
  const storage = await app.index.storages.upsert({
    tenantId: app.tenantId,
    name: 'x',
    kind: 'memory',
    location: 'memory://x',
    options: { volume: 'x' },
  });
  return { app, storage, prefix };
}
