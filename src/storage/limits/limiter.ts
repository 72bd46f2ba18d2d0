import type { Semaphore } from '../../util/semaphore.js';
import type { AdaptiveLimit } from './adaptive.js';
import { KeyedSemaphores } from './keyed.js';
import { keyConcurrency, tenantConcurrency, type LimitOptions } from './keys.js';

/** Where one request goes, as the limiter needs to know it. */
export interface LimitTarget {
  /** The storage's own (adaptive) limit. */
  storage: AdaptiveLimit;
  kind: string;
  limitKey: string;
  tenantId: number;
  /** The storage's own per-tenant cap, if it names one. */
  tenantMaxConcurrency?: number;
}

/**
 * The layered limits every request passes: per storage, per tenant (optional), per limit
 * key. Slots are always taken in that order, so two requests can never each hold what the
 * other waits for; and released all at once.
 */
export class Limiter {
  readonly #options: LimitOptions;
  readonly #keys = new KeyedSemaphores<string>();
  readonly #tenants = new KeyedSemaphores<number>();

  constructor(options: LimitOptions = {}) {
    this.#options = options;
  }

  /** Resolves to a release function once every layer has admitted the request. */
  async acquire(target: LimitTarget, signal?: AbortSignal): Promise<() => void> {
    const held: Array<{ release(): void }> = [];
    const releaseAll = () => {
      for (let i = held.length - 1; i >= 0; i--) held[i]!.release();
      held.length = 0;
    };
    try {
      await target.storage.acquire(signal);
      held.push(target.storage);
      const tenantCap = tenantConcurrency(
        this.#options,
        target.tenantId,
        target.tenantMaxConcurrency,
      );
      if (tenantCap !== undefined) {
        const gate = this.#tenants.gate(target.tenantId, tenantCap);
        await gate.acquire(signal);
        held.push(gate);
      }
      const key = this.#keys.gate(
        target.limitKey,
        keyConcurrency(this.#options, target.kind, target.limitKey),
      );
      await key.acquire(signal);
      held.push(key);
    } catch (error) {
      releaseAll();
      throw error;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      releaseAll();
    };
  }

  /** The shared gate of a limit key, once a request has used it (for tests and metrics). */
  keyGate(limitKey: string): Semaphore | undefined {
    return this.#keys.get(limitKey);
  }

  tenantGate(tenantId: number): Semaphore | undefined {
    return this.#tenants.get(tenantId);
  }
}
