import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, apiFixture, type ApiFixture } from './support/api.js';
import { operations, urlOf, type Operation, type Param } from './support/api-routes.js';
import { intruderOf, ownerOf, type Intruder, type Owner } from './support/api-tenants.js';
import { DIALECTS, skipDialect } from './support/databases.js';
import { tempDir } from './support/harness.js';

/** An id no table here reaches: "an id that does not exist". */
const TWIN_ID = 7_654_321;
const TWIN_TEXT = 'nobody-has-this';
/** Answers that must not tell "not yours" from "not there". */
const REFUSALS = [401, 403, 404];

const inJson = (v: string) => JSON.stringify(v).slice(1, -1);

type Json = Record<string, unknown>;

/** Storages and scans in a JSON answer that are not the intruder's own. */
function foreign(body: unknown, me: Intruder, out: string[] = []): string[] {
  if (Array.isArray(body)) body.forEach((x) => foreign(x, me, out));
  else if (body && typeof body === 'object') {
    const o = body as Json;
    if (typeof o.storageId === 'number' && !me.storages.has(o.storageId)) {
      out.push(`storageId ${o.storageId}`);
    }
    if ('location' in o && typeof o.id === 'number' && !me.storages.has(o.id)) {
      out.push(`storage ${o.id}`);
    }
    Object.values(o).forEach((x) => foreign(x, me, out));
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

describe.each(DIALECTS)('tenant isolation on %s', async (dialect) => {
  const skip = await skipDialect(dialect);
  let f: ApiFixture;
  let ops: Operation[];
  let a: Owner;
  let b: Intruder;
  /** Every answer any test here got, to search for secrets at the end. */
  const bodies: string[] = [];

  const send = async (
    token: string | undefined,
    method: string,
    url: string,
    payload?: unknown,
    remoteAddress?: string,
  ): Promise<LightMyRequestResponse> => {
    const r = await f.server.inject({
      method: method as 'GET',
      url,
      headers: token ? { authorization: `Bearer ${token}` } : {},
      ...(payload === undefined ? {} : { payload: payload as object }),
      ...(remoteAddress ? { remoteAddress } : {}),
    });
    bodies.push(r.body);
    return r;
  };

  beforeAll(async () => {
    if (skip) return;
    f = await apiFixture({ dialect });
    ops = await operations(f.server);
    b = await intruderOf(f);
    a = await ownerOf(f);
  }, 120_000);
  afterAll(async () => {
    await f?.close();
  });

  it.skipIf(skip)(
    "answers every route called with every one of another tenant's ids exactly as for an id that does not exist",
    async () => {
      const ids = [
        ...new Set([...a.storageIds, ...a.scanIds, ...a.entryIds, ...a.tokenIds, a.tenantId]),
      ];
      // (A's token is no id: sent in a query string it would rightly be logged as sent.)
      const texts = [...a.cursors, ...a.texts];
      // Precondition: no id of A's is one the intruder owns, else a 200 would be no leak.
      expect(ids.filter((id) => b.storages.has(id) || b.scans.has(id))).toEqual([]);
      expect(a.entryIds.length).toBeGreaterThan(25);
      expect(a.cursors.length).toBeGreaterThan(5);
      const before = (await send(a.token, 'GET', '/v1/storages')).body;

      const leaks: string[] = [];
      let calls = 0;
      const bodyOf = (op: Operation) => {
        if (!op.body) return undefined;
        const out: Json = {};
        for (const name of op.body.required ?? []) {
          const dir = join(tempDir('trawl-iso-b-').path, 'new');
          mkdirSync(dir);
          out[name] = name === 'url' ? dir : 'intruded';
        }
        return out;
      };
      const valuesFor = (p: Param): Array<[string, string]> => {
        if (p.schema.type === 'integer') return ids.map((id) => [String(id), String(TWIN_ID)]);
        if (p.schema.type === 'string' && !p.schema.enum) {
          return texts.map((t) => [encodeURIComponent(t), TWIN_TEXT]);
        }
        return [];
      };
      // The intruder's own ids in a path, to reach the query parameters behind it.
      const own = (op: Operation, name: string) => {
        if (op.path.startsWith('/v1/storages/{id}') && name === 'id') return String(b.storageId);
        if (op.path.startsWith('/v1/scans/{id}') && name === 'id') return String(b.scanId);
        return name === 'tenant' ? TWIN_TEXT : String(TWIN_ID);
      };
      const judge = async (
        label: string,
        op: Operation,
        url: string,
        twinUrl: string | undefined,
        value: { raw: string; twin: string } | undefined,
        inPath: boolean,
      ) => {
        const payload = bodyOf(op);
        const r = await send(b.token, op.method, url, payload);
        calls++;
        const problems: string[] = [];
        if (r.statusCode >= 500) problems.push(`${r.statusCode}`);
        // What the request itself carried may come back (an id in "scan 5 not found").
        const shown = value ? decodeURIComponent(value.raw) : undefined;
        const scrubbed = shown ? r.body.replaceAll(inJson(shown), '<sent>') : r.body;
        for (const m of [a.mark, a.secret, a.token]) {
          if (scrubbed.includes(m)) problems.push(`shows ${m}`);
        }
        if (r.statusCode === 201 && typeof r.json<Json>().id === 'number') {
          b.storages.add(r.json<{ id: number }>().id); // the intruder registered its own
        }
        if (
          String(r.headers['content-type']).startsWith('application/json') &&
          r.statusCode < 300
        ) {
          problems.push(...foreign(r.json(), b).map((x) => `shows ${x}`));
        }
        if (inPath && !REFUSALS.includes(r.statusCode)) problems.push(`answered ${r.statusCode}`);
        if (twinUrl && value && shown) {
          const t = await send(b.token, op.method, twinUrl, bodyOf(op));
          if (REFUSALS.includes(t.statusCode) || REFUSALS.includes(r.statusCode)) {
            const expected = t.body.replaceAll(value.twin, inJson(shown));
            if (r.statusCode !== t.statusCode || r.body !== expected) {
              problems.push(
                `${r.statusCode} ${r.body} where a missing one gets ${t.statusCode} ${expected}`,
              );
            }
          }
        }
        if (problems.length > 0) leaks.push(`${op.method} ${label}: ${problems.join('; ')}`);
      };

      for (const op of ops) {
        const pathParams = op.params.filter((p) => p.in === 'path');
        const twinPath = Object.fromEntries(
          pathParams.map((p) => [
            p.name,
            p.schema.type === 'integer' ? String(TWIN_ID) : TWIN_TEXT,
          ]),
        );
        for (const p of pathParams) {
          for (const [raw, twin] of valuesFor(p)) {
            await judge(
              `${op.path} ${p.name}=${raw}`,
              op,
              urlOf(op, { ...twinPath, [p.name]: raw }),
              urlOf(op, { ...twinPath, [p.name]: twin }),
              { raw, twin },
              true,
            );
          }
        }
        // Query parameters behind the intruder's own path (reads only: nothing of B's changes).
        if (op.method !== 'GET') continue;
        const ownPath = Object.fromEntries(pathParams.map((p) => [p.name, own(op, p.name)]));
        for (const p of op.params.filter((q) => q.in === 'query')) {
          for (const [raw, twin] of valuesFor(p)) {
            await judge(
              `${op.path}?${p.name}=${raw.slice(0, 40)}`,
              op,
              urlOf(op, ownPath, [[p.name, raw]]),
              urlOf(op, ownPath, [[p.name, twin]]),
              { raw, twin },
              false,
            );
          }
        }
      }
      // Routes without an id last: one may register a storage of the intruder's, whose new id
      // could be one of the owner's entry ids above.
      for (const op of ops.filter((o) => !o.params.some((p) => p.in === 'path'))) {
        await judge(op.path, op, op.path, undefined, undefined, false);
      }
      console.log(`isolation (${dialect}): ${calls} calls, ${leaks.length} leaks`);
      expect(leaks).toEqual([]);
      expect(calls).toBeGreaterThan(1000);
      // Nothing the intruder tried (deletes, edits, cancels, triggers) touched the owner's.
      expect((await send(a.token, 'GET', '/v1/storages')).body).toBe(before);
      expect((await send(a.token, 'GET', '/v1/me')).statusCode).toBe(200);
    },
    300_000,
  );

  it.skipIf(skip)("does not show another tenant's scan as an event stream", async () => {
    const scan = a.scanIds[0]!;
    const mine = await send(undefined, 'GET', `/v1/scans/${scan}/events?access_token=${a.token}`);
    expect(mine.statusCode).toBe(200);
    expect(mine.headers['content-type']).toContain('text/event-stream');
    // The stream reaches the final result and closes.
    expect(mine.body).toMatch(/event: end\ndata: \{"id":\d+,[^\n]*"status":"succeeded"/);
    const missing = await send(b.token, 'GET', `/v1/scans/${TWIN_ID}/events`);
    expect(missing.statusCode).toBe(404);
    for (const r of [
      await send(b.token, 'GET', `/v1/scans/${scan}/events`),
      await send(undefined, 'GET', `/v1/scans/${scan}/events?access_token=${b.token}`),
    ]) {
      expect(r.statusCode).toBe(404);
      expect(r.body).toBe(missing.body.replace(String(TWIN_ID), String(scan)));
    }
  });

  it.skipIf(skip)(
    "refuses tenant tokens on the operator's routes and the operator's token on a tenant's",
    async () => {
      let checked = 0;
      for (const op of ops.filter((o) => o.auth !== 'none')) {
        const path = Object.fromEntries(
          op.params
            .filter((p) => p.in === 'path')
            .map((p) => [p.name, p.name === 'tenant' ? a.name : String(a.tokenIds[0])]),
        );
        const wrong = op.auth === 'admin' ? a.token : ADMIN_TOKEN;
        const r = await send(wrong, op.method, urlOf(op, path), op.body ? {} : undefined);
        expect(r.statusCode, `${op.method} ${op.path}`).toBe(403);
        expect(r.json()).toMatchObject({ error: { code: 'FORBIDDEN' } });
        checked++;
      }
      expect(checked).toBe(ops.filter((o) => o.auth !== 'none').length);
      // The owner's tokens are all still there: nothing was revoked by the refused calls.
      const tokens = await send(ADMIN_TOKEN, 'GET', `/v1/tenants/${a.name}/tokens`);
      expect(tokens.json<{ items: { id: number }[] }>().items.map((t) => t.id)).toEqual(a.tokenIds);
    },
  );

  it.skipIf(skip)('refuses a revoked token and an expired one with 401', async () => {
    const issue = async (expiresAt?: number) =>
      (
        await send(ADMIN_TOKEN, 'POST', `/v1/tenants/${a.name}/tokens`, {
          name: 'short',
          ...(expiresAt ? { expiresAt } : {}),
        })
      ).json<{ id: number; token: string }>();
    const revoked = await issue();
    expect((await send(revoked.token, 'GET', '/v1/me')).statusCode).toBe(200);
    expect(
      (await send(ADMIN_TOKEN, 'DELETE', `/v1/tenants/${a.name}/tokens/${revoked.id}`)).statusCode,
    ).toBe(204);
    const gone = await send(revoked.token, 'GET', '/v1/me');
    expect(gone.statusCode).toBe(401);
    expect(gone.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });

    const expiresAt = Date.now() + 1_000;
    const expiring = await issue(expiresAt);
    expect((await send(expiring.token, 'GET', '/v1/me')).statusCode).toBe(200);
    await new Promise((r) => setTimeout(r, expiresAt - Date.now() + 50));
    const expired = await send(expiring.token, 'GET', '/v1/storages');
    expect(expired.statusCode).toBe(401);
    expect(expired.body).toBe(gone.body);
  });

  it.skipIf(skip)(
    'rate limits failed sign-ins per client: 429 with Retry-After, while another client goes on',
    async () => {
      const flood = '127.0.0.77';
      const statuses: number[] = [];
      for (let i = 0; i < 25; i++) {
        const r = await send(`tk_guess${i}`, 'GET', '/v1/storages', undefined, flood);
        statuses.push(r.statusCode);
        if (r.statusCode === 429) {
          expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
          expect(Number(r.headers['retry-after'])).toBeLessThanOrEqual(60);
          expect(r.json()).toMatchObject({ error: { code: 'RATE_LIMITED' } });
        }
      }
      expect(statuses).toEqual([...Array<number>(20).fill(401), ...Array<number>(5).fill(429)]);
      // Blocked whatever it sends now, even a good token …
      expect((await send(a.token, 'GET', '/v1/me', undefined, flood)).statusCode).toBe(429);
      // … while a client that authenticates elsewhere is not slowed.
      expect((await send(a.token, 'GET', '/v1/me', undefined, '127.0.0.78')).statusCode).toBe(200);
      // Routes without a token are not refused to the flooding client.
      expect((await send(undefined, 'GET', '/healthz', undefined, flood)).statusCode).toBe(200);
    },
  );

  it.skipIf(skip)(
    "answers another tenant's id in the same time class as an id that does not exist",
    async () => {
      const theirs: number[] = [];
      const missing: number[] = [];
      const time = async (url: string, into: number[]) => {
        const started = process.hrtime.bigint();
        const r = await send(b.token, 'GET', url);
        into.push(Number(process.hrtime.bigint() - started) / 1e6);
        expect(r.statusCode).toBe(404);
      };
      for (let i = 0; i < 220; i++) {
        // Storages and scans in turn, each pair interleaved, so drift (GC, other tests on the
        // machine) falls on both alike; the first 20 pairs warm up (serializers, statements).
        const [route, ids] = i % 2 ? ['storages', a.storageIds] : ['scans', a.scanIds];
        const pair = i < 20 ? [[], []] : [theirs, missing];
        await time(`/v1/${route}/${ids[i % ids.length]!}`, pair[0]!);
        await time(`/v1/${route}/${TWIN_ID}`, pair[1]!);
      }
      const [mt, mm] = [median(theirs), median(missing)];
      console.log(
        `timing (${dialect}): median 404 for another tenant's id ${mt.toFixed(3)} ms, ` +
          `for a missing id ${mm.toFixed(3)} ms over ${theirs.length} calls each (ratio ${(mt / mm).toFixed(2)})`,
      );
      expect(Math.max(mt / mm, mm / mt)).toBeLessThan(3);
    },
  );

  it.skipIf(skip)('never puts a password or a token in an answer or a log line', async () => {
    const all = bodies.join('\n');
    const logs = f.logs.join('');
    expect(bodies.length).toBeGreaterThan(1000);
    for (const secret of [a.secret, ADMIN_TOKEN, b.token]) {
      expect(all.includes(secret), 'an answer holds a secret').toBe(false);
      expect(logs.includes(secret), 'a log line holds a secret').toBe(false);
    }
    // A's own token was sent back only where the intruder sent it (echo is no leak): never
    // in a log line, even as ?access_token=.
    expect(logs.includes(a.token)).toBe(false);
    expect(logs).toContain('access_token=[redacted]');
  });
});
