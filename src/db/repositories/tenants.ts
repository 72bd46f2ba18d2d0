import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';

export const DEFAULT_TENANT = 'default';

export class TenantRepository {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** The tenant's id, creating it on first use (an upsert: safe when processes race). */
  async ensure(name: string): Promise<number> {
    await this.#db
      .insertInto('tenants')
      .values({ name, created_at: Date.now() })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    const row = await this.#db
      .selectFrom('tenants')
      .select('id')
      .where('name', '=', name)
      .executeTakeFirstOrThrow();
    return Number(row.id);
  }
}
