/** In a fleet every batch's change event goes to the outbox — unless nothing consumes them. */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../src/app.js';
import { MemoryTree } from '../src/storage/backends/memory-tree.js';
import { registerMemoryVolume, unregisterMemoryVolume } from '../src/storage/backends/memory.js';
import { tempDir } from './support/harness.js';
import { REDIS_URL, requireRedis } from './support/redis.js';

const redisUp = await requireRedis();

describe.skipIf(!redisUp)('change events of a fleet scan', () => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  for (const [setting, expected] of [
    [undefined, true],
    ['on', true],
    ['off', false],
    [undefined, false], // no Redis: embedded, nobody relays
  ] as const) {
    it(`are written to the outbox: ${expected} (TRAWL_CHANGE_EVENTS=${setting ?? 'unset'}${expected || setting ? '' : ', embedded'})`, async () => {
      const dir = tempDir('trawl-events-');
      cleanup.push(dir.cleanup);
      const volume = `events-${randomUUID()}`;
      registerMemoryVolume(volume, new MemoryTree().writeFile('/a', 1, 1).writeFile('/b/c', 2, 2));
      cleanup.push(() => unregisterMemoryVolume(volume));
      const fleet = expected || setting !== undefined;
      const env: Record<string, string> = fleet
        ? { TRAWL_REDIS_URL: REDIS_URL, TRAWL_REDIS_PREFIX: `events-${randomUUID()}` }
        : {};
      if (setting) env.TRAWL_CHANGE_EVENTS = setting;
      const app = await App.open({ database: `${dir.path}/i.db`, tenant: 'default', env });
      cleanup.push(() => app.close());
      const storage = await app.ensureStorage({
        kind: 'memory',
        location: `memory://${volume}`,
        options: { volume },
      });
      await app.scan(storage);
      const rows = await app.index.db.selectFrom('change_events').selectAll().execute();
      expect(rows.length > 0).toBe(expected);
    });
  }
});
