import type { Kysely, Selectable } from 'kysely';
import type { Database, StoragesTable } from '../schema.js';

export interface StorageRecord {
  id: number;
  tenantId: number;
  name: string;
  kind: string;
  location: string;
  options: unknown;
  version: number;
  enabled: boolean;
  maxConcurrency: number | null;
}

function toRecord(row: Selectable<StoragesTable>): StorageRecord {
  return {
    id: Number(row.id),
    tenantId: Number(row.tenant_id),
    name: row.name,
    kind: row.kind,
    location: row.location,
    options: JSON.parse(row.options) as unknown,
    version: row.version,
    enabled: row.enabled === 1,
    maxConcurrency: row.max_concurrency,
  };
}

export interface StorageInput {
  tenantId: number;
  name: string;
  kind: string;
  location: string;
  options: unknown;
}

export class StorageRepository {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async get(id: number): Promise<StorageRecord | undefined> {
    const row = await this.#db
      .selectFrom('storages')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toRecord(row);
  }

  async findByLocation(
    tenantId: number,
    kind: string,
    location: string,
  ): Promise<StorageRecord | undefined> {
    const row = await this.#db
      .selectFrom('storages')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('kind', '=', kind)
      .where('location', '=', location)
      .executeTakeFirst();
    return row && toRecord(row);
  }

  /**
   * The storage at this location, created on first use. When the options differ from
   * what is stored, they are replaced and the version bumped, so live clients reconnect.
   */
  async upsert(input: StorageInput): Promise<StorageRecord> {
    const now = Date.now();
    const options = JSON.stringify(input.options);
    await this.#db
      .insertInto('storages')
      .values({
        tenant_id: input.tenantId,
        name: input.name,
        kind: input.kind,
        location: input.location,
        options,
        version: 1,
        enabled: 1,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) =>
        oc
          .columns(['tenant_id', 'kind', 'location'])
          .doUpdateSet((eb) => ({
            options: eb.ref('excluded.options'),
            version: eb('storages.version', '+', 1),
            updated_at: now,
          }))
          .where('storages.options', '<>', options),
      )
      .execute();
    const found = await this.findByLocation(input.tenantId, input.kind, input.location);
    if (!found) throw new Error(`storage at ${input.location} vanished right after it was written`);
    return found;
  }

  /**
   * Removes a storage with its entries and scan history, in one transaction. Entries go
   * first and explicitly: they carry no foreign key (see the initial migration).
   */
  async remove(id: number): Promise<boolean> {
    return this.#db.transaction().execute(async (tx) => {
      await tx.deleteFrom('entries').where('storage_id', '=', id).execute();
      const done = await tx.deleteFrom('storages').where('id', '=', id).executeTakeFirst();
      return Number(done.numDeletedRows) > 0;
    });
  }

  async list(tenantId: number): Promise<StorageRecord[]> {
    const rows = await this.#db
      .selectFrom('storages')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .orderBy('id')
      .execute();
    return rows.map(toRecord);
  }
}
