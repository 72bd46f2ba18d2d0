import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The storage layer's counters and histograms, kept in one prom-client registry that the
 * API's `/metrics` will serve. Labels are bounded (kind, operation, error code): never a
 * storage id or a path, which would grow without end in a fleet.
 */
export interface StorageMetrics extends StorageMeters {
  readonly registry: Registry;
}

/**
 * What the StorageService counts into: the metrics of a registry, or no-ops
 * (noop-metrics.ts) in a process that never serves them.
 */
export interface StorageMeters {
  requests: Counter<'kind' | 'op' | 'outcome'>;
  latency: Histogram<'kind' | 'op'>;
  errors: Counter<'kind' | 'op' | 'code'>;
  retries: Counter<'kind' | 'code'>;
  rateLimitWaits: Counter<'kind'>;
  inFlight: Gauge<'kind'>;
  liveClients: Gauge<'kind'>;
  connects: Counter<'kind' | 'outcome'>;
  connectLatency: Histogram<'kind'>;
}

/** A fresh registry; the app makes one and hands it to every service that reports. */
export function createRegistry(): Registry {
  return new Registry();
}

const cache = new WeakMap<Registry, StorageMetrics>();

/** The storage metrics in `registry`, registered on first use (so two services may share it). */
export function storageMetrics(registry: Registry = createRegistry()): StorageMetrics {
  const known = cache.get(registry);
  if (known) return known;
  const registers = [registry];
  const metrics: StorageMetrics = {
    registry,
    requests: new Counter({
      name: 'trawl_storage_requests_total',
      help: 'Storage requests (list, check, listTree pages) by outcome, retries included',
      labelNames: ['kind', 'op', 'outcome'],
      registers,
    }),
    latency: new Histogram({
      name: 'trawl_storage_request_duration_seconds',
      help: 'Time from sending a storage request to its answer (one attempt)',
      labelNames: ['kind', 'op'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    errors: new Counter({
      name: 'trawl_storage_errors_total',
      help: 'Failed storage request attempts by error code',
      labelNames: ['kind', 'op', 'code'],
      registers,
    }),
    retries: new Counter({
      name: 'trawl_storage_retries_total',
      help: 'Requests sent again after a retryable error (rate-limit waits not included)',
      labelNames: ['kind', 'code'],
      registers,
    }),
    rateLimitWaits: new Counter({
      name: 'trawl_storage_rate_limit_waits_total',
      help: 'Waits after a RATE_LIMITED answer before sending the request again',
      labelNames: ['kind'],
      registers,
    }),
    inFlight: new Gauge({
      name: 'trawl_storage_requests_in_flight',
      help: 'Storage requests sent and not yet answered',
      labelNames: ['kind'],
      registers,
    }),
    liveClients: new Gauge({
      name: 'trawl_storage_live_clients',
      help: 'Connected storage clients held by the StorageService',
      labelNames: ['kind'],
      registers,
    }),
    connects: new Counter({
      name: 'trawl_storage_connects_total',
      help: 'Client connects by outcome',
      labelNames: ['kind', 'outcome'],
      registers,
    }),
    connectLatency: new Histogram({
      name: 'trawl_storage_connect_duration_seconds',
      help: 'Time a client connect took',
      labelNames: ['kind'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
  };
  cache.set(registry, metrics);
  return metrics;
}
