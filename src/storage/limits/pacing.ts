import type { StorageError } from '../errors.js';
import { AdaptiveLimit } from './adaptive.js';
import { decideRetry, type RetryDecision, type RetryOptions, type RetryState } from './retry.js';

/** Cumulative per storage over the life of the service (a scan subtracts its start). */
export interface StorageStats {
  /** Requests sent again after a retryable error (TIMEOUT, UNAVAILABLE…). */
  retries: number;
  /** Waits after RATE_LIMITED answers. */
  rateLimitWaits: number;
  /** Successful connects. */
  connects: number;
}

/**
 * How one storage is paced, across client replacements: its adaptive concurrency limit, its
 * run of rate limits, and the counters scans report.
 */
export class StoragePacing {
  readonly limit: AdaptiveLimit;
  readonly stats: StorageStats = { retries: 0, rateLimitWaits: 0, connects: 0 };
  /** Requests of this storage started and not yet ended (waiting, backing off or in flight). */
  pending = 0;
  /** When a request of this storage last started or ended (the service's clock). */
  lastActivity: number;
  readonly #retry: RetryOptions;
  readonly #now: () => number;
  readonly #random: () => number;
  /**
   * RATE_LIMITED answers in a row, reset by any success; refusals of requests sent before
   * the last refusal arrived count once (one burst, one step).
   */
  #streak = 0;
  #lastRateLimitAt = -Infinity;

  constructor(max: number, retry: RetryOptions, now: () => number, random: () => number) {
    this.limit = new AdaptiveLimit(max, now);
    this.#retry = retry;
    this.#now = now;
    this.#random = random;
    this.lastActivity = now();
  }

  /** A request starts; the returned function ends it (for pruning idle state). */
  enter(): () => void {
    this.pending++;
    this.lastActivity = this.#now();
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.pending--;
      this.lastActivity = this.#now();
    };
  }

  succeeded(): void {
    this.limit.succeeded();
    this.#streak = 0;
  }

  /**
   * A request sent at `sentAt` failed: slow the storage down on rate limits and timeouts,
   * then decide whether and when to send it again; counts the wait or retry it grants.
   */
  failed(error: StorageError, sentAt: number, spent: RetryState): RetryDecision {
    if (error.code === 'RATE_LIMITED') {
      if (sentAt >= this.#lastRateLimitAt || this.#streak === 0) this.#streak++;
      this.#lastRateLimitAt = this.#now();
    }
    if (error.code === 'RATE_LIMITED' || error.code === 'TIMEOUT') this.limit.overloaded(sentAt);
    const decision = decideRetry(
      error,
      { ...spent, streak: this.#streak },
      this.#retry,
      this.#random,
    );
    if (decision.action === 'wait') {
      spent.waits++;
      this.stats.rateLimitWaits++;
    } else if (decision.action === 'retry') {
      spent.retries++;
      this.stats.retries++;
    }
    return decision;
  }
}
