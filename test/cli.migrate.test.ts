/**
 * `trawl migrate`, and the fleet's rule that only it migrates: a command in fleet mode
 * (TRAWL_REDIS_URL set: `trawl worker`, `jobs`, `storages`…) refuses an index that lacks
 * migrations and leaves it untouched.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../src/app.js';
import { MIGRATION_NAMES } from '../src/db/migrations/index.js';
import { openIndex } from '../src/db/open.js';
import { runCli } from './support/cli-capture.js';
import { createDatabase, DIALECTS, skipDialect } from './support/databases.js';
import { REDIS_URL } from './support/redis.js';

for (const dialect of DIALECTS) {
  describe.skipIf(await skipDialect(dialect))(`trawl migrate on ${dialect}`, () => {
    const cleanup: Array<() => unknown> = [];
    afterEach(async () => {
      for (const c of cleanup.splice(0).reverse()) await c();
    });

    async function database() {
      const db = await createDatabase(dialect);
      cleanup.push(() => db.drop());
      return db;
    }

    /** Fleet mode needs only the URL to be set: nothing here connects to Redis. */
    const fleetEnv = () => ({
      TRAWL_REDIS_URL: REDIS_URL,
      TRAWL_REDIS_PREFIX: `t-${randomUUID()}`,
    });

    /** Tables in the index (none for an index nobody migrated). */
    async function tables(url: string): Promise<number> {
      // Opened without migrating only to count: a check that fails throws before any write.
      const index = await openIndex(url, { migrate: false }).catch(() => undefined);
      if (index) {
        await index.close();
        return MIGRATION_NAMES.length;
      }
      return 0;
    }

    it('a fleet command refuses an index that lacks migrations and changes nothing in it', async () => {
      const db = await database();
      const ls = await runCli(['storages', 'ls', '--db', db.url], fleetEnv());
      expect(ls.code).toBe(1);
      expect(ls.stderr).toContain('lacks');
      expect(ls.stderr).toContain(MIGRATION_NAMES[0]!);
      expect(ls.stderr).toContain('run `trawl migrate`');
      const worker = await runCli(['worker', '--db', db.url], fleetEnv());
      expect(worker.code).toBe(1);
      expect(worker.stderr).toContain('run `trawl migrate`');
      await expect(
        App.open({ database: db.url, tenant: 'default', env: fleetEnv(), migrate: false }),
      ).rejects.toMatchObject({ code: 'INDEX_NOT_MIGRATED' });
      expect(await tables(db.url)).toBe(0);
    });

    it('migrates once, then says the index is up to date; fleet processes open it', async () => {
      const db = await database();
      const first = await runCli(['migrate', '--db', db.url, '--json'], fleetEnv());
      expect(first.stderr).toBe('');
      expect(first.code).toBe(0);
      expect(JSON.parse(first.stdout)).toEqual({ applied: [...MIGRATION_NAMES] });
      const again = await runCli(['migrate', '--db', db.url]);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain('is up to date');
      const app = await App.open({
        database: db.url,
        tenant: 'default',
        env: fleetEnv(),
        migrate: false,
      });
      await app.close();
      const ls = await runCli(['storages', 'ls', '--db', db.url], fleetEnv());
      expect(ls.stderr).toBe('');
      expect(ls.code).toBe(0);
    });

    it('the embedded CLI (no Redis) still migrates on open', async () => {
      const db = await database();
      const ls = await runCli(['storages', 'ls', '--db', db.url]);
      expect(ls.code).toBe(0);
      expect(await tables(db.url)).toBe(MIGRATION_NAMES.length);
    });
  });
}
