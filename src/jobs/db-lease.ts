import { hostname } from 'node:os';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { uniqueToken } from '../util/unique-token.js';
import {
  DEFAULT_LEASE_TTL_MS,
  grantedLease,
  type Lease,
  type LeaseHolder,
  type LeaseStore,
  type LeaseTiming,
} from './lease.js';

/** Thrown inside the grant's transaction to undo its fence bump when the lease is held. */
class Held extends Error {}

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
  readonly #db: Kysely<Database>;
  readonly #timing: LeaseTiming;

  constructor(db: Kysely<Database>, timing: Partial<LeaseTiming> = {}) {
    this.#db = db;
    this.#timing = { ttlMs: timing.ttlMs ?? DEFAULT_LEASE_TTL_MS, ...timing };
  }

  async tryAcquire(storageId: number, holder: string): Promise<Lease | undefined> {
    const token = uniqueToken();
    let fence: number;
    try {
      fence = await this.#db.transaction().execute(async (trx) => {
        const bumped = await trx
          .updateTable('storages')
          .set({ fence: sql`fence + 1` })
          .where('id', '=', storageId)
          .returning('fence')
          .executeTakeFirst();
        if (!bumped) throw new Error(`storage ${storageId} does not exist`);
        const now = Date.now();
        const current = await trx
          .selectFrom('leases')
          .select(['holder', 'expires_at'])
          .where('storage_id', '=', storageId)
          .executeTakeFirst();
        if (current && Number(current.expires_at) > now && !deadOnThisHost(current.holder)) {
          throw new Held();
        }
        const row = {
          storage_id: storageId,
          holder: `${holder} ${token}`,
          token: Number(bumped.fence),
          expires_at: now + this.#timing.ttlMs,
        };
        await trx
          .insertInto('leases')
          .values(row)
          .onConflict((oc) =>
            oc.column('storage_id').doUpdateSet({
              holder: row.holder,
              token: row.token,
              expires_at: row.expires_at,
            }),
          )
          .execute();
        return Number(bumped.fence);
      });
    } catch (error) {
      if (error instanceof Held) return undefined;
      throw error;
    }
    return this.#grant(storageId, holder, `${holder} ${token}`, fence);
  }

  async holderOf(storageId: number): Promise<LeaseHolder | undefined> {
    const row = await this.#db
      .selectFrom('leases')
      .select(['holder', 'expires_at'])
      .where('storage_id', '=', storageId)
      .executeTakeFirst();
    if (!row || Number(row.expires_at) <= Date.now()) return undefined;
    return { holder: row.holder.split(' ')[0]!, expiresAt: Number(row.expires_at) };
  }

  async close(): Promise<void> {}

  #grant(storageId: number, holder: string, stored: string, fence: number): Lease {
    const ours = { storage_id: storageId, holder: stored, token: fence };
    return grantedLease(
      { storageId, fence, holder },
      this.#timing,
      async () => {
        const r = await this.#db
          .updateTable('leases')
          .set({ expires_at: Date.now() + this.#timing.ttlMs })
          .where('storage_id', '=', ours.storage_id)
          .where('holder', '=', ours.holder)
          .where('token', '=', ours.token)
          .executeTakeFirst();
        return Number(r.numUpdatedRows) === 1;
      },
      () =>
        this.#db
          .deleteFrom('leases')
          .where('storage_id', '=', ours.storage_id)
          .where('holder', '=', ours.holder)
          .where('token', '=', ours.token)
          .execute(),
    );
  }
}
