import type { Exclusions } from './exclude/exclusions.js';

export interface FrontierItem {
  dir: string;
  depth: number;
  /** The exclude rules its parent's listing settled (its ancestors' marker files included). */
  rules?: Exclusions | undefined;
}

/**
 * The breadth-first queue of directories still to list. The walk ends when no directory
 * is queued and none is being listed ("outstanding" reaches zero): no sentinels, no timeouts.
 */
export class Frontier {
  #queue: FrontierItem[] = [];
  #head = 0;
  #outstanding = 0;
  #stopped = false;
  #waiters: Array<() => void> = [];

  /** Queued, not yet handed to a lister. */
  get queued(): number {
    return this.#queue.length - this.#head;
  }

  get outstanding(): number {
    return this.#outstanding;
  }

  push(item: FrontierItem): void {
    if (this.#stopped) return;
    this.#outstanding++;
    this.#queue.push(item);
    this.#wake();
  }

  /** The next directory to list, or undefined once the walk is finished or stopped. */
  async next(): Promise<FrontierItem | undefined> {
    for (;;) {
      if (this.#stopped) return undefined;
      if (this.#head < this.#queue.length) {
        const item = this.#queue[this.#head++]!;
        // Compact now and then so a long walk does not keep every visited directory.
        if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
          this.#queue = this.#queue.slice(this.#head);
          this.#head = 0;
        }
        return item;
      }
      if (this.#outstanding === 0) return undefined;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** A directory handed out by next() is finished (listed or failed). */
  done(): void {
    this.#outstanding--;
    if (this.#outstanding === 0) this.#wake();
  }

  /** Stop handing out directories (cancellation, fatal error). */
  stop(): void {
    this.#stopped = true;
    this.#wake();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}
