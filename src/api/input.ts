import type { FastifyRequest } from 'fastify';
import { ApiError } from './errors.js';

/** A high surrogate without its low half, or a low one without its high half. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Strings deeper than this in a body are not looked at (bodies passed their schema first). */
const MAX_DEPTH = 16;

/**
 * The first string in `value` (keys too) that the index cannot store, with the field it is
 * in: a NUL byte (PostgreSQL refuses it in text and jsonb) or a lone UTF-16 surrogate (a
 * JSON `"\ud800"`: no Unicode at all, and `encodeURIComponent` throws on it while a storage
 * URL is composed). Both reached the database or the URL code and came back as a 500.
 */
export function badText(
  value: unknown,
  field: string,
  depth = 0,
): { field: string; message: string } | undefined {
  if (typeof value === 'string') {
    if (value.includes('\0')) return { field, message: `${field} must not hold a NUL byte` };
    if (LONE_SURROGATE.test(value)) {
      return { field, message: `${field} is not valid Unicode (a lone surrogate)` };
    }
    return undefined;
  }
  if (typeof value !== 'object' || value === null || depth >= MAX_DEPTH) return undefined;
  for (const [key, inner] of Object.entries(value)) {
    const at = `${field}.${key}`;
    const bad = badText(key, at) ?? badText(inner, at, depth + 1);
    if (bad) return bad;
  }
  return undefined;
}

/** A body that is no body: none at all, or `{}` (what some clients send with every POST). */
function isEmpty(body: unknown): boolean {
  return (
    body === undefined ||
    (typeof body === 'object' &&
      body !== null &&
      !Array.isArray(body) &&
      Object.keys(body).length === 0)
  );
}

/**
 * The `preHandler` hook: what the JSON schemas cannot say. Runs after schema validation, so a
 * field the schema refuses is named by the schema's message first.
 * - A route without a body schema refuses a body rather than ignore it: unknown input is an
 *   error everywhere, and `DELETE /v1/storages/1 {"dryRun": true}` must not delete.
 * - Text the index cannot store is refused naming its field (see {@link badText}).
 */
export async function checkInput(request: FastifyRequest): Promise<void> {
  // No route matched: the 404 says so, whatever came with it.
  if (request.routeOptions.url === undefined) return;
  if (request.routeOptions.schema?.body === undefined && !isEmpty(request.body)) {
    throw new ApiError(400, 'BAD_REQUEST', 'this route takes no body: send none', 'body');
  }
  const parts = { params: request.params, query: request.query, body: request.body };
  for (const [part, value] of Object.entries(parts)) {
    const bad = badText(value, part);
    if (bad) throw new ApiError(400, 'BAD_REQUEST', bad.message, bad.field);
  }
}
