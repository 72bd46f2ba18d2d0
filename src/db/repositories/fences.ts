import { sql, type Kysely } from 'kysely';
import type { Database } from '../schema.js';

/**
 * Moves a storage's fence on and returns it: what a lease grant does, so that every write of
 * the scan that held the storage before is refused from now on. (A grant from the index's
 * own `leases` table does the same inside its transaction.) With `lockTimeoutMs`
 * (PostgreSQL only) it waits at most that long for the storage row, which every fenced write
 * holds until its commit, and throws {@link FenceBusyError} after.
 */
export async function bumpFence(
  db: Kysely<Database>,
  storageId: number,
  lockTimeoutMs?: number,
): Promise<number> {
  if (lockTimeoutMs === undefined) return bump(db, storageId);
  try {
    return await db.transaction().execute(async (trx) => {
      await sql`SELECT set_config('lock_timeout', ${`${lockTimeoutMs}ms`}, true)`.execute(trx);
      return bump(trx, storageId);
    });
  } catch (error) {
    if ((error as { code?: unknown }).code === LOCK_NOT_AVAILABLE) {
      throw new FenceBusyError(storageId, lockTimeoutMs);
    }
    throw error;
  }
}

const LOCK_NOT_AVAILABLE = '55P03';

/**
 * The fence could not be bumped within the lock timeout: a write of the storage's previous
 * holder keeps its row locked — a worker paused (or cut off) inside a batch, whose session
 * PostgreSQL ends after `idle_in_transaction_session_timeout`. The grant is refused as if
 * the lease were held, instead of waiting out a statement timeout and failing its job.
 */
export class FenceBusyError extends Error {
  constructor(storageId: number, waitedMs: number) {
    super(
      `storage ${storageId}'s row stayed locked by a write of its previous holder for ${waitedMs} ms`,
    );
    this.name = 'FenceBusyError';
  }
}

async function bump(db: Kysely<Database>, storageId: number): Promise<number> {
  const row = await db
    .updateTable('storages')
    .set({ fence: sql`fence + 1` })
    .where('id', '=', storageId)
    .returning('fence')
    .executeTakeFirst();
  if (!row) throw new Error(`storage ${storageId} does not exist`);
  return Number(row.fence);
}
