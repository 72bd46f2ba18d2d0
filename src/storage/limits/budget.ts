import { cancelledError } from '../errors.js';

/** Bytes of listings in flight per process when nothing else is configured. @default 64 MiB */
export const DEFAULT_LISTING_BUDGET = 64 * 1024 * 1024;

interface Waiter {
  bytes: number;
  grant: () => void;
}

/**
 * One memory budget for every listing page between the storages and the index, in the whole
 * process: a page is charged when a backend hands it over and freed once the scan has
 * reconciled it. When the budget is spent, the next page waits — and with it the backend's
 * read of its server — so many concurrent listings of huge directories share one bound
 * instead of multiplying a per-response cap.
 *
 * FIFO, so a large page is not starved by small ones; a page larger than the whole budget is
 * admitted when nothing else is held, so it can never wait forever. No deadlock: what frees
 * the budget (the reconciler) never waits for it.
 */
export class MemoryBudget {
  readonly capacity: number;
  #used = 0;
  #peak = 0;
  readonly #waiters: Waiter[] = [];

  constructor(capacity: number = DEFAULT_LISTING_BUDGET) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError(`Expected \`capacity\` to be an integer from 1 and up, got ${capacity}`);
    }
    this.capacity = capacity;
  }

  /** Bytes charged now. */
  get used(): number {
    return this.#used;
  }

  /** The most ever charged at once. */
  get peak(): number {
    return this.#peak;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  /** Resolves once `bytes` are charged; rejects with CANCELLED if the signal aborts first. */
  acquire(bytes: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(cancelledError());
    if (this.#waiters.length === 0 && this.#fits(bytes)) {
      this.#charge(bytes);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        bytes,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          this.#charge(bytes);
          resolve();
        },
      };
      const onAbort = () => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(cancelledError());
        this.#drain();
      };
      this.#waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Charges `bytes` now if {@link acquire} would without waiting (nothing waits, and they
   * fit); false, and nothing charged, otherwise.
   */
  tryAcquire(bytes: number): boolean {
    if (this.#waiters.length > 0 || !this.#fits(bytes)) return false;
    this.#charge(bytes);
    return true;
  }

  release(bytes: number): void {
    this.#used -= bytes;
    if (this.#used < 0) this.#used = 0;
    this.#drain();
  }

  #fits(bytes: number): boolean {
    return this.#used === 0 || this.#used + bytes <= this.capacity;
  }

  #charge(bytes: number): void {
    this.#used += bytes;
    if (this.#used > this.#peak) this.#peak = this.#used;
  }

  #drain(): void {
    while (this.#waiters.length > 0 && this.#fits(this.#waiters[0]!.bytes)) {
      this.#waiters.shift()!.grant();
    }
  }
}
