import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { App } from '../src/app.js';
import { ScanWorker } from '../src/jobs/worker.js';
import { MemoryTree } from '../src/storage/backends/memory-tree.js';
import { registerMemoryVolume, unregisterMemoryVolume } from '../src/storage/backends/memory.js';
import { apiFixture, type ApiFixture } from './support/api.js';
import { skipDialect } from './support/databases.js';
import { dropPrefix, REDIS_URL, requireRedis } from './support/redis.js';

interface SseEvent {
  event: string;
  data: unknown;
}

/** A slow tree: `dirs` directories of 5 files, each listing `latencyMs` late. */
function slowVolume(dirs: number, latencyMs: number): { url: string; drop(): void } {
  const name = `slow-${randomUUID()}`;
  const tree = new MemoryTree();
  for (let d = 0; d < dirs; d++)
    for (let f = 0; f < 5; f++) tree.writeFile(`/d${d}/f${f}.txt`, f + 1, d);
  tree.latencyMs = latencyMs;
  registerMemoryVolume(name, tree);
  return { url: `memory://${name}`, drop: () => unregisterMemoryVolume(name) };
}

/** Reads a scan's event stream over a real socket until it closes. */
async function readEvents(base: string, scanId: number, token: string): Promise<SseEvent[]> {
  const res = await fetch(`${base}/v1/scans/${scanId}/events?access_token=${token}`, {
    signal: AbortSignal.timeout(60_000),
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((block) => block.startsWith('event: '))
    .map((block) => {
      const [head, data] = block.split('\n');
      return { event: head!.slice(7), data: JSON.parse(data!.slice(6)) as unknown };
    });
}

async function listening(f: ApiFixture): Promise<string> {
  return f.server.listen({ port: 0, host: '127.0.0.1' });
}

describe('the API streams scan progress (server-sent events)', () => {
  let f: ApiFixture;
  let base: string;
  let token: string;
  beforeAll(async () => {
    f = await apiFixture({ dialect: 'sqlite' });
    base = await listening(f);
    token = (await f.tenant('streams')).token;
  });
  afterAll(async () => {
    await f?.close();
  });

  it('sends progress while the scan runs, then the final result, then closes', async () => {
    const vol = slowVolume(120, 60);
    try {
      const s = (await f.call(token, 'POST', '/v1/storages', { url: vol.url })).json<{
        id: number;
      }>();
      const t = await f.call(token, 'POST', `/v1/storages/${s.id}/scans`);
      const scanId = t.json<{ scan: { id: number } }>().scan.id;
      const events = await readEvents(base, scanId, token);
      const progress = events.filter((e) => e.event === 'progress');
      expect(progress.length).toBeGreaterThan(0);
      const p = progress.at(-1)!.data as { files: number; dirsListed: number; ratePerSec: number };
      expect(p.dirsListed).toBeGreaterThan(0);
      expect(events.at(-1)).toMatchObject({
        event: 'end',
        data: { id: scanId, status: 'succeeded', files: 600, dirs: 120 },
      });
      // Counters only grow.
      const files = progress.map((e) => (e.data as { files: number }).files);
      expect([...files].sort((a, b) => a - b)).toEqual(files);
    } finally {
      vol.drop();
    }
  });

  it('cancels a running scan: the stream ends with `cancelled`', async () => {
    const vol = slowVolume(400, 60);
    try {
      const s = (await f.call(token, 'POST', '/v1/storages', { url: vol.url })).json<{
        id: number;
      }>();
      const scanId = (await f.call(token, 'POST', `/v1/storages/${s.id}/scans`)).json<{
        scan: { id: number };
      }>().scan.id;
      const stream = readEvents(base, scanId, token);
      // Wait until it runs, then ask it to stop.
      for (let i = 0; i < 100; i++) {
        const now = (await f.call(token, 'GET', `/v1/scans/${scanId}`)).json<{ status: string }>();
        if (now.status === 'running') break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const c = await f.call(token, 'POST', `/v1/scans/${scanId}/cancel`);
      expect(c.statusCode).toBe(202);
      const events = await stream;
      expect(events.at(-1)).toMatchObject({ event: 'end', data: { status: 'cancelled' } });
      const end = events.at(-1)!.data as { files: number };
      expect(end.files).toBeLessThan(2000);
    } finally {
      vol.drop();
    }
  });

  it('answers 404 for another tenant’s scan stream, even with a valid token', async () => {
    const other = (await f.tenant('other-streams')).token;
    const vol = slowVolume(2, 0);
    try {
      const s = (await f.call(token, 'POST', '/v1/storages', { url: vol.url })).json<{
        id: number;
      }>();
      const scanId = (await f.call(token, 'POST', `/v1/storages/${s.id}/scans`)).json<{
        scan: { id: number };
      }>().scan.id;
      const res = await fetch(`${base}/v1/scans/${scanId}/events?access_token=${other}`);
      expect(res.status).toBe(404);
      const none = await fetch(`${base}/v1/scans/${scanId}/events`);
      expect(none.status).toBe(401);
    } finally {
      vol.drop();
    }
  });
});

describe('the API as a node of a fleet (PostgreSQL + Redis, the scan on a worker)', async () => {
  const skip = (await skipDialect('postgres')) || !(await requireRedis());
  it.skipIf(skip)(
    'queues the scan for a worker and streams the progress that worker writes',
    async () => {
      const prefix = `api-${randomUUID()}`;
      const env = { TRAWL_REDIS_URL: REDIS_URL, TRAWL_REDIS_PREFIX: prefix };
      const f = await apiFixture({ dialect: 'postgres', runner: false, env });
      const vol = slowVolume(80, 100);
      let worker: ScanWorker | undefined;
      let workerApp: App | undefined;
      const redis = new Redis(REDIS_URL);
      try {
        expect(f.app.fleet).toBe(true);
        const base = await listening(f);
        const token = (await f.tenant('fleet')).token;
        const s = (await f.call(token, 'POST', '/v1/storages', { url: vol.url })).json<{
          id: number;
        }>();
        const t = (await f.call(token, 'POST', `/v1/storages/${s.id}/scans`)).json<{
          scan: { id: number; status: string };
        }>();
        expect(t.scan.status).toBe('queued');
        // A second trigger while it waits joins the same job.
        const again = (await f.call(token, 'POST', `/v1/storages/${s.id}/scans`)).json<{
          deduplicated: boolean;
        }>();
        expect(again.deduplicated).toBe(true);
        // Cancelled while it waits: the next trigger is a new job, not one joining the
        // cancelled scan (which would run nothing).
        const cancelled = await f.call(token, 'POST', `/v1/scans/${t.scan.id}/cancel`);
        expect(cancelled.json()).toMatchObject({ status: 'cancelled' });
        const fresh = (await f.call(token, 'POST', `/v1/storages/${s.id}/scans`)).json<{
          scan: { id: number; status: string };
          deduplicated: boolean;
        }>();
        expect(fresh).toMatchObject({ deduplicated: false, scan: { status: 'queued' } });
        expect(fresh.scan.id).not.toBe(t.scan.id);
        t.scan = fresh.scan;
        workerApp = await App.open({
          database: f.db.url,
          tenant: 'default',
          env: { ...env, TRAWL_SECRET_KEY: '11'.repeat(32) },
        });
        worker = new ScanWorker(workerApp, { workerId: 'api-fleet-worker' });
        worker.start(REDIS_URL);
        const events = await readEvents(base, t.scan.id, token);
        expect(events.some((e) => e.event === 'progress')).toBe(true);
        expect(events.at(-1)).toMatchObject({
          event: 'end',
          data: { id: t.scan.id, status: 'succeeded', files: 400 },
        });
        const metrics = await fetch(`${base}/metrics`).then((r) => r.text());
        expect(metrics).toMatch(/trawl_queue_jobs\{state="completed"\} [1-9]/);
        expect(metrics).toMatch(
          /trawl_http_requests_total\{method="POST",route="\/v1\/storages\/:id\/scans",status="202"\} 3/,
        );
        const ready = await fetch(`${base}/readyz`).then((r) => r.json());
        expect(ready).toMatchObject({ ready: true, database: { ok: true }, redis: { ok: true } });
      } finally {
        await worker?.stop();
        await workerApp?.close();
        vol.drop();
        await f.close();
        await dropPrefix(redis, `{${prefix}}`);
        redis.disconnect();
      }
    },
  );
});
