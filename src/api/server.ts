import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { AuthLimiter } from './auth-limiter.js';
import { authenticate } from './auth.js';
import type { ApiContext } from './context.js';
import { docsRoutes } from './docs.js';
import { errorHandler, frameworkError, notFoundHandler } from './errors.js';
import { checkInput } from './input.js';
import { documentErrors } from './route-errors.js';
import { apiMetrics } from './metrics.js';
import { adminRoutes } from './routes/admin.js';
import { entryRoutes } from './routes/entries.js';
import { eventRoutes } from './routes/events.js';
import { opsRoutes } from './routes/ops.js';
import { scanRoutes } from './routes/scans.js';
import { storageRoutes } from './routes/storages.js';
import { ErrorBody } from './schemas.js';
import { validatorCompiler } from './validation.js';
import { webPage } from './web.js';

export interface ServerOptions extends ApiContext {
  /** The operator's token: tenants and their tokens. undefined: no admin routes answer. */
  adminToken: string | undefined;
  logger: Logger;
  /** @default 1 MiB: the largest body any route takes (a storage with its options is < 20 KiB). */
  bodyLimit?: number;
  /** Failed sign-ins per client address per minute before 429. @default 20 */
  authFailuresPerMinute?: number;
  /** Trust X-Forwarded-For from a proxy in front (rate limits then count the real client). */
  trustProxy?: boolean;
}

/** A request id a client sent, if it is a sane one; else a new one. */
function requestId(header: unknown): string {
  return typeof header === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(header)
    ? header
    : randomUUID();
}

/** `access_token` in a URL (EventSource's way to authenticate) never reaches a log line. */
function loggedUrl(url: string): string {
  return url.replace(/([?&]access_token=)[^&]*/gi, '$1[redacted]');
}

/**
 * The HTTP API and the web page. Every route has a JSON schema: requests are validated
 * (unknown fields refused), responses serialized by their schema (nothing unnamed leaves),
 * and the same schemas make `/openapi.json`.
 */
export async function buildServer(o: ServerOptions): Promise<FastifyInstance> {
  const server = Fastify({
    loggerInstance: o.logger.child(
      { service: 'api' },
      {
        serializers: {
          req: (req: { method: string; url: string; id: string }) => ({
            method: req.method,
            url: loggedUrl(req.url),
          }),
          res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
        },
      },
    ),
    bodyLimit: o.bodyLimit ?? 1024 * 1024,
    genReqId: (req) => requestId(req.headers['x-request-id']),
    trustProxy: o.trustProxy ?? false,
    routerOptions: { maxParamLength: 256, ignoreTrailingSlash: true },
    // A client that stops sending mid-request is cut off, not waited for.
    requestTimeout: 30_000,
    connectionTimeout: 60_000,
    frameworkErrors: frameworkError,
  }).withTypeProvider<TypeBoxTypeProvider>();
  server.setValidatorCompiler(validatorCompiler());
  server.addSchema(ErrorBody);
  server.addHook('onRoute', documentErrors);
  server.setErrorHandler(errorHandler);
  server.setNotFoundHandler(notFoundHandler);

  const metrics = apiMetrics(o.app, o.app.metrics);
  server.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });
  server.addHook(
    'onRequest',
    authenticate({
      tokens: o.app.index.tokens,
      adminToken: o.adminToken,
      limiter: new AuthLimiter({ max: o.authFailuresPerMinute ?? 20 }),
    }),
  );
  server.addHook('preHandler', checkInput);
  server.addHook('onSend', async (request, reply, payload) => {
    // API answers are private and never sniffed as anything but what they say they are.
    if (request.url.startsWith('/v1/')) {
      void reply.header('cache-control', 'no-store');
      void reply.header('x-content-type-options', 'nosniff');
    }
    return payload;
  });
  server.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    metrics.duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });

  await server.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'trawl',
        version: '1',
        description:
          'Index of files on many storages for many tenants. Authenticate with `Authorization: Bearer <token>`: ' +
          "the admin token (TRAWL_ADMIN_TOKEN) for /v1/tenants, a tenant's token for everything else.",
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      },
      security: [{ bearer: [] }],
    },
  });
  await server.register(docsRoutes);
  await server.register(opsRoutes(o));
  await server.register(adminRoutes(o));
  await server.register(storageRoutes(o));
  await server.register(scanRoutes(o));
  await server.register(eventRoutes(o));
  await server.register(entryRoutes(o));
  await server.register(webPage);
  return server as unknown as FastifyInstance;
}
