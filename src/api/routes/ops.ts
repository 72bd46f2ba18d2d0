import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { sql } from 'kysely';
import { Type } from 'typebox';
import { within } from '../../util/within.js';
import type { ApiContext } from '../context.js';

const Check = Type.Object({
  ok: Type.Boolean(),
  ms: Type.Integer(),
  error: Type.Optional(Type.String()),
});

async function timed(
  work: () => Promise<unknown>,
  ms = 2_000,
): Promise<{ ok: boolean; ms: number; error?: string }> {
  const started = Date.now();
  try {
    await within(ms, work());
    return { ok: true, ms: Date.now() - started };
  } catch (error) {
    return { ok: false, ms: Date.now() - started, error: (error as Error).message };
  }
}

/** Liveness, readiness (the index and, in a fleet, Redis answer), Prometheus metrics. */
export function opsRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  const { app } = ctx;
  return async (server) => {
    server.get(
      '/healthz',
      {
        config: { auth: 'none' },
        schema: {
          tags: ['operations'],
          summary: 'The process answers',
          response: { 200: Type.Object({ status: Type.Literal('ok') }) },
        },
      },
      async () => ({ status: 'ok' as const }),
    );
    server.get(
      '/readyz',
      {
        config: { auth: 'none' },
        schema: {
          tags: ['operations'],
          summary: 'The index (and Redis in a fleet) answer: 200, else 503',
          response: {
            200: Type.Object({
              ready: Type.Boolean(),
              database: Check,
              redis: Type.Optional(Check),
            }),
            503: Type.Object({
              ready: Type.Boolean(),
              database: Check,
              redis: Type.Optional(Check),
            }),
          },
        },
      },
      async (_request, reply) => {
        const redis = app.redis;
        const [database, r] = await Promise.all([
          timed(() => sql`select 1`.execute(app.index.db)),
          redis ? timed(() => redis.ping()) : Promise.resolve(undefined),
        ]);
        // Messages name what failed, never a connection string (those may hold passwords).
        const clean = (c: typeof database) =>
          c.ok
            ? c
            : {
                ...c,
                error: c.error
                  ?.split(/\s+/)
                  .slice(0, 12)
                  .join(' ')
                  .replace(/\S+:\/\/\S+/g, '<url>'),
              };
        const ready = database.ok && (r?.ok ?? true);
        const body = { ready, database: clean(database), ...(r ? { redis: clean(r) } : {}) };
        return reply.status(ready ? 200 : 503).send(body);
      },
    );
    server.get(
      '/metrics',
      {
        config: { auth: 'none' },
        schema: {
          tags: ['operations'],
          summary: 'Prometheus metrics',
          response: {
            200: {
              description: 'Prometheus text exposition format',
              content: { 'text/plain': { schema: Type.String() } },
            },
          },
        },
      },
      async (_request, reply) => {
        const registry = app.metrics;
        return reply.header('content-type', registry.contentType).send(await registry.metrics());
      },
    );
  };
}
