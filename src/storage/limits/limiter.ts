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
        held.push(await this.#tenants.acquire(target.tenantId, tenantCap, signal));
      }
      const keyCap = keyConcurrency(this.#options, target.kind, target.limitKey);
      held.push(await this.#keys.acquire(target.limitKey, keyCap, signal));
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

  /** A limit key's shared gate while a request holds or awaits it (for tests). */
  keyGate(limitKey: string): Semaphore | undefined {
    return this.#keys.get(limitKey);
  }

  /** Key and tenant gates alive: 0 once no request holds or awaits one (for tests). */
  get gates(): number {
    return this.#keys.size + this.#tenants.size;
  }
}
