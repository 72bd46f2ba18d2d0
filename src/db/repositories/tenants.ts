import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';

export const DEFAULT_TENANT = 'default';

export interface TenantRecord {
  id: number;
  name: string;
  createdAt: number;
}

export class TenantRepository {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** The tenant's id, creating it on first use (an upsert: safe when processes race). */
  async ensure(name: string): Promise<number> {
    const id = () =>
      this.#db.selectFrom('tenants').select('id').where('name', '=', name).executeTakeFirst();
    // Read first: a known tenant (every open but an index's first) takes no write.
    const known = await id();
    if (known) return Number(known.id);
    await this.#db
      .insertInto('tenants')
      .values({ name, created_at: Date.now() })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    const row = await id();
    if (!row) throw new Error('no result'); // as executeTakeFirstOrThrow
    return Number(row.id);
  }

  /** A new tenant; undefined when the name is taken. */
  async create(name: string): Promise<TenantRecord | undefined> {
    const now = Date.now();
    const row = await this.#db
      .insertInto('tenants')
      .values({ name, created_at: now })
      .onConflict((oc) => oc.column('name').doNothing())
      .returning('id')
      .executeTakeFirst();
    return row && { id: Number(row.id), name, createdAt: now };
  }

  async byName(name: string): Promise<TenantRecord | undefined> {
    const row = await this.#db
      .selectFrom('tenants')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    return row && { id: Number(row.id), name: row.name, createdAt: Number(row.created_at) };
  }

  async list(): Promise<TenantRecord[]> {
    const rows = await this.#db.selectFrom('tenants').selectAll().orderBy('id').execute();
    return rows.map((r) => ({ id: Number(r.id), name: r.name, createdAt: Number(r.created_at) }));
  }
}
