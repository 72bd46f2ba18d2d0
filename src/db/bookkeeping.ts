import type { ScanRepository } from './repositories/scans.js';
import type { StorageRepository, StoredOptionsRow } from './repositories/storages.js';
import type { TenantRepository } from './repositories/tenants.js';

/** A storage's lease as its row holds it. */
export interface LeaseRow {
  /** `role@host:pid token`, as the grant stored it. */
  holder: string;
  expiresAt: number;
}

/**
 * The `leases` table (embedded mode: one scan per storage across the processes sharing an
 * index). The store's logic — who counts as gone, the timing — is jobs/db-lease.ts's.
 */
export interface LeaseRows {
  /**
   * In one transaction: moves the storage's fence on, then takes the lease for `stored`
   * until `expiresAt` when no row holds it or `free(row)` says the row's holder is gone.
   * Returns the new fence; undefined when held (the fence bump undone). Throws when the
   * storage does not exist.
   */
  grant(
    storageId: number,
    stored: string,
    expiresAt: number,
    free: (held: LeaseRow) => boolean,
  ): Promise<number | undefined>;
  /** Moves the lease's expiry on while `stored` and `fence` still hold it; false when not. */
  renew(storageId: number, stored: string, fence: number, expiresAt: number): Promise<boolean>;
  /** Deletes the lease if `stored` and `fence` still hold it. */
  release(storageId: number, stored: string, fence: number): Promise<void>;
  /** The lease's row, expired or not; undefined when there is none. */
  held(storageId: number): Promise<LeaseRow | undefined>;
}

/**
 * What a scan of a storage reads and writes beside its entries — the tenant, the storage's
 * row, its lease and fence, the scan's row — with the repositories' own contracts. SQLite
 * keeps it as plain prepared statements (sqlite/bookkeeping.ts), so that a local scan does
 * not load the query builder (bench:startup); every other call goes to the repositories.
 */
export interface Bookkeeping {
  tenants: Pick<TenantRepository, 'ensure' | 'byName'>;
  storages: Pick<
    StorageRepository,
    'get' | 'getByName' | 'findByLocation' | 'list' | 'insert' | 'fenceOf'
  > & {
    /** {@link StorageRepository.names} outside a transaction. */
    names(tenantId: number): Promise<Set<string>>;
    /** {@link StorageRepository.storedOptions} outside a transaction. */
    storedOptions(unsealedOnly: boolean): Promise<StoredOptionsRow[]>;
  };
  scans: Pick<ScanRepository, 'start' | 'heartbeat' | 'writeProgress' | 'finish'>;
  leases: LeaseRows;
}
