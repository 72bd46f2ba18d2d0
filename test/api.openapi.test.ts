import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiFixture, type ApiFixture } from './support/api.js';
import {
  openApiDocument,
  operations,
  registeredRoutes,
  type Operation,
} from './support/api-routes.js';

/** Routes that are no part of the API: the page, its assets, the docs themselves. */
const HIDDEN = ['GET /', 'GET /docs', 'GET /openapi.json', 'GET /web/{version}/{file}'];

const key = (op: Operation) => `${op.method} ${op.path}`;

// The document is made from the routes' schemas alone: one dialect is enough.
describe('the API description at /openapi.json', () => {
  let f: ApiFixture;
  let ops: Operation[];
  beforeAll(async () => {
    f = await apiFixture({ runner: false });
    ops = await operations(f.server);
  });
  afterAll(async () => {
    await f?.close();
  });

  it('is a valid OpenAPI 3.1 document, and the validator does refuse a broken one', async () => {
    const doc = (await openApiDocument(f.server)) as unknown as Record<string, unknown>;
    const validator = new Validator();
    const res = await validator.validate(structuredClone(doc));
    expect(res.errors ?? []).toEqual([]);
    expect(res.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    // Every $ref points somewhere.
    expect(() => validator.resolveRefs()).not.toThrow();
    const broken = structuredClone(doc);
    delete broken.info;
    expect((await new Validator().validate(broken)).valid).toBe(false);
  });

  it('lists exactly the routes the server registered, but the page and the docs', () => {
    const documented = ops.map(key).sort();
    const registered = registeredRoutes(f.server);
    // A sanity floor: the tree parser read the routes, not nothing.
    expect(registered.length).toBeGreaterThan(20);
    expect(registered).toEqual(expect.arrayContaining(HIDDEN));
    expect(documented).toEqual(registered.filter((r) => !HIDDEN.includes(r)));
  });

  it('gives every documented response a schema (a 204 has no body to describe)', () => {
    const missing: string[] = [];
    for (const op of ops) {
      expect(Object.keys(op.responses).length, key(op)).toBeGreaterThan(0);
      for (const [status, r] of Object.entries(op.responses)) {
        const media = Object.entries(r.content ?? {});
        if (status === '204') {
          if (media.length > 0) missing.push(`${key(op)} ${status} describes a body`);
          continue;
        }
        if (media.length === 0) missing.push(`${key(op)} ${status} has no content`);
        for (const [type, m] of media) {
          if (!m.schema || Object.keys(m.schema).length === 0) {
            missing.push(`${key(op)} ${status} ${type} has no schema`);
          }
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('names the errors every route can answer: 400 for input, 401/403/429 for tokens, 413/415 for bodies', () => {
    const gaps: string[] = [];
    for (const op of ops) {
      const has = (s: number) => s in op.responses || gaps.push(`${key(op)}: no ${s}`);
      if (op.auth !== 'none') [401, 403, 429].forEach(has);
      if (op.params.length > 0 || op.body || op.method !== 'GET') has(400);
      if (op.method !== 'GET') [413, 415].forEach(has);
      // Client errors are all described by the one error schema (/readyz's 503 is a report).
      for (const [status, r] of Object.entries(op.responses)) {
        if (!status.startsWith('4')) continue;
        const schema = r.content?.['application/json']?.schema;
        if (!JSON.stringify(schema).includes('"code"')) gaps.push(`${key(op)} ${status}`);
      }
    }
    expect(gaps).toEqual([]);
    // The operations routes need no token, and say so.
    expect(ops.filter((o) => o.auth === 'none').map(key)).toEqual([
      'GET /healthz',
      'GET /readyz',
      'GET /metrics',
    ]);
    expect(
      ops.filter((o) => o.auth === 'admin').every((o) => o.path.startsWith('/v1/tenants')),
    ).toBe(true);
  });

  it('declares each path parameter once, and no path parameter it does not have', () => {
    for (const op of ops) {
      const inPath = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      const declared = op.params
        .filter((p) => p.in === 'path')
        .map((p) => p.name)
        .sort();
      expect(declared, key(op)).toEqual(inPath);
      expect(
        op.params.filter((p) => p.in === 'path').every((p) => p.required),
        key(op),
      ).toBe(true);
    }
  });

  it('describes the event stream and the metrics as what they are, not JSON', () => {
    const media = (path: string) =>
      Object.keys(ops.find((o) => o.path === path)!.responses['200']!.content ?? {});
    expect(media('/v1/scans/{id}/events')).toEqual(['text/event-stream']);
    expect(media('/metrics')).toEqual(['text/plain']);
  });
});
