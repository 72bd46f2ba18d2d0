import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { AuthFailedError, UnavailableError } from '../src/storage/errors.js';
import { StorageService } from '../src/storage/service.js';
import type { StorageClient } from '../src/storage/types.js';
import { createLogger } from '../src/observability/logger.js';
import { createRegistry, storageMetrics } from '../src/observability/metrics.js';
import { redactText } from '../src/util/redact.js';
import { Configs, FAST_RETRY, volume } from './service.helpers.js';
import { listAll } from './support/list-all.js';

function capture() {
  const lines: string[] = [];
  const logger = createLogger({
    level: 'trace',
    destination: new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    }),
  });
  return { lines, logger };
}

const SECRET = 'hunter2-S3cr3t';

describe('StorageService observability', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  it('counts requests, errors, retries, rate-limit waits, connects and live clients', async () => {
    const vol = volume();
    vol.tree.writeFile('/a/x', 1, 1);
    const configs = new Configs();
    configs.add({ id: 1, options: { volume: vol.name } });
    const metrics = storageMetrics(createRegistry());
    const service = new StorageService({ lookup: configs.lookup, retry: FAST_RETRY, metrics });
    cleanups.push(vol.drop, () => service.closeAll());
    const handle = service.handle(1);
    vol.tree.failDir('/a', { code: 'RATE_LIMITED', times: 1, retryAfterMs: 1 });
    await listAll(handle.list('/a'));
    vol.tree.failDir('/a', { code: 'TIMEOUT', times: 1 });
    await listAll(handle.list('/a'));
    vol.tree.failDir('/b', 'NOT_FOUND');
    await expect(listAll(handle.list('/b'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await handle.check();

    const text = await metrics.registry.metrics();
    const value = (line: string) => {
      const found = text.split('\n').find((l) => l.startsWith(line + ' '));
      return found === undefined ? undefined : Number(found.slice(line.length + 1));
    };
    expect(value('trawl_storage_requests_total{kind="memory",op="list",outcome="ok"}')).toBe(2);
    expect(value('trawl_storage_requests_total{kind="memory",op="list",outcome="error"}')).toBe(3);
    expect(value('trawl_storage_requests_total{kind="memory",op="check",outcome="ok"}')).toBe(1);
    expect(value('trawl_storage_errors_total{kind="memory",op="list",code="RATE_LIMITED"}')).toBe(
      1,
    );
    expect(value('trawl_storage_errors_total{kind="memory",op="list",code="TIMEOUT"}')).toBe(1);
    expect(value('trawl_storage_errors_total{kind="memory",op="list",code="NOT_FOUND"}')).toBe(1);
    expect(value('trawl_storage_retries_total{kind="memory",code="TIMEOUT"}')).toBe(1);
    expect(value('trawl_storage_rate_limit_waits_total{kind="memory"}')).toBe(1);
    expect(value('trawl_storage_connects_total{kind="memory",outcome="ok"}')).toBe(1);
    expect(value('trawl_storage_live_clients{kind="memory"}')).toBe(1);
    expect(value('trawl_storage_requests_in_flight{kind="memory"}')).toBe(0);
    expect(value('trawl_storage_request_duration_seconds_count{kind="memory",op="list"}')).toBe(5);
    await service.closeAll();
    expect(await metrics.registry.getSingleMetricAsString('trawl_storage_live_clients')).toContain(
      'trawl_storage_live_clients{kind="memory"} 0',
    );
    // A second service on the same registry shares the metrics instead of failing to register.
    expect(storageMetrics(metrics.registry)).toBe(metrics);
  });

  it('never logs credentials, from options or from error messages', async () => {
    const { lines, logger } = capture();
    const configs = new Configs();
    configs.add({
      id: 7,
      kind: 'webdav',
      options: { url: `https://alice:${SECRET}@dav.example.com/files`, password: SECRET },
    });
    let attempt = 0;
    const createClient = (): StorageClient => ({
      async connect() {
        attempt++;
        if (attempt === 1)
          throw new AuthFailedError(`401 from https://alice:${SECRET}@dav.example.com/files`);
      },
      async close() {},
      async check() {},
      async *list() {
        throw new UnavailableError(
          `socket hang up (Authorization: Basic ${SECRET}) password=${SECRET}`,
        );
      },
    });
    const service = new StorageService({
      lookup: configs.lookup,
      createClient,
      logger,
      retry: { ...FAST_RETRY, attempts: 1 },
    });
    cleanups.push(() => service.closeAll());
    await expect(service.getClient(7)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await expect(listAll(service.handle(7).list('/'))).rejects.toMatchObject({
      code: 'UNAVAILABLE',
    });
    await service.closeAll();

    const all = lines.join('');
    const messages = lines.map((l) => JSON.parse(l).msg);
    expect(messages).toEqual(
      expect.arrayContaining([
        'storage connect failed',
        'storage connected',
        'storage client dropped',
        'retrying after error',
      ]),
    );
    expect(all).toContain('"storageId":7');
    expect(all).toContain('alice:***@dav.example.com');
    expect(all).not.toContain(SECRET);
  });

  it('redacts secret keys at any depth and secrets inside text', () => {
    const { lines, logger } = capture();
    logger.info(
      {
        password: SECRET,
        options: { secretAccessKey: SECRET, nested: { token: SECRET } },
        err: new Error(`connect to sftp://bob:${SECRET}@host failed`),
      },
      'x',
    );
    expect(lines.join('')).not.toContain(SECRET);
    expect(JSON.parse(lines[0]!).options.secretAccessKey).toBe('[redacted]');
    expect(redactText(`s3://b?secretAccessKey=${SECRET}&region=x`)).toBe(
      's3://b?secretAccessKey=***&region=x',
    );
    expect(redactText(`Authorization: Bearer ${SECRET}`)).toBe('Authorization: ***');
  });
});
