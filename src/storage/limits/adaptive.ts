import { Semaphore } from '../../util/semaphore.js';
import { monotonicMs } from '../../util/monotonic.js';

/**
 * A storage's concurrency limit that adapts to the server (AIMD): each success adds one,
 * each rate limit or timeout halves it, always between 1 and `max`. A burst of 429s answered
 * to requests sent before the last decrease counts once: they were all sent under the old
 * limit. The increase is per success, not per window as in TCP: with a per-window increase,
 * a server that refuses a fixed share of requests whatever the load (20 % here) pins the
 * limit near 2 for good (TCP's √(3/2p)), which only makes the scan slower; per success, the
 * limit drops at once under a storm and climbs back as soon as answers come through.
 */
export class AdaptiveLimit {
  readonly #gate: Semaphore;
  readonly #now: () => number;
  #max: number;
  #window: number;
  #lowest: number;
  #lastDecrease = -Infinity;

  constructor(max: number, now: () => number = monotonicMs) {
    this.#gate = new Semaphore(max);
    this.#max = max;
    this.#window = max;
    this.#lowest = max;
    this.#now = now;
  }

  /** Requests admitted at once right now. */
  get limit(): number {
    return this.#gate.limit;
  }

  /** The lowest limit this storage has been throttled to. */
  get lowest(): number {
    return this.#lowest;
  }

  get max(): number {
    return this.#max;
  }

  get active(): number {
    return this.#gate.active;
  }

  /**
   * A new ceiling (a connect read the config). An unthrottled storage starts at the new
   * ceiling; a throttled one keeps its lower limit, clamped. The lowest seen restarts.
   */
  set max(value: number) {
    if (value === this.#max) return;
    this.#gate.limit = value; // validates
    const unthrottled = this.#window >= this.#max;
    this.#max = value;
    this.#window = unthrottled ? value : Math.min(this.#window, value);
    this.#lowest = Infinity;
    this.#apply();
  }

  acquire(signal?: AbortSignal): Promise<void> {
    return this.#gate.acquire(signal);
  }

  /** A slot now if one is free and no one waits; false: nothing taken. */
  tryAcquire(): boolean {
    return this.#gate.tryAcquire();
  }

  release(): void {
    this.#gate.release();
  }

  succeeded(): void {
    if (this.#window >= this.#max) return;
    this.#window = Math.min(this.#max, this.#window + 1);
    this.#apply();
  }

  /** A rate limit or timeout answered to a request sent at `sentAt` (same clock as `now`). */
  overloaded(sentAt: number): void {
    if (sentAt < this.#lastDecrease) return;
    this.#lastDecrease = this.#now();
    this.#window = Math.max(1, this.#window / 2);
    this.#apply();
  }

  #apply(): void {
    const limit = Math.max(1, Math.floor(this.#window));
    if (limit !== this.#gate.limit) this.#gate.limit = limit;
    this.#lowest = Math.min(this.#lowest, limit);
  }
}
