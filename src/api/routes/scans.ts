import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { triggerScan } from '../../jobs/trigger.js';
import { within } from '../../util/within.js';
import { tenantOf } from '../auth.js';
import { ownedStorage, type ApiContext } from '../context.js';
import { ApiError, notFound } from '../errors.js';
import { ErrorBody, IdParams, Items, Scan } from '../schemas.js';
import { scanView } from '../views.js';

/** Scans: trigger (deduplicated), status, cancel, history. Live progress is in events.ts. */
export function scanRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  const { app } = ctx;
  const scans = app.index.scans;
  return async (server) => {
    server.post(
      '/v1/storages/:id/scans',
      {
        schema: {
          tags: ['scans'],
          summary: 'Scan now; a trigger while one waits joins it',
          params: IdParams,
          response: {
            202: Type.Object({
              scan: Type.Union([Scan, Type.Null()]),
              deduplicated: Type.Boolean(),
            }),
            404: ErrorBody,
            409: ErrorBody,
          },
        },
      },
      async (request, reply) => {
        const s = await ownedStorage(ctx, tenantOf(request), request.params.id);
        if (!s.enabled) {
          throw new ApiError(
            409,
            'DISABLED',
            `storage ${s.name} is disabled; enable it to scan it`,
          );
        }
        const t = await triggerScan(app, s, () => ctx.runner?.wake());
        return reply
          .status(202)
          .send({ scan: t.scan ? scanView(t.scan) : null, deduplicated: t.deduplicated });
      },
    );
    server.get(
      '/v1/storages/:id/scans',
      {
        schema: {
          tags: ['scans'],
          summary: "A storage's scan history, newest first",
          params: IdParams,
          querystring: Type.Object(
            {
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 20 })),
              before: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
            },
            { additionalProperties: false },
          ),
          response: { 200: Items(Scan), 404: ErrorBody },
        },
      },
      async (request) => {
        const tenantId = tenantOf(request);
        const s = await ownedStorage(ctx, tenantId, request.params.id);
        const q = request.query;
        const list = await scans.list({
          tenantId,
          storageId: s.id,
          limit: q.limit ?? 20,
          ...(q.before !== undefined ? { beforeId: q.before } : {}),
        });
        return { items: list.map(scanView) };
      },
    );
    server.get(
      '/v1/scans/:id',
      {
        schema: {
          tags: ['scans'],
          summary: 'One scan',
          params: IdParams,
          response: { 200: Scan, 404: ErrorBody },
        },
      },
      async (request) => {
        const scan = await scans.ofTenant(tenantOf(request), request.params.id);
        if (!scan) throw notFound(`scan ${request.params.id}`);
        return scanView(scan);
      },
    );
    server.post(
      '/v1/scans/:id/cancel',
      {
        schema: {
          tags: ['scans'],
          summary: 'Cancel a waiting or running scan',
          params: IdParams,
          response: { 202: Scan, 404: ErrorBody, 409: ErrorBody },
        },
      },
      async (request, reply) => {
        const found = await scans.requestCancel(tenantOf(request), request.params.id);
        if (!found) throw notFound(`scan ${request.params.id}`);
        const { scan, asked } = found;
        if (!asked) {
          throw new ApiError(409, 'FINISHED', `scan ${scan.id} has ended already (${scan.status})`);
        }
        // A fleet job that had not started goes from the queue, so the next trigger is a new
        // job rather than one joining a cancelled scan. (Redis away: the worker skips it.)
        if (scan.status === 'cancelled' && scan.jobId && app.scanQueue) {
          await within(3_000, app.scanQueue.withdraw(scan.jobId, scan.storageId)).catch(
            (error: unknown) => {
              request.log.warn(
                { err: error },
                'cancelled scan: its job stays queued; the worker skips it',
              );
            },
          );
        }
        return reply.status(202).send(scanView(scan));
      },
    );
  };
}
