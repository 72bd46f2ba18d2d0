/**
 * A bounded hand-off from the listers to the reconciler, bounded by weight (entries), so
 * that a database slower than the storage makes the listers wait instead of filling memory.
 * An item heavier than the whole capacity is still admitted when the channel is empty, so a
 * huge directory cannot deadlock it.
 */
export class Channel<T> {
  readonly #capacity: number;
  readonly #items: Array<{ item: T; weight: number }> = [];
  #weight = 0;
  #closed = false;
  #putWaiters: Array<() => void> = [];
  #takeWaiter: (() => void) | undefined;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Waits while full; returns false when the channel was closed (the item is dropped). */
  async put(item: T, weight: number): Promise<boolean> {
    while (!this.#closed && this.#items.length > 0 && this.#weight + weight > this.#capacity) {
      await new Promise<void>((resolve) => this.#putWaiters.push(resolve));
    }
    if (this.#closed) return false;
    this.#items.push({ item, weight });
    this.#weight += weight;
    this.#wakeTaker();
    return true;
  }

  /**
   * The next batch: waits for a first item, then gathers more until `maxWeight` is reached,
   * `maxWaitMs` has passed since the first item, or the channel is closed and empty.
   * Returns an empty array only when the channel is closed and drained.
   */
  async takeBatch(maxWeight: number, maxWaitMs: number): Promise<T[]> {
    while (this.#items.length === 0 && !this.#closed) await this.#waitForItem();
    const batch: T[] = [];
    let weight = 0;
    const deadline = Date.now() + maxWaitMs;
    for (;;) {
      while (this.#items.length > 0 && weight < maxWeight) {
        const next = this.#items.shift()!;
        this.#weight -= next.weight;
        weight += next.weight;
        batch.push(next.item);
      }
      this.#wakePutters();
      const left = deadline - Date.now();
      if (weight >= maxWeight || this.#closed || left <= 0 || batch.length === 0) return batch;
      await this.#waitForItem(left);
    }
  }

  /** No more puts; takers drain what is left. */
  close(): void {
    this.#closed = true;
    this.#wakeTaker();
    this.#wakePutters();
  }

  /** Close and drop what is queued (cancellation). */
  discard(): void {
    this.#items.length = 0;
    this.#weight = 0;
    this.close();
  }

  #waitForItem(timeoutMs?: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(done, timeoutMs);
      function done() {
        if (timer) clearTimeout(timer);
        resolve();
      }
      this.#takeWaiter = done;
    });
  }

  #wakeTaker(): void {
    const waiter = this.#takeWaiter;
    this.#takeWaiter = undefined;
    waiter?.();
  }

  #wakePutters(): void {
    const waiters = this.#putWaiters;
    this.#putWaiters = [];
    for (const w of waiters) w();
  }
}
