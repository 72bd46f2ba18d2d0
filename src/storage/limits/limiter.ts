import type { Semaphore } from '../../util/semaphore.js';
import type { AdaptiveLimit } from './adaptive.js';
import { InProcessGates, type GateSlot, type SharedGates } from './gates.js';
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
 * other waits for; and released all at once. The storage's own limit is this process's;
 * the tenant and key caps are `gates`, in this process unless a fleet-wide one is injected.
 */
export class Limiter {
  readonly #options: LimitOptions;
  readonly #gates: SharedGates;

  constructor(options: LimitOptions = {}, gates: SharedGates = new InProcessGates()) {
    this.#options = options;
    this.#gates = gates;
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
      // The shared gates are mostly free once the storage's own slot is held (that is the
      // narrow one): taken at once where they are counted in this process, without the
      // promises of an awaited admission per gate (~13 MB of a 200,000-file scan's garbage).
      const slots = this.#slots(target);
      const now = this.#gates.acquireNow?.(slots);
      held.push({ release: now ?? (await this.#gates.acquire(slots, signal)) });
    } catch (error) {
      releaseAll();
      throw error;
    }
    return once(releaseAll);
  }

  /**
   * Every layer now, without waiting, when each has a slot free and no waiter: the release,
   * or undefined (nothing held; {@link acquire} must be awaited). A tree walk asks for one
   * slot per directory with nothing else waiting on the storage, so it is nearly always
   * free; the listers of a walk by directory keep the storage's slots contended, so `list`
   * does not try it (measured: never taken there).
   */
  tryAcquire(target: LimitTarget): (() => void) | undefined {
    if (!this.#gates.acquireNow || !target.storage.tryAcquire()) return undefined;
    const shared = this.#gates.acquireNow(this.#slots(target));
    if (!shared) {
      target.storage.release();
      return undefined;
    }
    return once(() => {
      shared();
      target.storage.release();
    });
  }

  /**
   * The shared layers alone (tenant, limit key), for what talks to the server outside any
   * storage's slots: a connect. Resolves to their release.
   */
  acquireShared(target: Omit<LimitTarget, 'storage'>, signal?: AbortSignal): Promise<() => void> {
    return this.#gates.acquire(this.#slots(target), signal);
  }

  #slots(target: Omit<LimitTarget, 'storage'>): GateSlot[] {
    const slots: GateSlot[] = [];
    const tenantCap = tenantConcurrency(
      this.#options,
      target.tenantId,
      target.tenantMaxConcurrency,
    );
    if (tenantCap !== undefined)
      slots.push({ name: `tenant:${target.tenantId}`, limit: tenantCap });
    const keyCap = keyConcurrency(this.#options, target.kind, target.limitKey);
    slots.push({ name: `key:${target.limitKey}`, limit: keyCap });
    return slots;
  }

  /** A limit key's in-process gate while a request holds or awaits it (for tests). */
  keyGate(limitKey: string): Semaphore | undefined {
    return this.#gates instanceof InProcessGates ? this.#gates.get(`key:${limitKey}`) : undefined;
  }

  /** In-process key and tenant gates alive: 0 once no request holds or awaits one (for tests). */
  get gates(): number {
    return this.#gates instanceof InProcessGates ? this.#gates.size : 0;
  }
}

/** `release`, run the first time the returned function is called and never again. */
function once(release: () => void): () => void {
  let released = false;
  return () => {
    if (released) return;
    released = true;
    release();
  };
}
