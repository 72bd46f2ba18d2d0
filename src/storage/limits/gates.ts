import { KeyedSemaphores } from './keyed.js';
import type { Semaphore } from '../../util/semaphore.js';

/** One shared cap a request counts against: its gate's name and how many it admits at once. */
export interface GateSlot {
  /** `tenant:<id>` or `key:<limitKey>`: names are unique across both layers. */
  name: string;
  /** Requests admitted at once through this gate (1 and up). */
  limit: number;
}

/**
 * The shared caps of the StorageService — per tenant and per limit key — behind one small
 * contract, so that where they are counted is the composition root's choice: in this process
 * (embedded mode, {@link InProcessGates}), or across every worker of a fleet (a Redis
 * implementation in the job layer). The per-storage adaptive limit is not a gate: it stays in
 * the process that paces the storage.
 */
export interface SharedGates {
  /**
   * Resolves once one slot of every gate in `slots` is held, and hands back the function
   * that gives them all back (idempotent, never throws). Rejects with the signal's reason
   * when `signal` aborts first, holding nothing. Two requests never each hold a slot the
   * other waits for: slots are taken all at once, or in the order given.
   */
  acquire(slots: readonly GateSlot[], signal?: AbortSignal): Promise<() => void>;
  /**
   * Optional: a slot of every gate in `slots` now, all or nothing, without waiting — the
   * release function, or undefined when some gate is full or has waiters (then nothing is
   * held and `acquire` must be awaited). Gates counted elsewhere (Redis) leave it out.
   */
  acquireNow?(slots: readonly GateSlot[]): (() => void) | undefined;
}

/** Slots taken one by one, and a release of them all in the reverse order. */
function holding(): { held: Array<{ release(): void }>; releaseAll: () => void } {
  const held: Array<{ release(): void }> = [];
  const releaseAll = () => {
    for (let i = held.length - 1; i >= 0; i--) held[i]!.release();
    held.length = 0;
  };
  return { held, releaseAll };
}

/** The gates of one process: a semaphore per name, made on first use, dropped once idle. */
export class InProcessGates implements SharedGates {
  readonly #gates = new KeyedSemaphores<string>();

  async acquire(slots: readonly GateSlot[], signal?: AbortSignal): Promise<() => void> {
    const { held, releaseAll } = holding();
    try {
      // In the order given (tenant before key, as every caller names them): no cycle.
      for (const slot of slots) held.push(await this.#gates.acquire(slot.name, slot.limit, signal));
    } catch (error) {
      releaseAll();
      throw error;
    }
    return releaseAll;
  }

  acquireNow(slots: readonly GateSlot[]): (() => void) | undefined {
    const { held, releaseAll } = holding();
    for (const slot of slots) {
      const got = this.#gates.tryAcquire(slot.name, slot.limit);
      if (!got) {
        releaseAll();
        return undefined;
      }
      held.push(got);
    }
    return releaseAll;
  }

  /** A gate's semaphore while a request holds or awaits it (for tests). */
  get(name: string): Semaphore | undefined {
    return this.#gates.get(name);
  }

  /** Gates alive: 0 once no request holds or awaits one. */
  get size(): number {
    return this.#gates.size;
  }
}
