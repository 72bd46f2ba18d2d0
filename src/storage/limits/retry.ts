import type { StorageError, StorageErrorCode } from '../errors.js';
import { backoffDelay } from '../../util/backoff.js';

export interface RetryOptions {
  /** Retries after a TIMEOUT, UNAVAILABLE or other retryable error, per request. @default 4 */
  attempts: number;
  /**
   * Waits after RATE_LIMITED, per request. Higher than `attempts`: a rate limit says "later",
   * not "broken", and a scan should slow down rather than record errors. @default 20
   */
  rateLimitAttempts: number;
  /** First backoff ceiling. @default 100 */
  baseDelayMs: number;
  /** Backoff ceiling. @default 10000 */
  maxDelayMs: number;
  /** A server's Retry-After longer than this is shortened to it. @default 60000 */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: Readonly<RetryOptions> = Object.freeze({
  attempts: 4,
  rateLimitAttempts: 20,
  baseDelayMs: 100,
  maxDelayMs: 10_000,
  maxRetryAfterMs: 60_000,
});

/** Codes that describe the request or the storage, not the moment: another try cannot help. */
const NEVER_RETRY: ReadonlySet<StorageErrorCode> = new Set([
  'NOT_FOUND',
  'PERMISSION_DENIED',
  'AUTH_FAILED',
  'INVALID_CONFIG',
  'CANCELLED',
  'FORBIDDEN_ADDRESS',
]);

export interface RetryState {
  /** Retries spent on errors so far in this request. */
  retries: number;
  /** Rate-limit waits spent so far in this request. */
  waits: number;
  /**
   * Rate limits the storage answered in a row, across all requests (reset by any success).
   * The backoff grows with it rather than with `waits`: when most requests get through, the
   * server is not in a storm and one unlucky request need not wait seconds; when every
   * request is refused, the streak and the wait grow together. @default waits
   */
  streak?: number;
}

export type RetryDecision =
  { action: 'fail' } | { action: 'retry'; delayMs: number } | { action: 'wait'; delayMs: number };

/**
 * What to do after a failed attempt: wait out a rate limit (Retry-After when the server gave
 * one, else backoff), retry a retryable error after backoff, or give up.
 */
export function decideRetry(
  error: StorageError,
  state: RetryState,
  options: RetryOptions,
  random: () => number = Math.random,
): RetryDecision {
  const backoff = { baseMs: options.baseDelayMs, maxMs: options.maxDelayMs };
  if (error.code === 'RATE_LIMITED') {
    if (state.waits >= options.rateLimitAttempts) return { action: 'fail' };
    const delayMs =
      error.retryAfterMs !== undefined && error.retryAfterMs >= 0
        ? Math.min(error.retryAfterMs, options.maxRetryAfterMs)
        : backoffDelay(Math.max(0, (state.streak ?? state.waits + 1) - 1), backoff, random);
    return { action: 'wait', delayMs };
  }
  if (NEVER_RETRY.has(error.code) || !error.retryable) return { action: 'fail' };
  if (state.retries >= options.attempts) return { action: 'fail' };
  return { action: 'retry', delayMs: backoffDelay(state.retries, backoff, random) };
}
