import { Writable } from 'node:stream';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { pino } from 'pino';
import { App } from '../../src/app.js';
import { buildServer } from '../../src/api/server.js';
import type { Dialect } from '../../src/db/dialect.js';
import type { ScanRunner } from '../../src/jobs/scan-runner.js';
import { scanRunner } from '../../src/jobs/runners.js';
import { addressPolicyFromEnv } from '../../src/storage/net/address-policy.js';
import { createDatabase, type TestDatabase } from './databases.js';
import { tempDir } from './harness.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

export interface ApiFixture {
  server: FastifyInstance;
  app: App;
  db: TestDatabase;
  runner: ScanRunner | undefined;
  /** Every log line the server wrote, as text (to prove secrets never reach a log). */
  logs: string[];
  /** A fresh tenant with a token: `{ id, name, token }`. */
  tenant(name: string): Promise<{ id: number; name: string; token: string }>;
  /** An injected request as the holder of `token` (no token when undefined). */
  call(
    token: string | undefined,
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT',
    url: string,
    body?: unknown,
  ): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export interface ApiFixtureOptions {
  dialect?: Dialect;
  /** Run scans in this process (the embedded worker of `serve`). @default true */
  runner?: boolean;
  /** The SSRF guard's environment; @default local paths under the OS temp dir allowed */
  guardEnv?: Record<string, string>;
  env?: NodeJS.ProcessEnv;
  authFailuresPerMinute?: number;
}

/**
 * `trawl serve` in-process on a database of its own, driven with `inject` (no socket): the
 * same server, routes, hooks and guard as the command builds.
 */
export async function apiFixture(o: ApiFixtureOptions = {}): Promise<ApiFixture> {
  const db = await createDatabase(o.dialect ?? 'sqlite');
  const logs: string[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        logs.push(chunk.toString());
        done();
      },
    }),
  );
  const tmp = tempDir('trawl-api-').path;
  const policy = addressPolicyFromEnv(
    o.guardEnv ?? { TRAWL_ALLOW_LOCAL_PATHS: [tmp, '/tmp'].join(',') },
  );
  const env = { ...(o.env ?? {}), TRAWL_SECRET_KEY: '11'.repeat(32) };
  const app = await App.open({
    database: db.url,
    tenant: 'default',
    env,
    logger,
    addressPolicy: policy,
    storageEnv: {},
  });
  const runner =
    o.runner === false ? undefined : scanRunner(app, { workerId: 'api-test', pollMs: 200 });
  const server = await buildServer({
    app,
    runner,
    addressPolicy: policy,
    adminToken: ADMIN_TOKEN,
    logger,
    ...(o.authFailuresPerMinute ? { authFailuresPerMinute: o.authFailuresPerMinute } : {}),
  });
  await server.ready();
  runner?.start();
  const call: ApiFixture['call'] = (token, method, url, body) =>
    server.inject({
      method,
      url,
      headers: token ? { authorization: `Bearer ${token}` } : {},
      ...(body === undefined ? {} : { payload: body as object }),
    });
  return {
    server,
    app,
    db,
    runner,
    logs,
    call,
    async tenant(name) {
      const t = await call(ADMIN_TOKEN, 'POST', '/v1/tenants', { name });
      if (t.statusCode !== 201) throw new Error(`tenant ${name}: ${t.statusCode} ${t.body}`);
      const k = await call(ADMIN_TOKEN, 'POST', `/v1/tenants/${name}/tokens`, { name: 'test' });
      if (k.statusCode !== 201) throw new Error(`token for ${name}: ${k.statusCode} ${k.body}`);
      return { id: t.json<{ id: number }>().id, name, token: k.json<{ token: string }>().token };
    },
    async close() {
      await runner?.stop();
      await server.close();
      await app.close();
      await db.drop();
    },
  };
}

/** Polls the scan until it ends; its final view. */
export async function scanEnded(
  f: ApiFixture,
  token: string,
  scanId: number,
  timeoutMs = 30_000,
): Promise<Record<string, unknown>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await f.call(token, 'GET', `/v1/scans/${scanId}`);
    const scan = r.json<Record<string, unknown>>();
    if (!['queued', 'running'].includes(String(scan.status))) return scan;
    if (Date.now() > until) throw new Error(`scan ${scanId} still ${String(scan.status)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
