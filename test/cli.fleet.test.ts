/**
 * The command line in fleet mode: `trawl storages` publishes schedules to the fleet's Redis
 * (and says so when it cannot), and the fleet's variables are checked.
 */
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/env.js';
import { queuePrefix } from '../src/jobs/scan-queue.js';
import { SCHEDULE_QUEUE } from '../src/jobs/schedules.js';
import { runCli } from './support/cli-capture.js';
import { createDatabase } from './support/databases.js';
import { tempDir } from './support/harness.js';
import { dropPrefix, REDIS_URL, requireRedis } from './support/redis.js';

const available = await requireRedis();
const admin = available ? new Redis(REDIS_URL) : undefined;
afterAll(async () => admin?.quit());

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe.skipIf(!available)('trawl storages in a fleet', () => {
  it('publishes a schedule as it is set, and removes it with the storage', async () => {
    const db = await createDatabase('sqlite');
    cleanup.push(() => db.drop());
    const folder = tempDir('trawl-cli-fleet-');
    cleanup.push(() => folder.cleanup());
    const prefix = `cli-${randomUUID()}`;
    cleanup.push(() => dropPrefix(admin!, queuePrefix(prefix)));
    const env = { TRAWL_REDIS_URL: REDIS_URL, TRAWL_REDIS_PREFIX: prefix };
    const queue = new Queue(SCHEDULE_QUEUE, { connection: admin!, prefix: queuePrefix(prefix) });
    cleanup.push(() => queue.close());
    const schedulers = async () =>
      (await queue.getJobSchedulers(0, -1)).map((s) => [s.every ?? null, s.pattern ?? null]);

    expect((await runCli(['migrate', '--db', db.url], env)).code).toBe(0);
    const add = await runCli(
      ['storages', 'add', folder.path, '--name', 'box', '--every', '6h', '--db', db.url],
      env,
    );
    expect(add.stderr).toBe('');
    expect(await schedulers()).toEqual([[6 * 3_600_000, null]]);
    await runCli(['storages', 'edit', 'box', '--cron', '0 3 * * *', '--db', db.url], env);
    expect(await schedulers()).toEqual([[null, '0 3 * * *']]);
    await runCli(['storages', 'disable', 'box', '--db', db.url], env);
    expect(await schedulers()).toEqual([]);
    await runCli(['storages', 'enable', 'box', '--db', db.url], env);
    expect(await schedulers()).toHaveLength(1);
    await runCli(['storages', 'rm', 'box', '--yes', '--db', db.url], env);
    expect(await schedulers()).toEqual([]);
  });

  it('keeps the change and says so when Redis does not answer', async () => {
    const db = await createDatabase('sqlite');
    cleanup.push(() => db.drop());
    const folder = tempDir('trawl-cli-fleet-');
    cleanup.push(() => folder.cleanup());
    await runCli(['storages', 'add', folder.path, '--name', 'box', '--db', db.url]);
    const dead = { TRAWL_REDIS_URL: 'redis://127.0.0.1:1' };
    const edit = await runCli(['storages', 'edit', 'box', '--every', '1h', '--db', db.url], dead);
    expect(edit.code).toBe(0);
    expect(edit.stderr).toMatch(/the change is stored, but Redis did not take .*reconcile/);
    const show = await runCli(['storages', 'show', 'box', '--json', '--db', db.url]);
    expect(JSON.parse(show.stdout)).toMatchObject({ schedule: { every: '1h' } });
  });
});

describe('the fleet’s variables', () => {
  it('reads caps by kind and key, per tenant, and the tenant’s scans', () => {
    const config = loadConfig({
      TRAWL_KIND_MAX_CONCURRENCY: 'webdav=20, s3=200',
      TRAWL_KEY_MAX_CONCURRENCY: 'webdav:nas.example.com:8443=8',
      TRAWL_TENANT_MAX_CONCURRENCY: '12',
      TRAWL_TENANT_MAX_SCANS: '2',
    });
    expect(config).toMatchObject({
      kindMaxConcurrency: { webdav: 20, s3: 200 },
      keyMaxConcurrency: { 'webdav:nas.example.com:8443': 8 },
      tenantMaxConcurrency: 12,
      tenantMaxScans: 2,
    });
    expect(loadConfig({})).toMatchObject({ tenantMaxScans: 4, tenantMaxConcurrency: undefined });
  });

  it('names a bad value and what was expected', () => {
    expect(() => loadConfig({ TRAWL_TENANT_MAX_SCANS: '0' })).toThrow(
      'TRAWL_TENANT_MAX_SCANS expects an integer from 1 and up, got "0"',
    );
    expect(() => loadConfig({ TRAWL_KIND_MAX_CONCURRENCY: 'webdav' })).toThrow(
      'TRAWL_KIND_MAX_CONCURRENCY expects name=N pairs separated by commas (webdav=20,s3=200), got "webdav"',
    );
    expect(() => loadConfig({ TRAWL_KEY_MAX_CONCURRENCY: 'webdav:nas=x' })).toThrow(
      'TRAWL_KEY_MAX_CONCURRENCY (webdav:nas) expects an integer from 1 and up, got "x"',
    );
  });
});
