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

/**
 * The answer for a refusal of the catalog (bad, conflicting or missing storage) or of the
 * storage layer (a bad option, an address the SSRF guard refuses), with the request field
 * it is about where the route knows it; undefined for any other error.
 */
export function refusal(error: unknown, field?: string): ApiError | undefined {
  if (error instanceof CatalogError) {
    return new ApiError(CATALOG_STATUS[error.code], error.code, error.message, field);
  }
  if (error instanceof StorageError) {
    if (error.code === 'INVALID_CONFIG') {
      return new ApiError(400, 'INVALID_OPTION', error.message, field);
    }
    if (error.code === 'FORBIDDEN_ADDRESS') {
      return new ApiError(403, 'FORBIDDEN_ADDRESS', error.message, field);
    }
  }
  return undefined;
}

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
  const refused = refusal(error);
  if (refused) {
    return reply.status(refused.status).send(body(refused.code, refused.message));
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

/**
 * Fastify's own answers for a URL it cannot route — bad percent-encoding (`%zz`), a path
 * parameter longer than `maxParamLength` — in the API's error shape, and without echoing
 * the URL back (Fastify's default puts it in the message).
 */
export function frameworkError(
  error: FastifyError,
  _request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      return reply.status(400).send(body('BAD_URL', 'the URL is not valid (bad %-encoding)'));
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return reply
        .status(414)
        .send(body('URI_TOO_LONG', 'a path parameter is too long (at most 256 characters)'));
    default:
      return reply
        .status(error.statusCode ?? 500)
        .send(body(error.code ?? 'INTERNAL', 'the request could not be routed'));
  }
}

/** Routes that do not exist answer like every other error. */
export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply
    .status(404)
    .send(body('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`));
}
