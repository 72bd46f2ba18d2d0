import type { App } from '../app.js';
import type { StorageRecord } from '../db/repositories/storages.js';
import type { ScanRunner } from '../jobs/scan-runner.js';
import type { AddressPolicy } from '../storage/net/address-policy.js';
import { notFound } from './errors.js';

/** What every route reaches: the app, the scans' runner in this process, the SSRF guard. */
export interface ApiContext {
  app: App;
  /** The embedded worker of `serve` without Redis; in a fleet scans run elsewhere. */
  runner: ScanRunner | undefined;
  /** undefined: no SSRF guard (tests of the API alone). */
  addressPolicy: AddressPolicy | undefined;
}

/**
 * The tenant's storage with this id, or the same 404 as for an id that does not exist: one
 * query with the tenant in its WHERE, so "not yours" and "not there" take the same path.
 */
export async function ownedStorage(
  ctx: ApiContext,
  tenantId: number,
  id: number,
): Promise<StorageRecord> {
  const s = await ctx.app.index.storages.ofTenant(tenantId, id);
  if (!s) throw notFound(`storage ${id}`);
  return s;
}
