import { Semaphore } from '../../util/semaphore.js';

/**
 * One semaphore per key (a limit key, a tenant), made on first use and dropped once no
 * request holds or waits for it, so a long-running worker that meets many hosts and tenants
 * keeps only the ones in use. Every admission names the key's limit, so a gate made again
 * behaves as the dropped one did; a changed limit applies to the next admissions while
 * holders keep their slots.
 */
export class KeyedSemaphores<K> {
  readonly #gates = new Map<K, Semaphore>();

  /** Resolves once a slot of `key` is held; rejects if the signal aborts first. */
  async acquire(key: K, limit: number, signal?: AbortSignal): Promise<{ release(): void }> {
    const held = this.#gateOf(key, limit);
    try {
      await held.acquire(signal);
    } catch (error) {
      this.#prune(key, held);
      throw error;
    }
    return {
      release: () => {
        held.release();
        this.#prune(key, held);
      },
    };
  }

  /** A slot of `key` now, if one is free and no one waits; undefined: nothing held. */
  tryAcquire(key: K, limit: number): { release(): void } | undefined {
    const held = this.#gateOf(key, limit);
    if (!held.tryAcquire()) {
      this.#prune(key, held);
      return undefined;
    }
    return {
      release: () => {
        held.release();
        this.#prune(key, held);
      },
    };
  }

  get(key: K): Semaphore | undefined {
    return this.#gates.get(key);
  }

  /** Keys with a live gate. */
  get size(): number {
    return this.#gates.size;
  }

  /** The gate of `key`, made on first use; its limit follows the caller's latest. */
  #gateOf(key: K, limit: number): Semaphore {
    let gate = this.#gates.get(key);
    if (!gate) {
      gate = new Semaphore(limit);
      this.#gates.set(key, gate);
    } else if (gate.limit !== limit) {
      gate.limit = limit;
    }
    return gate;
  }

  #prune(key: K, gate: Semaphore): void {
    if (gate.active === 0 && gate.waiting === 0 && this.#gates.get(key) === gate) {
      this.#gates.delete(key);
    }
  }
}
