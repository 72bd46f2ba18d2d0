import type { Selectable } from 'kysely';
import type { StoragesTable } from '../schema.js';

/**
 * A storage as stored. `options` is the stored form: secret options are sealed
 * (`{"$secret": "v1.…"}`, see secrets/cipher.ts) — this repository never opens them; only
 * the catalog does, for the StorageService's lookup.
 */
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
  /** Scan every this many ms; null: no interval. */
  scheduleEveryMs?: number | null;
  /** Scan at the times of this cron expression (UTC); null: none. */
  scheduleCron?: string | null;
  createdAt?: number;
  updatedAt?: number;
}

/**
 * A `storages` row as a record: one mapping for the Kysely repository and SQLite's plain
 * statements (sqlite/bookkeeping.ts), in a module that loads no Kysely.
 */
export function storageFromRow(row: Selectable<StoragesTable>): StorageRecord {
  return {
    id: Number(row.id),
    tenantId: Number(row.tenant_id),
    name: row.name,
    kind: row.kind,
    location: row.location,
    options: JSON.parse(row.options) as unknown,
    version: Number(row.version),
    enabled: Number(row.enabled) === 1,
    maxConcurrency: row.max_concurrency === null ? null : Number(row.max_concurrency),
    scheduleEveryMs: row.schedule_every_ms === null ? null : Number(row.schedule_every_ms),
    scheduleCron: row.schedule_cron,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

/** A row as the secret keeper sees it: every tenant, options as stored. */
export interface StoredOptionsRow {
  id: number;
  tenantId: number;
  name: string;
  kind: string;
  options: unknown;
  /** The options exactly as stored (what `StorageRepository.reseal` compares). */
  text: string;
  sealed: boolean;
}

/** The columns {@link storedOptionsFromRow} reads. */
export type StoredOptionsColumns =
  'id' | 'tenant_id' | 'name' | 'kind' | 'options' | 'secrets_sealed';

/** A `storages` row's options as stored: one mapping for both, as {@link storageFromRow}. */
export function storedOptionsFromRow(
  r: Pick<Selectable<StoragesTable>, StoredOptionsColumns>,
): StoredOptionsRow {
  return {
    id: Number(r.id),
    tenantId: Number(r.tenant_id),
    name: r.name,
    kind: r.kind,
    options: JSON.parse(r.options) as unknown,
    text: r.options,
    sealed: Number(r.secrets_sealed) === 1,
  };
}
