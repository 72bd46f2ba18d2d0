import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { CatalogError } from '../catalog/errors.js';
import { StorageError } from '../storage/errors.js';

/** An answer other than success: status, a stable code, one line, the field at fault. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;

  constructor(status: number, code: string, message: string, field?: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

/**
 * One answer for "not yours" and "not there": another tenant's id must be indistinguishable
 * from an id that does not exist.
 */
export function notFound(what: string): ApiError {
  return new ApiError(404, 'NOT_FOUND', `${what} not found`);
}

export interface ErrorBody {
  error: { code: string; message: string; field?: string };
}

function body(code: string, message: string, field?: string): ErrorBody {
  return { error: field === undefined ? { code, message } : { code, message, field } };
}

const CATALOG_STATUS = { NOT_FOUND: 404, CONFLICT: 409, INVALID: 400 } as const;

/** The field a schema validation error is about: `body.name`, `query.limit`. */
function fieldOf(error: FastifyError): string {
  const v = error.validation?.[0];
  const part = error.validationContext === 'querystring' ? 'query' : error.validationContext;
  if (!v) return part ?? 'request';
  const path = v.instancePath.split('/').filter(Boolean);
  const params = v.params as Record<string, unknown>;
  const named = params.missingProperty ?? params.additionalProperty;
  if (typeof named === 'string') path.push(named);
  return [part, ...path].filter(Boolean).join('.');
}

/**
 * Every failure becomes `{error: {code, message, field?}}` with a 4xx for anything the client
 * can fix — never a stack trace, and never a 500 for bad input. A 500 says only that the
 * server failed and under which request id to look in its log.
 */
export function errorHandler(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  if (error instanceof ApiError) {
    return reply.status(error.status).send(body(error.code, error.message, error.field));
  }
  if (error.validation) {
    const field = fieldOf(error);
    const v = error.validation[0];
    const params = v?.params as Record<string, unknown> | undefined;
    const why =
      params?.additionalProperty !== undefined
        ? 'is not a known field'
        : params?.missingProperty !== undefined
          ? 'is required'
          : (v?.message ?? 'is invalid');
    return reply.status(400).send(body('BAD_REQUEST', `${field} ${why}`, field));
  }
  if (error instanceof CatalogError) {
    return reply.status(CATALOG_STATUS[error.code]).send(body(error.code, error.message));
  }
  if (error instanceof StorageError) {
    if (error.code === 'INVALID_CONFIG') {
      return reply.status(400).send(body('INVALID_OPTION', error.message));
    }
    if (error.code === 'FORBIDDEN_ADDRESS') {
      return reply.status(403).send(body('FORBIDDEN_ADDRESS', error.message));
    }
  }
  // The index's query layer: a bad cursor or filter (src/db/queries).
  const coded = error as FastifyError & { field?: unknown };
  if (error.name === 'QueryError') {
    const field = typeof coded.field === 'string' ? coded.field : undefined;
    return reply.status(400).send(body(String(error.code ?? 'BAD_QUERY'), error.message, field));
  }
  // Fastify's own client errors: a body too large (413), a bad content type (415), bad JSON.
  const status = error.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return reply.status(status).send(body(clientCode(error), clientMessage(error)));
  }
  request.log.error({ err: error }, 'request failed');
  return reply
    .status(500)
    .send(
      body('INTERNAL', `the server failed; its log has the details under request id ${request.id}`),
    );
}

function clientCode(error: FastifyError): string {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'BODY_TOO_LARGE';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'UNSUPPORTED_MEDIA_TYPE';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return 'BAD_JSON';
    default:
      return error.statusCode === 429 ? 'RATE_LIMITED' : 'BAD_REQUEST';
  }
}

function clientMessage(error: FastifyError): string {
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return 'the request body is too large';
  if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return 'send JSON (Content-Type: application/json)';
  }
  // Parser messages name the position of a JSON error, not the body itself.
  return error.message;
}

/** Routes that do not exist answer like every other error. */
export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply
    .status(404)
    .send(body('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`));
}
