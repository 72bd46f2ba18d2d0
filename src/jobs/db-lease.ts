import { hostname } from 'node:os';
import type { LeaseRows } from '../db/bookkeeping.js';
import { uniqueToken } from '../util/unique-token.js';
import {
  DEFAULT_LEASE_TTL_MS,
  grantedLease,
  type Lease,
  type LeaseHolder,
  type LeaseStore,
  type LeaseTiming,
} from './lease.js';

/**
 * A holder on this machine whose process is gone (killed, a second Ctrl-C): its lease is
 * free now, not in a lease period — as a lock file whose pid is dead. Holders are named
 * `role@host:pid` (workerName); one of another host is left to expire.
 */
function deadOnThisHost(stored: string): boolean {
  const m = /@(.+):(\d+)$/.exec(stored.split(' ')[0] ?? '');
  if (!m || m[1] !== hostname()) return false;
  const pid = Number(m[2]);
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Leases in the index itself (`leases` table): embedded mode, where processes share one
 * SQLite file and no Redis. A grant is one transaction that first bumps the storage's fence
 * — taking the storage row's write lock, so grants of one storage are serialised in both
 * dialects — then finds the lease free or expired and takes it; a lease held by another is
 * left alone and the bump undone. Expiry uses the machine's clock: every holder of an
 * embedded index runs on the one machine.
 */
export class DbLeaseStore implements LeaseStore {
  readonly #rows: LeaseRows;
  readonly #timing: LeaseTiming;

  constructor(rows: LeaseRows, timing: Partial<LeaseTiming> = {}) {
    this.#rows = rows;
    this.#timing = { ttlMs: timing.ttlMs ?? DEFAULT_LEASE_TTL_MS, ...timing };
  }

  async tryAcquire(storageId: number, holder: string): Promise<Lease | undefined> {
    const stored = `${holder} ${uniqueToken()}`;
    const now = Date.now();
    const fence = await this.#rows.grant(
      storageId,
      stored,
      now + this.#timing.ttlMs,
      (held) => held.expiresAt <= now || deadOnThisHost(held.holder),
    );
    return fence === undefined ? undefined : this.#grant(storageId, holder, stored, fence);
  }

  async holderOf(storageId: number): Promise<LeaseHolder | undefined> {
    const row = await this.#rows.held(storageId);
    if (!row || row.expiresAt <= Date.now()) return undefined;
    return { holder: row.holder.split(' ')[0]!, expiresAt: row.expiresAt };
  }

  async close(): Promise<void> {}

  #grant(storageId: number, holder: string, stored: string, fence: number): Lease {
    return grantedLease(
      { storageId, fence, holder },
      this.#timing,
      () => this.#rows.renew(storageId, stored, fence, Date.now() + this.#timing.ttlMs),
      () => this.#rows.release(storageId, stored, fence),
    );
  }
}
