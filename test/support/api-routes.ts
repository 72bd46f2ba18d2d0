/**
 * The API's routes as its OpenAPI document states them, for tests that must cover every
 * route — including one added tomorrow — without a hand-kept list; and the routes the server
 * really registered, read from `printRoutes`, to hold the document to them.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';

export type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT';

/** A JSON schema as the document holds it (only what the tests read is typed). */
export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  anyOf?: JsonSchema[];
  allOf?: JsonSchema[];
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  [key: string]: unknown;
}

export interface Param {
  name: string;
  in: 'path' | 'query';
  required: boolean;
  schema: JsonSchema;
}

export interface Operation {
  method: Method;
  /** As the document writes it: `/v1/storages/{id}`. */
  path: string;
  /** Who may call it: from the document's `security` (none) and the `admin` tag. */
  auth: 'none' | 'admin' | 'tenant';
  params: Param[];
  /** The JSON body's schema; undefined: the route takes no body. */
  body: JsonSchema | undefined;
  responses: Record<string, { content?: Record<string, { schema?: JsonSchema }> }>;
  tags: string[];
}

interface Doc {
  openapi: string;
  security?: unknown[];
  paths: Record<string, Record<string, RawOperation>>;
}

interface RawOperation {
  tags?: string[];
  security?: unknown[];
  parameters?: Param[];
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
  responses?: Operation['responses'];
}

/** `/openapi.json` of the server, fetched the way a client would. */
export async function openApiDocument(server: FastifyInstance): Promise<Doc> {
  const r = await server.inject({ method: 'GET', url: '/openapi.json' });
  if (r.statusCode !== 200) throw new Error(`/openapi.json answered ${r.statusCode}: ${r.body}`);
  return r.json<Doc>();
}

/** Every operation of the document. */
export async function operations(server: FastifyInstance): Promise<Operation[]> {
  const doc = await openApiDocument(server);
  const out: Operation[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const open = Array.isArray(op.security) && op.security.length === 0;
      const tags = op.tags ?? [];
      out.push({
        method: method.toUpperCase() as Method,
        path,
        auth: open ? 'none' : tags.includes('admin') ? 'admin' : 'tenant',
        params: op.parameters ?? [],
        body: op.requestBody?.content?.['application/json']?.schema,
        responses: op.responses ?? {},
        tags,
      });
    }
  }
  return out;
}

/** The URL of `op` with its path parameters filled in (already encoded) and a query string. */
export function urlOf(
  op: Pick<Operation, 'path'>,
  path: Record<string, string>,
  query: Array<[string, string]> = [],
): string {
  const filled = op.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = path[name];
    if (v === undefined) throw new Error(`no value for {${name}} of ${op.path}`);
    return v;
  });
  const qs = query.map(([k, v]) => `${encodeURIComponent(k)}=${v}`).join('&');
  return qs ? `${filled}?${qs}` : filled;
}

/**
 * The routes the server registered (`METHOD /path/{param}`), from `printRoutes`: a tree whose
 * lines are `├── segment (METHODS)`, each segment continuing its parent's path. HEAD routes
 * Fastify adds to every GET are left out.
 */
export function registeredRoutes(server: FastifyInstance): string[] {
  const out: string[] = [];
  const stack: string[] = [];
  for (const line of server.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^([│ ]*)(?:[├└]── )?(.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m || m[2] === '') continue;
    // Each level indents by four characters; the root line has none.
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    const path = stack.join('').replace(/:(\w+)/g, '{$1}');
    for (const method of (m[3] ?? '').split(', ').filter(Boolean)) {
      if (method !== 'HEAD') out.push(`${method} ${path}`);
    }
  }
  return out.sort();
}

/** Why `r` is not an error answer of the API's shape, or undefined when it is one. */
export function errorShapeProblem(r: LightMyRequestResponse): string | undefined {
  if (!String(r.headers['content-type']).startsWith('application/json')) {
    return `content-type ${String(r.headers['content-type'])}`;
  }
  let body: unknown;
  try {
    body = r.json();
  } catch {
    return 'not JSON';
  }
  const e = (body as { error?: Record<string, unknown> }).error;
  if (!e || typeof e.code !== 'string' || typeof e.message !== 'string') {
    return 'not {error:{code,message}}';
  }
  if (e.field !== undefined && typeof e.field !== 'string') return 'field is not a string';
  return undefined;
}
