import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthLimiter } from '../src/api/auth-limiter.js';
import { apiFixture, type ApiFixture } from './support/api.js';

describe('the API: health, readiness and metrics', () => {
  let f: ApiFixture;
  beforeAll(async () => {
    f = await apiFixture();
  });
  afterAll(async () => {
    await f?.close();
  });

  it('is alive and ready without a token; metrics count requests by route template', async () => {
    expect((await f.call(undefined, 'GET', '/healthz')).json()).toEqual({ status: 'ok' });
    const ready = await f.call(undefined, 'GET', '/readyz');
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ ready: true, database: { ok: true } });
    const { token } = await f.tenant('ops');
    for (const id of [101, 102, 103]) await f.call(token, 'GET', `/v1/storages/${id}`);
    const text = (await f.call(undefined, 'GET', '/metrics')).body;
    // One series for the route however many ids were asked: labels stay bounded.
    expect(text).toContain(
      'trawl_http_requests_total{method="GET",route="/v1/storages/:id",status="404"} 3',
    );
    expect(text).toContain('trawl_queue_jobs{state="waiting"} 0');
    expect(text).toMatch(/trawl_storage_requests_total|trawl_storage_live_clients/);
  });
});

describe('readiness when Redis is away', () => {
  it('answers 503 naming Redis, while the database is fine', async () => {
    // A fleet node whose Redis does not answer (nothing listens on port 1).
    const f = await apiFixture({ runner: false, env: { TRAWL_REDIS_URL: 'redis://127.0.0.1:1' } });
    try {
      const ready = await f.call(undefined, 'GET', '/readyz');
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toMatchObject({
        ready: false,
        database: { ok: true },
        redis: { ok: false },
      });
    } finally {
      await f.close();
    }
  });
});

describe('the failed sign-in limiter', () => {
  it('refuses a client past its failures until its window ends; others are untouched', () => {
    const l = new AuthLimiter({ max: 3, windowMs: 1000 });
    for (let i = 0; i < 3; i++) {
      expect(l.blockedFor('a', 0)).toBe(0);
      l.failed('a', 0);
    }
    expect(l.blockedFor('a', 10)).toBe(990);
    expect(l.blockedFor('b', 10)).toBe(0);
    expect(l.blockedFor('a', 1000)).toBe(0);
  });
});
