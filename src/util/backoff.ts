export interface BackoffOptions {
  /** Delay ceiling of the first retry. @default 100 */
  baseMs: number;
  /** No retry waits longer than this. @default 10000 */
  maxMs: number;
}

/**
 * Exponential backoff with full jitter (a uniform draw in [0, base·2^attempt], capped):
 * clients that failed together do not retry together.
 *
 * @param attempt 0 for the first retry.
 * @param random a source in [0, 1); tests pass a fixed one.
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling * random());
}
