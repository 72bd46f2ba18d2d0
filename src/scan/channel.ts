interface Pending<T> {
  item: T;
  weight: number;
  resolve: (accepted: boolean) => void;
}

/**
 * A bounded hand-off from the listers to the reconciler, bounded by weight (entries), so
 * that a database slower than the storage makes the listers wait instead of filling memory.
 * An item heavier than the whole capacity is still admitted when the channel is empty, so a
 * huge directory cannot deadlock it.
 *
 * Puts are admitted strictly in arrival order (a light item never overtakes a heavy one
 * waiting for room), and takers see items in that order. The engine relies on this: a
 * parent's listing is put before its subdirectories are queued, so it is reconciled no later
 * than any of theirs, and a cancelled scan never leaves children indexed under a missing
 * parent.
 */
export class Channel<T> {
  readonly #capacity: number;
  /** Admitted items from #head on; the consumed prefix is dropped now and then. */
  #items: Array<{ item: T; weight: number }> = [];
  #head = 0;
  #weight = 0;
  #closed = false;
  #pending: Array<Pending<T>> = [];
  #takeWaiter: (() => void) | undefined;
  /**
   * The weight queued at which the waiting taker is woken: what its batch lacks. Woken by
   * every put, it took one listing, set a timer and waited again — a timer, a promise and a
   * resumption per listing (~6 MB of a 200,000-file dry run's garbage, heap sampling).
   */
  #wakeAt = 0;

  constructor(capacity: number) {
    if (!(capacity >= 1)) {
      throw new RangeError(`Expected \`capacity\` to be a number from 1 and up, got ${capacity}`);
    }
    this.#capacity = capacity;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Items admitted and not yet taken. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Their total weight (at most the capacity, unless one item alone is heavier). */
  get weight(): number {
    return this.#weight;
  }

  /** Puts waiting for room. */
  get waitingPuts(): number {
    return this.#pending.length;
  }

  /** Waits while full; resolves false when the channel was closed (the item is dropped). */
  put(item: T, weight: number): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    if (this.tryPut(item, weight)) return Promise.resolve(true);
    // Waiting for room: a taker waiting for more weight takes what is there now.
    const waiting = new Promise<boolean>((resolve) =>
      this.#pending.push({ item, weight, resolve }),
    );
    this.#wakeTaker();
    return waiting;
  }

  /** Admits the item now if {@link put} would without waiting; false (not admitted) otherwise. */
  tryPut(item: T, weight: number): boolean {
    if (this.#closed || this.#pending.length > 0 || !this.#fits(weight)) return false;
    this.#enqueue(item, weight);
    return true;
  }

  /**
   * The next batch, in put order: waits for a first item, then gathers more until the next
   * item would take the batch over `maxWeight` (a single heavier item makes a batch on its
   * own), `maxWaitMs` has passed since the first item, or the channel is closed and empty.
   * Returns an empty array only when the channel is closed and drained.
   */
  async takeBatch(maxWeight: number, maxWaitMs: number): Promise<T[]> {
    while (this.length === 0 && !this.#closed) await this.#waitForItem(0);
    const batch: T[] = [];
    let weight = 0;
    const deadline = Date.now() + maxWaitMs;
    // One timer for the batch's deadline, however many waits it takes.
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      for (;;) {
        let full = false;
        while (this.length > 0) {
          const next = this.#items[this.#head]!;
          if (batch.length > 0 && weight + next.weight > maxWeight) {
            full = true;
            break;
          }
          this.#shift();
          this.#weight -= next.weight;
          weight += next.weight;
          batch.push(next.item);
        }
        this.#admit();
        // Puts just admitted go into this batch too, if it has room for them.
        if (!full && this.length > 0 && weight < maxWeight) continue;
        const left = deadline - Date.now();
        if (full || weight >= maxWeight || this.#closed || left <= 0 || batch.length === 0) {
          return batch;
        }
        // Armed again once it has fired: a timer counts from the event loop's cached time,
        // which a long synchronous stretch before it leaves behind `Date.now()`, so it can
        // fire while the deadline is still ahead — and nothing else would wake the taker.
        timer ??= setTimeout(() => {
          timer = undefined;
          this.#wakeTaker();
        }, left);
        // Woken when the batch could be filled (or a put waits for room, or the deadline).
        await this.#waitForItem(maxWeight - weight);
      }
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /** No more puts; waiting puts are refused; takers drain what is left. */
  close(): void {
    this.#closed = true;
    const pending = this.#pending;
    this.#pending = [];
    for (const p of pending) p.resolve(false);
    this.#wakeTaker();
  }

  /** Close and drop what is queued (cancellation); returns the dropped items. */
  discard(): T[] {
    const dropped = this.#items.slice(this.#head).map((i) => i.item);
    this.#items = [];
    this.#head = 0;
    this.#weight = 0;
    this.close();
    return dropped;
  }

  #shift(): void {
    this.#head++;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }

  #fits(weight: number): boolean {
    return this.length === 0 || this.#weight + weight <= this.#capacity;
  }

  #enqueue(item: T, weight: number): void {
    this.#items.push({ item, weight });
    this.#weight += weight;
    if (this.#weight >= this.#wakeAt) this.#wakeTaker();
  }

  /** Admits waiting puts, oldest first, while the oldest fits. */
  #admit(): void {
    while (this.#pending.length > 0 && this.#fits(this.#pending[0]!.weight)) {
      const p = this.#pending.shift()!;
      this.#enqueue(p.item, p.weight);
      p.resolve(true);
    }
  }

  /** Waits until `need` weight is queued, or the taker is woken otherwise. */
  #waitForItem(need: number): Promise<void> {
    this.#wakeAt = need;
    return new Promise<void>((resolve) => (this.#takeWaiter = resolve));
  }

  #wakeTaker(): void {
    const waiter = this.#takeWaiter;
    this.#takeWaiter = undefined;
    waiter?.();
  }
}
