/**
 * Bad input for every route of the API, generated from its OpenAPI document: each case says
 * whether the input is wrong by the route's own schema (`bad`: must be a 4xx naming the
 * field) or only odd (`odd`: valid by the schema — absurd limits, strange but legal text —
 * and must still never be a 5xx). Ajv classifies, with the server's own settings, so a
 * schema that changes changes the expectations with it.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import type { JsonSchema, Operation, Param } from './api-routes.js';
import { urlOf } from './api-routes.js';

export interface FuzzCase {
  label: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: string;
  /** A client address of its own (a label for the auth limiter; no traffic goes anywhere). */
  remoteAddress?: string;
  expect: 'bad' | 'odd';
  /** For `bad` field-level input: the `field` the error must name. */
  field?: string;
  /** An exact status, where only one is right (413 for a body past the limit). */
  status?: number;
  /** An exact error code, where only one is right. */
  code?: string;
}

export interface FuzzBase {
  /** The token a well-formed call of `op` carries (undefined: none needed). */
  token(op: Operation): string | undefined;
  /** A value for a path parameter that exists and belongs to the caller. */
  pathValue(op: Operation, name: string): string;
  /** A body `op` accepts (its required fields filled), new each call. */
  body(op: Operation): Record<string, unknown>;
  /** Extra values to try in a query parameter (cursors: forged, of another sort, another tenant's). */
  queryValues(op: Operation, param: Param): Array<{ label: string; raw: string }>;
}

/** Wrong, absurd and hostile JSON values for one body field. */
const FIELD_VALUES: Array<[string, unknown]> = [
  ['number', 123],
  ['-1', -1],
  ['0', 0],
  ['1.5', 1.5],
  ['1e308', 1e308],
  ['2^63', 2 ** 63],
  ['-2^63', -(2 ** 63)],
  ['"NaN"', 'NaN'],
  ['"Infinity"', 'Infinity'],
  ['empty string', ''],
  ['100k chars', 'x'.repeat(100_000)],
  ['true', true],
  ['null', null],
  ['[]', []],
  ['{}', {}],
  ['["a"]', ['a']],
  ['nested object', { a: { b: 1 } }],
  ['NUL', 'a\u0000b'],
  ['lone surrogate', 'a\ud800b'],
  ['traversal', '../../etc/passwd'],
  ['encoded traversal', '%2e%2e%2f%2e%2e%2f'],
  ['unicode', '☃😀ÿ\u200b'],
  ['blank', ' '],
  ['record holding NUL', { username: 'a\u0000b' }],
  ['record holding a lone surrogate', { username: 'a\ud800b' }],
  ['record of 100 keys', Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i]))],
];

/** Raw (already encoded) values for a query or path parameter. */
const RAW_VALUES: Array<[string, string]> = [
  ['empty', ''],
  ['word', 'abc'],
  ['-1', '-1'],
  ['0', '0'],
  ['1.5', '1.5'],
  ['1e308', '1e308'],
  ['2^63', '9223372036854775808'],
  ['NaN', 'NaN'],
  ['Infinity', 'Infinity'],
  ['hex', '0x10'],
  ['100000', '100000'],
  ['%00', '%00'],
  ['a%00b', 'a%00b'],
  ['lone surrogate (bad UTF-8)', '%ED%A0%80'],
  ['unicode', '%E2%98%83%F0%9F%98%80'],
  ['..', '..'],
  ['%2e%2e', '%2e%2e'],
  ['/..', '%2F..'],
  ['/a/../b', '%2Fa%2F..%2Fb'],
  ['%2F', '%2F'],
  ['bad %-encoding', '%zz'],
  ['true', 'true'],
  ['[]', '%5B%5D'],
  ['300 chars', '7'.repeat(300)],
  ['100k chars', 'x'.repeat(100_000)],
];

/** Valid JSON that is not the body a route takes. */
const TOP_TYPES = ['[]', '"text"', 'null', '42', 'true', '[{"name":"a"}]'];

/** Not JSON at all, or JSON a careful parser refuses. */
const MALFORMED = [
  '{"a":',
  '{',
  '}',
  "{'a':1}",
  '[1,]',
  'nul',
  '{"a":1}{"b":2}',
  '{"a":1,,}',
  '\u0000',
  '{"__proto__":{"polluted":true}}',
  '{"constructor":{"prototype":{"polluted":true}}}',
  '['.repeat(500_000),
];

const TWO_MB = JSON.stringify({ pad: 'x'.repeat(2 * 1024 * 1024) });

/** Ajv set up as the server's validators are (src/api/validation.ts). */
function validators() {
  const common = { removeAdditional: false, useDefaults: true, allErrors: false, strict: false };
  const strict = new Ajv({ ...common, coerceTypes: false });
  const coercing = new Ajv({ ...common, coerceTypes: 'array' as const });
  const cache = new Map<object, ValidateFunction>();
  const compile = (ajv: Ajv, schema: object) => {
    let v = cache.get(schema);
    if (!v) cache.set(schema, (v = ajv.compile(schema)));
    return v;
  };
  return {
    body: (schema: JsonSchema, value: unknown) => compile(strict, schema)(structuredClone(value)),
    part: (schema: JsonSchema, value: Record<string, unknown>) =>
      compile(coercing, schema)(structuredClone(value)),
  };
}

/** Text no field may hold (the server refuses it wherever it is: src/api/input.ts). */
function unstorable(value: unknown): boolean {
  const text = JSON.stringify(value) ?? '';
  return /\\u0000|\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])/i.test(text);
}

function decoded(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** The object schema Fastify validates a request part with, rebuilt from the parameters. */
function partSchema(params: Param[], where: 'path' | 'query'): JsonSchema {
  const mine = params.filter((p) => p.in === where);
  return {
    type: 'object',
    properties: Object.fromEntries(mine.map((p) => [p.name, p.schema])),
    required: mine.filter((p) => p.required).map((p) => p.name),
    additionalProperties: false,
  };
}

/** Every case for one operation. */
export function fuzzCases(op: Operation, base: FuzzBase, index: number): FuzzCase[] {
  const v = validators();
  const token = base.token(op);
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const path = Object.fromEntries(
    op.params.filter((p) => p.in === 'path').map((p) => [p.name, base.pathValue(op, p.name)]),
  );
  const json = { ...auth, 'content-type': 'application/json' };
  const reads = op.method !== 'GET';
  const out: FuzzCase[] = [];
  const add = (c: Omit<FuzzCase, 'method' | 'headers'> & { headers?: Record<string, string> }) =>
    out.push({ method: op.method, headers: c.payload === undefined ? auth : json, ...c });
  const url = urlOf(op, path);
  // A fresh body each time: one a case creates must not make the next a conflict.
  const sample = () => (op.body ? base.body(op) : undefined);
  // Cases about the URL carry a good body where the route takes one, so the URL is at fault.
  const good = () => (op.body ? { payload: JSON.stringify(sample()) } : {});

  // Path parameters.
  const pathSchema = partSchema(op.params, 'path');
  for (const p of op.params.filter((q) => q.in === 'path')) {
    for (const [label, raw] of RAW_VALUES) {
      const ok =
        v.part(pathSchema, { ...path, [p.name]: decoded(raw) }) && !unstorable(decoded(raw));
      add({
        ...good(),
        label: `path ${p.name} = ${label}`,
        url: urlOf(op, { ...path, [p.name]: raw }),
        // '' makes `/v1/storages/` — another route, rightly answered.
        expect: raw === '' || (ok && !raw.includes('..') && !raw.includes('%2e')) ? 'odd' : 'bad',
        field: `params.${p.name}`,
      });
    }
  }

  // Query parameters.
  const querySchema = partSchema(op.params, 'query');
  for (const p of op.params.filter((q) => q.in === 'query')) {
    const values = [
      ...RAW_VALUES.map(([label, raw]) => ({ label, raw })),
      ...base.queryValues(op, p),
    ];
    for (const { label, raw } of values) {
      const value = decoded(raw);
      const ok = v.part(querySchema, { [p.name]: value }) && !unstorable(value);
      add({
        ...good(),
        label: `query ${p.name} = ${label}`,
        url: urlOf(op, path, [[p.name, raw]]),
        expect: ok ? 'odd' : 'bad',
        field: `query.${p.name}`,
      });
    }
    add({
      ...good(),
      label: `query ${p.name} twice`,
      url: urlOf(op, path, [
        [p.name, '1'],
        [p.name, '2'],
      ]),
      expect: v.part(querySchema, { [p.name]: ['1', '2'] }) ? 'odd' : 'bad',
      field: `query.${p.name}`,
    });
  }
  add({
    ...good(),
    label: 'unknown query parameter',
    url: urlOf(op, path, [['zzUnknown', '1']]),
    // A route without a query schema ignores the query string: odd, not bad.
    expect: op.params.some((p) => p.in === 'query') ? 'bad' : 'odd',
    field: 'query.zzUnknown',
  });

  if (reads) {
    for (const text of MALFORMED) {
      add({ label: `malformed JSON ${text.slice(0, 20)}`, url, payload: text, expect: 'bad' });
    }
    for (const text of TOP_TYPES) {
      add({ label: `body ${text}`, url, payload: text, expect: 'bad', field: 'body' });
    }
    add({
      label: 'unknown field',
      url,
      payload: JSON.stringify({ ...sample(), zzUnknown: 1 }),
      expect: 'bad',
      field: op.body ? 'body.zzUnknown' : 'body',
    });
    add({
      label: '2 MB body',
      url,
      payload: TWO_MB,
      expect: 'bad',
      status: 413,
      code: 'BODY_TOO_LARGE',
    });
    add({
      label: 'text/plain',
      url,
      payload: 'hello',
      headers: { ...auth, 'content-type': 'text/plain' },
      expect: 'bad',
    });
    for (const type of [
      'multipart/form-data; boundary=x',
      'application/x-www-form-urlencoded',
      'application/xml',
    ]) {
      add({
        label: type,
        url,
        payload: type.startsWith('multipart')
          ? '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--'
          : 'a=1',
        headers: { ...auth, 'content-type': type },
        expect: 'bad',
        status: 415,
      });
    }
    if (op.body) {
      for (const name of op.body.required ?? []) {
        const { [name]: _, ...rest } = sample()!;
        add({
          label: `missing ${name}`,
          url,
          payload: JSON.stringify(rest),
          expect: 'bad',
          field: `body.${name}`,
        });
      }
      for (const name of Object.keys(op.body.properties ?? {})) {
        for (const [label, value] of FIELD_VALUES) {
          const body = { ...sample(), [name]: value };
          const ok = v.body(op.body, body) && !unstorable(value);
          add({
            label: `body ${name} = ${label}`,
            url,
            payload: JSON.stringify(body),
            expect: ok ? 'odd' : 'bad',
            field: `body.${name}`,
          });
        }
      }
    }
  }

  // Tokens: none, malformed, another scheme, absurd — each op from a client of its own, so
  // the limiter's 429 for one does not hide another's 401.
  if (op.auth !== 'none') {
    const client = `127.0.2.${(index % 250) + 1}`;
    for (const [label, header] of [
      ['no token', undefined],
      ['Bearer alone', 'Bearer'],
      ['Basic', 'Basic Zm9vOmJhcg=='],
      ['10k token', `Bearer ${'x'.repeat(10_000)}`],
      ['forged', 'Bearer tk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ] as const) {
      out.push({
        label: `auth: ${label}`,
        method: op.method,
        url,
        headers: header ? { authorization: header } : {},
        remoteAddress: client,
        expect: 'bad',
        code: 'UNAUTHORIZED',
      });
    }
  }
  out.push({
    label: 'unknown method PUT',
    method: 'PUT',
    url,
    headers: auth,
    expect: 'bad',
    status: 404,
  });
  return out;
}
