import { sql, type Kysely } from 'kysely';
import type { Database } from '../schema.js';

/**
 * Moves a storage's fence on and returns it: what a lease grant does, so that every write of
 * the scan that held the storage before is refused from now on. (A grant from the index's
 * own `leases` table does the same inside its transaction.)
 */
export async function bumpFence(db: Kysely<Database>, storageId: number): Promise<number> {
  const row = await db
    .updateTable('storages')
    .set({ fence: sql`fence + 1` })
    .where('id', '=', storageId)
    .returning('fence')
    .executeTakeFirst();
  if (!row) throw new Error(`storage ${storageId} does not exist`);
  return Number(row.fence);
}
