import type { ColumnType, Generated } from 'kysely';

/** A counter column: defaults to 0 on insert. */
type Counter = ColumnType<number, number | undefined, number>;

/**
 * Table types shared by both dialects. Booleans are 0/1 integers and times are epoch
 * milliseconds in both, so rows read the same whatever the database.
 */
export interface Database {
  tenants: TenantsTable;
  storages: StoragesTable;
  entries: EntriesTable;
  scans: ScansTable;
  leases: LeasesTable;
  change_events: ChangeEventsTable;
  api_tokens: ApiTokensTable;
}

export interface TenantsTable {
  id: Generated<number>;
  name: string;
  created_at: number;
}

export interface StoragesTable {
  id: Generated<number>;
  tenant_id: number;
  name: string;
  kind: string;
  /** Secret-free name of the place, unique per tenant and kind. */
  location: string;
  /** JSON of the raw options. */
  options: string;
  version: number;
  enabled: number;
  max_concurrency: number | null;
  created_at: number;
  updated_at: number;
  /** Scan every this many ms (003); null: no interval schedule. */
  schedule_every_ms: number | null;
  /** Scan at the times of this 5-field cron expression, UTC (003); null: none. */
  schedule_cron: string | null;
  /** 1 once the row's secret options are sealed; 0 for rows written before 003. */
  secrets_sealed: ColumnType<number, number | undefined, number>;
  /** Bumped at every lease grant; writes of a scan carry the value they were granted. */
  fence: Generated<number>;
}

export interface EntriesTable {
  id: Generated<number>;
  tenant_id: number;
  storage_id: number;
  path: string;
  /**
   * SQLite only (a computed column since 007); PostgreSQL computes it in each statement
   * (queries/parent.ts, migration 018).
   */
  parent: string;
  /**
   * SQLite only (019): the id of the directory's row; `-storage_id` for the root's children
   * (the root has no row); null when the directory had no row. PostgreSQL has no such column.
   */
  parent_id?: number | null;
  /**
   * SQLite computes it from `path` and the stored `name_bytes` since 019 (a write names
   * `name_bytes`); PostgreSQL stores it.
   */
  name: string;
  is_dir: number;
  size: number;
  mtime: number;
  etag: string | null;
  media_kind: string | null;
  /**
   * 021, SQLite only: on a directory's row, the digest of the listing its child rows were reconciled
   * against (src/scan/listing-digest.ts); null: compare them in full at the next scan.
   */
  listing_digest?: string | null;
}

export interface ScansTable {
  id: Generated<number>;
  tenant_id: number;
  storage_id: number;
  status: string;
  started_at: number;
  finished_at: number | null;
  dirs: Counter;
  files: Counter;
  media_files: Counter;
  bytes: Counter;
  created: Counter;
  updated: Counter;
  deleted: Counter;
  unchanged: Counter;
  skipped: Counter;
  errors: Counter;
  invalid_entries: Counter;
  /** JSON array of {path, code, message}. */
  error_sample: ColumnType<string, string | undefined, string>;
  retries: Counter;
  rate_limit_waits: Counter;
  duration_ms: Counter;
  /** JSON of the scan options. */
  options: string;
  worker_id: string | null;
  job_id: string | null;
  /** The storage's fence the scan was granted. */
  fence: number | null;
  heartbeat_at: number | null;
  /** JSON of the running scan's latest progress (005). */
  progress: ColumnType<string | null, string | null | undefined, string | null>;
  /** 1 once a cancel was asked through the API (005). */
  cancel_requested: ColumnType<number, number | undefined, number>;
}

export interface ChangeEventsTable {
  id: Generated<number>;
  tenant_id: number;
  storage_id: number;
  scan_id: number | null;
  /** JSON arrays of entry ids. */
  created: string;
  updated: string;
  deleted: string;
  created_at: number;
}

export interface LeasesTable {
  storage_id: number;
  holder: string;
  token: number;
  expires_at: number;
}

export interface ApiTokensTable {
  id: Generated<number>;
  tenant_id: number;
  name: string;
  /** SHA-256 of the token, hex. */
  hash: string;
  created_at: number;
  expires_at: number | null;
  last_used_at: number | null;
}
