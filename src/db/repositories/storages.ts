import { sql, type Kysely, type Updateable } from 'kysely';
import type { Dialect } from '../dialect.js';
import type { Database, StoragesTable } from '../schema.js';
import {
  storageFromRow as toRecord,
  storedOptionsFromRow,
  type StorageRecord,
  type StoredOptionsRow,
} from './storage-row.js';

export type { StoredOptionsRow };

export type { StorageRecord };

export interface StorageInput {
  tenantId: number;
  name: string;
  kind: string;
  location: string;
  /** The stored form (secrets sealed by the caller). */
  options: unknown;
  maxConcurrency?: number | null;
  scheduleEveryMs?: number | null;
  scheduleCron?: string | null;
  /** The options hold no secret in plain text. @default true */
  sealed?: boolean;
}

/** What {@link StorageRepository.update} may change; options or location bump the version. */
export interface StoragePatch {
  name?: string;
  location?: string;
  options?: unknown;
  enabled?: boolean;
  maxConcurrency?: number | null;
  scheduleEveryMs?: number | null;
  scheduleCron?: string | null;
}

/** Storages of every tenant, keyed by id. A tenant's are found by (tenant, name) or location. */
export class StorageRepository {
  readonly #db: Kysely<Database>;
  readonly #dialect: Dialect | undefined;

  constructor(db: Kysely<Database>, dialect?: Dialect) {
    this.#db = db;
    this.#dialect = dialect;
  }

  async get(id: number): Promise<StorageRecord | undefined> {
    const row = await this.#db
      .selectFrom('storages')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toRecord(row);
  }

  /** The tenant's storage with this id; undefined when there is none, or it is another's. */
  async ofTenant(tenantId: number, id: number): Promise<StorageRecord | undefined> {
    const row = await this.#db
      .selectFrom('storages')
      .selectAll()
      .where('id', '=', id)
      .where('tenant_id', '=', tenantId)
      .executeTakeFirst();
    return row && toRecord(row);
  }

  async getByName(tenantId: number, name: string): Promise<StorageRecord | undefined> {
    const row = await this.#db
      .selectFrom('storages')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('name', '=', name)
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

  /** Inserts a new storage. A taken name or location fails on the unique indexes. */
  async insert(input: StorageInput): Promise<StorageRecord> {
    const now = Date.now();
    const row = await this.#db
      .insertInto('storages')
      .values({
        tenant_id: input.tenantId,
        name: input.name,
        kind: input.kind,
        location: input.location,
        options: JSON.stringify(input.options),
        version: 1,
        enabled: 1,
        max_concurrency: input.maxConcurrency ?? null,
        schedule_every_ms: input.scheduleEveryMs ?? null,
        schedule_cron: input.scheduleCron ?? null,
        secrets_sealed: input.sealed === false ? 0 : 1,
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toRecord(row);
  }

  /**
   * The storage at this location, created on first use. When the options differ from
   * what is stored, they are replaced and the version bumped, so live clients reconnect.
   * `options` is written as given: the caller seals secrets first.
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
        secrets_sealed: input.sealed === false ? 0 : 1,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) =>
        oc
          .columns(['tenant_id', 'kind', 'location'])
          .doUpdateSet((eb) => ({
            options: eb.ref('excluded.options'),
            secrets_sealed: eb.ref('excluded.secrets_sealed'),
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
   * Changes a storage. A change of options, location, enabled or max concurrency bumps its
   * version (a live client of the old one must not be reused); a rename or a schedule does
   * not. `expectVersion` makes it a compare-and-set: undefined when someone else changed it
   * meanwhile.
   */
  async update(
    id: number,
    patch: StoragePatch,
    expectVersion?: number,
  ): Promise<StorageRecord | undefined> {
    const set: Updateable<StoragesTable> = { updated_at: Date.now() };
    if (patch.name !== undefined) set.name = patch.name;
    if (patch.location !== undefined) set.location = patch.location;
    if (patch.options !== undefined) {
      set.options = JSON.stringify(patch.options);
      set.secrets_sealed = 1;
    }
    if (patch.enabled !== undefined) set.enabled = patch.enabled ? 1 : 0;
    if (patch.maxConcurrency !== undefined) set.max_concurrency = patch.maxConcurrency;
    if (patch.scheduleEveryMs !== undefined) set.schedule_every_ms = patch.scheduleEveryMs;
    if (patch.scheduleCron !== undefined) set.schedule_cron = patch.scheduleCron;
    const bump =
      patch.options !== undefined ||
      patch.location !== undefined ||
      patch.enabled !== undefined ||
      patch.maxConcurrency !== undefined;
    const row = await this.#db
      .updateTable('storages')
      .set((eb) => (bump ? { ...set, version: eb('version', '+', 1) } : set))
      .where('id', '=', id)
      .$if(expectVersion !== undefined, (q) => q.where('version', '=', expectVersion!))
      .returningAll()
      .executeTakeFirst();
    return row && toRecord(row);
  }

  /**
   * Removes a storage with its entries and scan history, in one transaction. Entries go
   * first and explicitly: they carry no foreign key (see the initial migration); scans go
   * by their foreign key's cascade, and with them the schedule (columns of the row).
   */
  async remove(id: number): Promise<boolean> {
    return this.#db.transaction().execute(async (tx) => {
      await tx.deleteFrom('entries').where('storage_id', '=', id).execute();
      await tx.deleteFrom('scans').where('storage_id', '=', id).execute();
      // A scan still running under this lease finds the storage gone at its next (fenced)
      // write and stops; its lease row goes with the storage.
      await tx.deleteFrom('leases').where('storage_id', '=', id).execute();
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

  /** Every name the tenant uses (to find a free one); `db`: inside a transaction. */
  async names(tenantId: number, db: Kysely<Database> = this.#db): Promise<Set<string>> {
    const rows = await db
      .selectFrom('storages')
      .select('name')
      .where('tenant_id', '=', tenantId)
      .execute();
    return new Set(rows.map((r) => r.name));
  }

  /** The storage's fence (moved on by every lease grant); undefined when it is gone. */
  async fenceOf(id: number): Promise<number | undefined> {
    const row = await this.#db
      .selectFrom('storages')
      .select('fence')
      .where('id', '=', id)
      .executeTakeFirst();
    return row === undefined ? undefined : Number(row.fence);
  }

  /** Index entries of one storage. */
  async countEntries(storageId: number): Promise<number> {
    const row = await this.#db
      .selectFrom('entries')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('storage_id', '=', storageId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /**
   * Every storage of every tenant with its stored options — or, with `unsealedOnly`, those
   * written before secrets were sealed. For the secret keeper only (sealing, rotation).
   */
  async storedOptions(
    db: Kysely<Database> = this.#db,
    unsealedOnly = false,
  ): Promise<StoredOptionsRow[]> {
    const rows = await db
      .selectFrom('storages')
      .select(['id', 'tenant_id', 'name', 'kind', 'options', 'secrets_sealed'])
      .$if(unsealedOnly, (q) => q.where('secrets_sealed', '=', 0))
      .orderBy('id')
      .execute();
    return rows.map(storedOptionsFromRow);
  }

  /**
   * Writes re-sealed options (same secrets, other ciphertext) and marks the row sealed,
   * without bumping the version: what a client connects with does not change. `name`
   * renames rows whose old name is not a valid one. Only when the row still holds `before`
   * (the stored text): a concurrent change wins, and false says so.
   */
  async reseal(
    db: Kysely<Database>,
    id: number,
    before: string,
    after: unknown,
    name?: string,
  ): Promise<boolean> {
    const done = await db
      .updateTable('storages')
      .set({
        options: JSON.stringify(after),
        secrets_sealed: 1,
        ...(name !== undefined ? { name } : {}),
      })
      .where('id', '=', id)
      .where('options', '=', before)
      .executeTakeFirst();
    return Number(done.numUpdatedRows) > 0;
  }

  /**
   * Fails as any write would (read-only SQLite file, a role that may only SELECT) while
   * writing nothing: for a change that must not start outside the index (a new key in the
   * key file) unless the index can take it.
   */
  async proveWritable(db: Kysely<Database>): Promise<void> {
    await sql`UPDATE storages SET id = id WHERE 1 = 0`.execute(db);
  }

  /**
   * Runs `work` in one transaction that rewrites secrets (sealing, rotation). On SQLite the
   * text a rewritten row held would stay readable in the freed space of its page: with
   * `secure_delete` on, SQLite zeroes it, and a checkpoint moves the clean pages into the
   * database file and empties the WAL. (PostgreSQL keeps an old row version until VACUUM:
   * docs/secrets.md.)
   */
  async rewriteSecrets<T>(work: (db: Kysely<Database>) => Promise<T>): Promise<T> {
    if (this.#dialect !== 'sqlite') return this.#db.transaction().execute(work);
    await sql`PRAGMA secure_delete = ON`.execute(this.#db);
    try {
      return await this.#db.transaction().execute(work);
    } finally {
      await sql`PRAGMA secure_delete = OFF`.execute(this.#db);
      await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(this.#db).catch(() => undefined);
    }
  }
}
