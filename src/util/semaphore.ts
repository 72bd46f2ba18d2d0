import { onAbort } from './on-abort.js';

/**
 * A counting semaphore with FIFO waiters. `limit` may change at run time (adaptive
 * concurrency): lowering it lets in-flight holders finish and admits no one until the
 * count falls below the new limit.
 */
export class Semaphore {
  #limit: number;
  #active = 0;
  readonly #waiters: Array<() => void> = [];

  constructor(limit: number) {
    this.#limit = Semaphore.#check(limit);
  }

  get limit(): number {
    return this.#limit;
  }

  set limit(value: number) {
    this.#limit = Semaphore.#check(value);
    this.#drain();
  }

  get active(): number {
    return this.#active;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  /** Takes a slot now if one is free and no one waits for one; false: nothing taken. */
  tryAcquire(): boolean {
    if (this.#active < this.#limit && this.#waiters.length === 0) {
      this.#active++;
      return true;
    }
    return false;
  }

  /** Resolves when a slot is held; rejects if the signal aborts first. */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#active < this.#limit && this.#waiters.length === 0) {
      this.#active++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      // One Set entry per wait, not an event listener (see on-abort.ts): a scan's listers
      // wait here for every directory.
      const stop = signal
        ? onAbort(signal, () => {
            const i = this.#waiters.indexOf(grant);
            if (i >= 0) this.#waiters.splice(i, 1);
            reject(signal.reason);
          })
        : undefined;
      const grant = () => {
        stop?.();
        this.#active++;
        resolve();
      };
      this.#waiters.push(grant);
    });
  }

  release(): void {
    this.#active--;
    this.#drain();
  }

  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(signal);
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  #drain(): void {
    while (this.#active < this.#limit && this.#waiters.length > 0) this.#waiters.shift()!();
  }

  static #check(limit: number): number {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new TypeError(`Expected \`limit\` to be an integer from 1 and up, got ${limit}`);
    }
    return limit;
  }
}
