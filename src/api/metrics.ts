import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { App } from '../app.js';
import { within } from '../util/within.js';

export interface HttpMetrics {
  requests: Counter<'method' | 'route' | 'status'>;
  duration: Histogram<'method' | 'route'>;
}

/**
 * The API's metrics, beside the storage layer's in the app's registry: HTTP requests by
 * route template (never the raw URL: ids would grow the label set without end), scans by
 * status and storages, read from the index at scrape time, and the scan queue's depth per
 * state (BullMQ's in a fleet, the `queued` rows embedded). A scrape whose source is away
 * keeps the last values rather than failing the whole page.
 */
export function apiMetrics(app: App, registry: Registry): HttpMetrics {
  const registers = [registry];
  new Gauge({
    name: 'trawl_scans',
    help: 'Scans in the history by status',
    labelNames: ['status'],
    registers,
    async collect() {
      try {
        const rows = await within(
          2_000,
          app.index.db
            .selectFrom('scans')
            .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
            .groupBy('status')
            .execute(),
        );
        this.reset();
        for (const r of rows) this.set({ status: r.status }, Number(r.n));
      } catch {
        // the index is away: the last values stand
      }
    },
  });
  new Gauge({
    name: 'trawl_storages',
    help: 'Registered storages by whether they are enabled',
    labelNames: ['enabled'],
    registers,
    async collect() {
      try {
        const rows = await within(
          2_000,
          app.index.db
            .selectFrom('storages')
            .select(['enabled', (eb) => eb.fn.countAll<number>().as('n')])
            .groupBy('enabled')
            .execute(),
        );
        this.reset();
        for (const r of rows)
          this.set({ enabled: Number(r.enabled) ? 'true' : 'false' }, Number(r.n));
      } catch {
        // the index is away: the last values stand
      }
    },
  });
  new Gauge({
    name: 'trawl_queue_jobs',
    help: 'Scan jobs by state (BullMQ in a fleet; queued rows in embedded mode)',
    labelNames: ['state'],
    registers,
    async collect() {
      try {
        const queue = app.scanQueue;
        if (queue) {
          const counts = await within(2_000, queue.counts());
          for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
        } else {
          const queued = await within(2_000, app.index.scans.queued());
          this.set({ state: 'waiting' }, queued.length);
        }
      } catch {
        // the queue is away: the last values stand
      }
    },
  });
  return {
    requests: new Counter({
      name: 'trawl_http_requests_total',
      help: 'HTTP requests by route template and status',
      labelNames: ['method', 'route', 'status'],
      registers,
    }),
    duration: new Histogram({
      name: 'trawl_http_request_duration_seconds',
      help: 'HTTP request duration by route template',
      labelNames: ['method', 'route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
  };
}
