import type { Counter, Gauge, Histogram } from 'prom-client';
import type { StorageMeters } from './metrics.js';

/**
 * Every storage meter as a no-op, for a process whose metrics nobody reads: the command
 * line, but `trawl serve` (the only reader, at `/metrics`). Its own module, so that such a
 * process loads no prom-client and makes no registry (~1 ms of a `trawl scan`'s start:
 * docs/benchmarks.md, "the start, a fourth look").
 */
export function noopStorageMetrics(): StorageMeters {
  // One object stands for every series: the service calls only inc, dec, observe and labels.
  const meter = {
    inc: () => undefined,
    dec: () => undefined,
    set: () => undefined,
    observe: () => undefined,
    labels: () => meter,
    startTimer: () => () => 0,
  } as unknown as Counter<string> & Gauge<string> & Histogram<string>;
  return {
    requests: meter,
    latency: meter,
    errors: meter,
    retries: meter,
    rateLimitWaits: meter,
    inFlight: meter,
    liveClients: meter,
    connects: meter,
    connectLatency: meter,
  };
}
