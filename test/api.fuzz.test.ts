import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, apiFixture, scanEnded, type ApiFixture } from './support/api.js';
import { fuzzCases, type FuzzBase, type FuzzCase } from './support/api-fuzz.js';
import { errorShapeProblem, operations, type Operation } from './support/api-routes.js';
import { DIALECTS, skipDialect } from './support/databases.js';
import { tempDir } from './support/harness.js';

/** Longer than any answer of a sane server here; a hang shows as a failure, not a timeout. */
const HANG_MS = 5_000;

const b64 = (s: string) => Buffer.from(s).toString('base64url');

function tree(): string {
  const root = tempDir('trawl-fuzz-').path;
  mkdirSync(join(root, 'a b', 'c'), { recursive: true });
  for (let i = 0; i < 12; i++) writeFileSync(join(root, 'a b', `f${i}.txt`), 'x'.repeat(i));
  return root;
}

/** The answer, or a rejection after HANG_MS. */
async function within(work: Promise<LightMyRequestResponse>): Promise<LightMyRequestResponse> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${HANG_MS} ms`)), HANG_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** What is wrong with the answer `r` to `c`; undefined when it is right. */
function problem(c: FuzzCase, r: LightMyRequestResponse): string | undefined {
  if (r.statusCode >= 500) return `${r.statusCode} ${r.body.slice(0, 300)}`;
  if (c.status !== undefined && r.statusCode !== c.status)
    return `status ${r.statusCode}, not ${c.status}`;
  if (c.expect === 'bad' && (r.statusCode < 400 || r.statusCode >= 500)) {
    return `bad input answered ${r.statusCode}`;
  }
  if (r.statusCode < 400) return undefined;
  const shape = errorShapeProblem(r);
  if (shape) return `${r.statusCode}: ${shape}: ${r.body.slice(0, 200)}`;
  const e = r.json<{ error: { code: string; field?: string } }>().error;
  if (c.code !== undefined && e.code !== c.code) return `code ${e.code}, not ${c.code}`;
  // A field-level refusal names the field the case put the bad value in.
  const fieldLevel =
    (r.statusCode === 400 && !['BAD_JSON', 'BAD_URL'].includes(e.code)) ||
    ['CONFLICT', 'FORBIDDEN_ADDRESS'].includes(e.code);
  if (fieldLevel && e.field === undefined) return `names no field: ${r.body.slice(0, 200)}`;
  if (fieldLevel && c.expect === 'bad' && c.field !== undefined) {
    const named = e.field === c.field || e.field?.startsWith(`${c.field}.`);
    if (!named) return `field ${String(e.field)}, not ${c.field}: ${r.body.slice(0, 200)}`;
  }
  return undefined;
}

describe.each(DIALECTS)('the API under bad input on %s', async (dialect) => {
  const skip = await skipDialect(dialect);
  let f: ApiFixture;
  let ops: Operation[];
  let base: FuzzBase;
  let root: string;
  let made = 0;

  beforeAll(async () => {
    if (skip) return;
    f = await apiFixture({ dialect });
    ops = await operations(f.server);
    const me = await f.tenant('fuzz');
    // Token routes are fuzzed on a tenant of their own: a token a case revokes is not ours.
    const victim = await f.tenant('victim');
    const victimTokens = (await f.call(ADMIN_TOKEN, 'GET', '/v1/tenants/victim/tokens')).json<{
      items: { id: number }[];
    }>().items;
    const other = await f.tenant('other');
    root = tree();
    const scanned = async (token: string, url: string) => {
      const s = (await f.call(token, 'POST', '/v1/storages', { url })).json<{ id: number }>();
      const t = await f.call(token, 'POST', `/v1/storages/${s.id}/scans`);
      const scan = t.json<{ scan: { id: number } }>().scan;
      await scanEnded(f, token, scan.id);
      return { storage: s.id, scan: scan.id };
    };
    const mine = await scanned(me.token, root);
    const theirs = await scanned(other.token, tree());
    const cursorOf = async (token: string, url: string) => {
      const next = (await f.call(token, 'GET', url)).json<{ next: string | null }>().next;
      if (!next) throw new Error(`no next page at ${url}`);
      return next;
    };
    const cursors = {
      otherSort: await cursorOf(
        me.token,
        `/v1/storages/${mine.storage}/entries?dir=/a%20b&limit=2&sort=size`,
      ),
      searchOtherSort: await cursorOf(me.token, '/v1/search?q=f&limit=2&sort=mtime'),
      otherTenant: await cursorOf(
        other.token,
        `/v1/storages/${theirs.storage}/entries?dir=/a%20b&limit=2`,
      ),
      otherTenantSearch: await cursorOf(other.token, '/v1/search?q=f&limit=2'),
    };
    base = {
      token: (op) =>
        op.auth === 'admin' ? ADMIN_TOKEN : op.auth === 'tenant' ? me.token : undefined,
      pathValue(op, name) {
        if (op.path.startsWith('/v1/tenants/')) {
          if (name === 'tenant') return victim.name;
          if (name === 'id') return String(victimTokens[0]!.id);
        }
        if (op.path.startsWith('/v1/storages/{id}') && name === 'id') return String(mine.storage);
        if (op.path.startsWith('/v1/scans/{id}') && name === 'id') return String(mine.scan);
        throw new Error(`no fuzz value for {${name}} of ${op.path}: add one`);
      },
      body(op) {
        const out: Record<string, unknown> = {};
        for (const name of op.body?.required ?? []) {
          out[name] = name === 'url' ? join(root, `new ${++made}`) : name === 'name' ? 'fuzzed' : 1;
        }
        return out;
      },
      queryValues(_op, p) {
        if (p.name !== 'cursor') return [];
        return [
          { label: 'cursor of garbage', raw: b64('garbage\u0001\u00ff') },
          { label: 'cursor of {}', raw: b64('{}') },
          { label: 'cursor, JSON of wrong fields', raw: b64('{"v":2,"evil":true}') },
          {
            label: 'cursor, wrong key type',
            raw: b64('{"v":1,"q":"s","s":"size","o":"a","k":"x","i":1}'),
          },
          {
            label: 'cursor, huge id',
            raw: b64('{"v":1,"q":"s","s":"name","o":"a","k":"x","i":1e308}'),
          },
          {
            label: 'cursor holding NUL',
            raw: b64('{"v":1,"q":"b","s":"name","o":"a","k":"\\u0000","i":1,"d":1}'),
          },
          {
            label: 'cursor holding NUL (search)',
            raw: b64('{"v":1,"q":"s","s":"name","o":"a","k":"a\\u0000","i":1}'),
          },
          {
            label: 'cursor holding a lone surrogate',
            raw: b64('{"v":1,"q":"s","s":"name","o":"a","k":"\\ud800","i":1}'),
          },
          { label: 'cursor not base64', raw: '%21%21%21' },
          { label: 'cursor of another sort', raw: cursors.otherSort },
          { label: 'search cursor of another sort', raw: cursors.searchOtherSort },
          { label: "another tenant's cursor", raw: cursors.otherTenant },
          { label: "another tenant's search cursor", raw: cursors.otherTenantSearch },
          { label: 'cursor 3000 chars', raw: 'A'.repeat(3000) },
        ];
      },
    };
  }, 120_000);
  afterAll(async () => {
    await f?.close();
  });

  it.skipIf(skip)(
    'answers every generated bad input with a 4xx naming the field: never a 500, a hang or a crash',
    async () => {
      // Deletes last, so the storage and token the other cases aim at are still there.
      const ordered = [...ops].sort(
        (a, b) => Number(a.method === 'DELETE') - Number(b.method === 'DELETE'),
      );
      const failures: string[] = [];
      const statuses = new Map<number, number>();
      let slowest = 0;
      let requests = 0;
      for (const [i, op] of ordered.entries()) {
        for (const c of fuzzCases(op, base, i)) {
          const started = Date.now();
          let r: LightMyRequestResponse;
          try {
            r = await within(
              f.server.inject({
                method: c.method as 'GET',
                url: c.url,
                headers: c.headers,
                ...(c.payload === undefined ? {} : { payload: c.payload }),
                ...(c.remoteAddress ? { remoteAddress: c.remoteAddress } : {}),
              }),
            );
          } catch (error) {
            failures.push(`${op.method} ${op.path} [${c.label}]: ${(error as Error).message}`);
            continue;
          }
          requests++;
          slowest = Math.max(slowest, Date.now() - started);
          statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
          const p = problem(c, r);
          if (p) failures.push(`${c.method} ${op.path} [${c.label}] ${c.expect}: ${p}`);
        }
      }
      const byStatus = [...statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`);
      console.log(
        `fuzz (${dialect}): ${requests} requests over ${ops.length} routes, ${failures.length} failures; ` +
          `statuses ${byStatus.join(' ')}; slowest ${slowest} ms`,
      );
      expect(failures).toEqual([]);
      expect(statuses.get(500) ?? 0).toBe(0);
      // Still up, and still right.
      expect((await f.call(undefined, 'GET', '/healthz')).statusCode).toBe(200);
      expect((await f.call(undefined, 'GET', '/readyz')).statusCode).toBe(200);
      const me = (await f.call(ADMIN_TOKEN, 'GET', '/v1/tenants')).statusCode;
      expect(me).toBe(200);
      // Nothing that was said reached a log line as a crash.
      expect(
        f.logs.filter((l) => l.includes('"level":50') || l.includes('request failed')),
      ).toEqual([]);
    },
    300_000,
  );

  it.skipIf(skip)(
    'refuses a 2 MB chunked body on a real socket with 413, and keeps serving',
    async () => {
      const address = await f.server.listen({ port: 0, host: '127.0.0.1' });
      const { port } = new URL(address);
      const token = (await f.tenant('sock')).token;
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/v1/storages',
            headers: {
              authorization: `Bearer ${token}`,
              'content-type': 'application/json',
              'transfer-encoding': 'chunked',
            },
          },
          (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (body += d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on('error', reject);
        req.setTimeout(HANG_MS, () => req.destroy(new Error('no answer')));
        // No Content-Length: the limit must hold on what arrives, not on what was announced.
        const chunk = 'x'.repeat(64 * 1024);
        req.write(`{"url":"`);
        for (let sent = 0; sent < 2 * 1024 * 1024 && !req.destroyed; sent += chunk.length)
          req.write(chunk);
        req.end('"}');
      });
      expect(answer.status).toBe(413);
      expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'BODY_TOO_LARGE' } });
      const health = await fetch(`${address}/healthz`);
      expect(health.status).toBe(200);
    },
  );
});
