import type { RedisSemaphore } from './redis-semaphore.js';

/** One running scan's place in its tenant's quota, held from its start to its end. */
export interface ScanSlot {
  /** Gives the place back (once; later calls do nothing). Never throws. */
  release(): void;
}

/**
 * The per-tenant cap on running scans: one tenant with many storages queued cannot take every
 * worker while another tenant's scan waits. A job whose tenant is at its cap is put back for
 * later, as a job whose storage is held is.
 */
export interface TenantScans {
  /** A place for one more scan of the tenant, or undefined when `max` already run. */
  tryTake(tenantId: number): Promise<ScanSlot | undefined>;
  /** Scans of a tenant running now, as far as this store can tell. */
  running(tenantId: number): Promise<number>;
  readonly max: number;
}

/** Fleet-wide: a gate per tenant in Redis; a dead worker's places expire with the lease TTL. */
export class FleetTenantScans implements TenantScans {
  readonly #gates: RedisSemaphore;
  readonly max: number;

  constructor(gates: RedisSemaphore, max: number) {
    this.#gates = gates;
    this.max = max;
  }

  tryTake(tenantId: number): Promise<ScanSlot | undefined> {
    return this.#gates.tryAcquire([{ name: `scans:tenant:${tenantId}`, limit: this.max }]);
  }

  running(tenantId: number): Promise<number> {
    return this.#gates.count(`scans:tenant:${tenantId}`);
  }
}

/** In one process (embedded mode, where one worker runs the scheduled scans). */
export class LocalTenantScans implements TenantScans {
  readonly #running = new Map<number, number>();
  readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  tryTake(tenantId: number): Promise<ScanSlot | undefined> {
    const n = this.#running.get(tenantId) ?? 0;
    if (n >= this.max) return Promise.resolve(undefined);
    this.#running.set(tenantId, n + 1);
    let released = false;
    return Promise.resolve({
      release: () => {
        if (released) return;
        released = true;
        const left = (this.#running.get(tenantId) ?? 1) - 1;
        if (left > 0) this.#running.set(tenantId, left);
        else this.#running.delete(tenantId);
      },
    });
  }

  running(tenantId: number): Promise<number> {
    return Promise.resolve(this.#running.get(tenantId) ?? 0);
  }
}
