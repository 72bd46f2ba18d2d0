import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryTree } from '../src/storage/backends/memory-tree.js';
import { StorageError, type StorageErrorCode } from '../src/storage/errors.js';
import { DEFAULT_RETRY, decideRetry } from '../src/storage/limits/retry.js';
import { StorageService } from '../src/storage/service.js';
import { createLogger } from '../src/observability/logger.js';
import { backoffDelay } from '../src/util/backoff.js';
import {
  Configs,
  FAST_RETRY,
  grow,
  grown,
  scanFixture,
  volume,
  type ScanFixture,
} from './service.helpers.js';
import { indexRows, treeRows } from './support/harness.js';
import { listAll } from './support/list-all.js';

describe(decideRetry.name, () => {
  const err = (code: StorageErrorCode, retryAfterMs?: number) =>
    new StorageError(code, code, { retryAfterMs });
  const none = { retries: 0, waits: 0 };

  it('waits for Retry-After when the server gives one, capped', () => {
    expect(decideRetry(err('RATE_LIMITED', 1500), none, DEFAULT_RETRY)).toEqual({
      action: 'wait',
      delayMs: 1500,
    });
    expect(decideRetry(err('RATE_LIMITED', 3_600_000), none, DEFAULT_RETRY)).toEqual({
      action: 'wait',
      delayMs: 60_000,
    });
  });

  it('backs off exponentially with jitter otherwise', () => {
    const top = () => 0.999999;
    const delays = [0, 1, 2, 3, 10].map((waits) =>
      decideRetry(err('RATE_LIMITED'), { retries: 0, waits }, DEFAULT_RETRY, top),
    );
    expect(delays.map((d) => d.action === 'wait' && d.delayMs)).toEqual([
      100, 200, 400, 800, 10_000,
    ]);
    // The exponent follows the storage's streak of refusals when there is one.
    const streak = (n: number) =>
      decideRetry(err('RATE_LIMITED'), { retries: 0, waits: 5, streak: n }, DEFAULT_RETRY, top);
    expect([1, 2, 3].map((n) => streak(n))).toEqual([
      { action: 'wait', delayMs: 100 },
      { action: 'wait', delayMs: 200 },
      { action: 'wait', delayMs: 400 },
    ]);
    expect(backoffDelay(3, { baseMs: 100, maxMs: 10_000 }, () => 0.5)).toBe(400);
    expect(backoffDelay(3, { baseMs: 100, maxMs: 10_000 }, () => 0)).toBe(0);
  });

  it('retries TIMEOUT and UNAVAILABLE a bounded number of times', () => {
    for (const code of ['TIMEOUT', 'UNAVAILABLE'] as const) {
      expect(decideRetry(err(code), { retries: 3, waits: 0 }, DEFAULT_RETRY).action).toBe('retry');
      expect(decideRetry(err(code), { retries: 4, waits: 0 }, DEFAULT_RETRY).action).toBe('fail');
    }
    expect(decideRetry(err('RATE_LIMITED'), { retries: 0, waits: 20 }, DEFAULT_RETRY).action).toBe(
      'fail',
    );
  });

  it('never retries NOT_FOUND, PERMISSION_DENIED, AUTH_FAILED, INVALID_CONFIG, even if marked retryable', () => {
    for (const code of [
      'NOT_FOUND',
      'PERMISSION_DENIED',
      'AUTH_FAILED',
      'INVALID_CONFIG',
    ] as const) {
      const e = new StorageError(code, code, { retryable: true });
      expect(decideRetry(e, none, DEFAULT_RETRY).action).toBe('fail');
    }
  });
});

describe('StorageService retries', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  function setup(extra: { log?: string[] } = {}) {
    const vol = volume();
    vol.tree.writeFile('/a/x.txt', 1, 1);
    const configs = new Configs();
    configs.add({ id: 1, options: { volume: vol.name } });
    const logger = extra.log
      ? createLogger({
          level: 'debug',
          destination: new Writable({
            write(chunk, _enc, done) {
              extra.log!.push(String(chunk));
              done();
            },
          }),
        })
      : undefined;
    const service = new StorageService({
      lookup: configs.lookup,
      retry: FAST_RETRY,
      ...(logger ? { logger } : {}),
    });
    const calls: string[] = [];
    vol.tree.beforeList = (dir) => void calls.push(dir);
    cleanups.push(vol.drop, () => service.closeAll());
    return { tree: vol.tree, service, handle: service.handle(1), calls };
  }

  it('retries a TIMEOUT until it lists, and gives up after the bound', async () => {
    const { tree, service, handle, calls } = setup();
    tree.failDir('/a', { code: 'TIMEOUT', times: 2 });
    expect((await listAll(handle.list('/a'))).map((e) => e.name)).toEqual(['x.txt']);
    expect(calls).toEqual(['/a', '/a', '/a']);
    expect(service.stats(1)).toMatchObject({ retries: 2, rateLimitWaits: 0 });
    expect(service.concurrency(1)!.lowest).toBeLessThan(5); // a timeout slows the storage down

    calls.length = 0;
    tree.failDir('/a', 'TIMEOUT');
    await expect(listAll(handle.list('/a'))).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(calls).toHaveLength(1 + DEFAULT_RETRY.attempts);
    expect(service.stats(1).retries).toBe(2 + DEFAULT_RETRY.attempts);
  });

  it.each(['NOT_FOUND', 'PERMISSION_DENIED', 'AUTH_FAILED', 'INVALID_CONFIG'] as const)(
    'never retries %s',
    async (code) => {
      const { tree, service, handle, calls } = setup();
      tree.failDir('/a', code);
      await expect(listAll(handle.list('/a'))).rejects.toMatchObject({ code });
      expect(calls).toEqual(['/a']);
      expect(service.stats(1)).toMatchObject({ retries: 0, rateLimitWaits: 0 });
    },
  );

  it('waits the Retry-After a rate-limited answer gives, then sends again', async () => {
    const log: string[] = [];
    const { tree, service, handle, calls } = setup({ log });
    tree.failDir('/a', { code: 'RATE_LIMITED', retryAfterMs: 37, times: 2 });
    expect((await listAll(handle.list('/a'))).map((e) => e.name)).toEqual(['x.txt']);
    expect(calls).toEqual(['/a', '/a', '/a']);
    expect(service.stats(1)).toMatchObject({ retries: 0, rateLimitWaits: 2 });
    const waits = log.map((l) => JSON.parse(l)).filter((l) => l.msg === 'rate limited, waiting');
    expect(waits.map((w) => [w.code, w.delayMs])).toEqual([
      ['RATE_LIMITED', 37],
      ['RATE_LIMITED', 37],
    ]);
    expect(service.concurrency(1)!.lowest).toBeLessThan(5);
  });

  it('stops waiting when the caller cancels', async () => {
    const { tree, handle, calls } = setup();
    tree.failDir('/a', { code: 'RATE_LIMITED', retryAfterMs: 60_000 });
    const controller = new AbortController();
    const listing = listAll(handle.list('/a', { signal: controller.signal }));
    while (calls.length === 0) await new Promise((r) => setTimeout(r, 1));
    controller.abort(new StorageError('CANCELLED', 'scan stopped'));
    await expect(listing).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(calls).toEqual(['/a']);
  });
});

describe('a scan through a server that answers 30 % of requests with 429', () => {
  let fx: ScanFixture | undefined;
  afterEach(async () => fx?.close());

  for (const retryAfterMs of [undefined, 3]) {
    it(`succeeds with exact counts and no errors, at a lower concurrency (Retry-After ${retryAfterMs ?? 'none'})`, async () => {
      const tree = new MemoryTree();
      const shape = [8, 12];
      grow(tree, shape, 4);
      tree.latencyMs = 1;
      tree.rateLimit(0.3, { seed: 42, retryAfterMs });
      fx = await scanFixture({}, tree);
      const progress: Array<{ retries: number; rateLimitWaits: number }> = [];
      const result = await fx.scanWith({ listers: 16, onProgress: (p) => progress.push(p) });
      expect(result).toMatchObject({
        status: 'succeeded',
        errors: 0,
        ...grown(shape, 4),
        created: grown(shape, 4).files,
        retries: 0,
      });
      expect(tree.stats.rateLimited).toBeGreaterThan(20);
      // Every 429 was waited out; none became an error.
      expect(result.rateLimitWaits).toBe(tree.stats.rateLimited);
      expect(progress.at(-1)).toMatchObject({ retries: 0, rateLimitWaits: result.rateLimitWaits });
      expect(tree.stats.lists).toBe(grown(shape, 4).dirs + 1 + tree.stats.rateLimited);
      expect(indexRows(await fx.indexed())).toEqual(treeRows(tree));
      const c = fx.service.concurrency(fx.storage.id)!;
      expect(c.max).toBe(5);
      expect(c.lowest).toBeLessThanOrEqual(2);
    });
  }
});
