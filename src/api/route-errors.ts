import type { RouteOptions } from 'fastify';
import { ErrorBody } from './schemas.js';

/**
 * The `onRoute` hook: every route's schema also names the errors the server's hooks answer
 * for it, so `/openapi.json` lists them and they are serialized by the error schema:
 * 400 where the route takes input (a bad or unknown field, text with a NUL, a body where
 * none is taken), 413 and 415 where a body is read, 401 / 403 / 429 where a token is
 * needed — and no security where none is. A route's own entry for a status stays.
 */
export function documentErrors(route: RouteOptions): void {
  const schema = route.schema;
  if (!schema || (schema as { hide?: boolean }).hide) return;
  const auth = route.config?.auth ?? (route.url.startsWith('/v1/') ? 'tenant' : 'none');
  const response = (schema.response ??= {}) as Record<string, unknown>;
  const add = (...statuses: number[]) => {
    for (const status of statuses) response[status] ??= ErrorBody;
  };
  // Fastify reads a body for any method but GET and HEAD, whether the route wants one or not.
  const readsBody = [route.method].flat().some((m) => m !== 'GET' && m !== 'HEAD');
  if (readsBody || schema.params || schema.querystring) add(400);
  if (readsBody) add(413, 415);
  if (auth !== 'none') add(401, 403, 429);
  // The document's default is the bearer token; these routes need none.
  else schema.security ??= [];
}
