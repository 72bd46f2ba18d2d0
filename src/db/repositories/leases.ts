import { sql, type Kysely } from 'kysely';
import type { LeaseRow, LeaseRows } from '../bookkeeping.js';
import type { Database } from '../schema.js';

/** Thrown inside the grant's transaction to undo its fence bump when the lease is held. */
class Held extends Error {}

/** The `leases` table through the query builder (both dialects): {@link LeaseRows}. */
export class LeaseRepository implements LeaseRows {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async grant(
    storageId: number,
    stored: string,
    expiresAt: number,
    free: (held: LeaseRow) => boolean,
  ): Promise<number | undefined> {
    try {
      return await this.#db.transaction().execute(async (trx) => {
        const bumped = await trx
          .updateTable('storages')
          .set({ fence: sql`fence + 1` })
          .where('id', '=', storageId)
          .returning('fence')
          .executeTakeFirst();
        if (!bumped) throw new Error(`storage ${storageId} does not exist`);
        const current = await trx
          .selectFrom('leases')
          .select(['holder', 'expires_at'])
          .where('storage_id', '=', storageId)
          .executeTakeFirst();
        if (current && !free({ holder: current.holder, expiresAt: Number(current.expires_at) })) {
          throw new Held();
        }
        const row = {
          storage_id: storageId,
          holder: stored,
          token: Number(bumped.fence),
          expires_at: expiresAt,
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
  }

  async renew(
    storageId: number,
    stored: string,
    fence: number,
    expiresAt: number,
  ): Promise<boolean> {
    const r = await this.#db
      .updateTable('leases')
      .set({ expires_at: expiresAt })
      .where('storage_id', '=', storageId)
      .where('holder', '=', stored)
      .where('token', '=', fence)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async release(storageId: number, stored: string, fence: number): Promise<void> {
    await this.#db
      .deleteFrom('leases')
      .where('storage_id', '=', storageId)
      .where('holder', '=', stored)
      .where('token', '=', fence)
      .execute();
  }

  async held(storageId: number): Promise<LeaseRow | undefined> {
    const row = await this.#db
      .selectFrom('leases')
      .select(['holder', 'expires_at'])
      .where('storage_id', '=', storageId)
      .executeTakeFirst();
    return row && { holder: row.holder, expiresAt: Number(row.expires_at) };
  }
}
