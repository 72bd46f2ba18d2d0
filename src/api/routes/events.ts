import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ScanRecord } from '../../db/repositories/scans.js';
import { tenantOf } from '../auth.js';
import type { ApiContext } from '../context.js';
import { ApiError, notFound } from '../errors.js';
import { ErrorBody, IdParams } from '../schemas.js';
import { scanView } from '../views.js';

/** How often a stream looks at its scan's row (progress is written there about each second). */
const POLL_MS = 500;
/** A comment line this often keeps proxies from closing a quiet stream. */
const KEEPALIVE_MS = 15_000;
/** Streams open at once per tenant: one tenant cannot hold the node's sockets. */
const MAX_STREAMS_PER_TENANT = 32;

const ENDED = new Set(['succeeded', 'partial', 'failed', 'cancelled', 'interrupted']);

/**
 * Live progress as server-sent events: `progress` (the counters, each time the running scan
 * wrote new ones), then one `end` with the final scan, then the stream closes. It reads the
 * scan's row, so it works on any API node whichever process runs the scan.
 */
export function eventRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  const scans = ctx.app.index.scans;
  const open = new Map<number, number>();
  return async (server) => {
    server.get(
      '/v1/scans/:id/events',
      {
        config: { tokenInQuery: true },
        schema: {
          tags: ['scans'],
          summary: 'Live progress (text/event-stream): `progress` events, then one `end`',
          description:
            'EventSource cannot send headers: this route also takes the token as `?access_token=`.',
          params: IdParams,
          querystring: Type.Object(
            { access_token: Type.Optional(Type.String({ maxLength: 200 })) },
            { additionalProperties: false },
          ),
          response: {
            200: {
              description: '`status`, then `progress` events, then one `end` (the final scan)',
              content: { 'text/event-stream': { schema: Type.String() } },
            },
            404: ErrorBody,
            429: ErrorBody,
          },
        },
      },
      async (request, reply) => {
        const tenantId = tenantOf(request);
        const first = await scans.ofTenant(tenantId, request.params.id);
        if (!first) throw notFound(`scan ${request.params.id}`);
        const streams = open.get(tenantId) ?? 0;
        if (streams >= MAX_STREAMS_PER_TENANT) {
          throw new ApiError(
            429,
            'TOO_MANY_STREAMS',
            `at most ${MAX_STREAMS_PER_TENANT} event streams at once`,
          );
        }
        open.set(tenantId, streams + 1);
        reply.hijack();
        const raw = reply.raw;
        raw.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
          'x-content-type-options': 'nosniff',
        });
        const send = (event: string, data: unknown) =>
          raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
        let closed = false;
        let timer: NodeJS.Timeout | undefined;
        let lastProgressAt: number | undefined;
        let quietSince = Date.now();
        const finish = () => {
          if (closed) return;
          closed = true;
          clearTimeout(timer);
          open.set(tenantId, (open.get(tenantId) ?? 1) - 1);
          raw.end();
        };
        request.raw.on('close', finish);
        const look = async (scan: ScanRecord | undefined) => {
          if (closed) return;
          if (!scan) {
            send('end', null); // removed with its storage meanwhile
            return finish();
          }
          if (ENDED.has(scan.status)) {
            send('end', scanView(scan));
            return finish();
          }
          const at = scan.progress?.at;
          if (scan.progress && at !== lastProgressAt) {
            lastProgressAt = at;
            quietSince = Date.now();
            send('progress', scan.progress);
          } else if (Date.now() - quietSince >= KEEPALIVE_MS) {
            quietSince = Date.now();
            raw.write(': keep-alive\n\n');
          }
          timer = setTimeout(() => {
            scans
              .ofTenant(tenantId, scan.id)
              .then(look)
              .catch((error: unknown) => {
                // The index is away for a moment: keep the stream, look again.
                request.log.warn({ err: error }, 'scan events: reading the scan failed');
                timer = setTimeout(() => void look(scan), POLL_MS * 4);
              });
          }, POLL_MS);
        };
        // Tell the client where the scan stands at once (a stream opened late still sees a start).
        send('status', { id: first.id, status: first.status });
        await look(first);
      },
    );
  };
}
