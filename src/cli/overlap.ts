import type { App } from '../app.js';
import { containingStorage } from '../catalog/containing.js';
import type { StorageSpec } from '../storage/url.js';
import { UsageError } from './errors.js';
import { printable } from './format.js';

/**
 * `trawl scan <place>` of a place inside a registered storage: refused (exit 1), naming the
 * storage, rather than a second storage indexing the same files. `--new` allows it.
 */
export async function refuseOverlap(app: App, spec: StorageSpec): Promise<void> {
  const holder = containingStorage(await app.catalog.list(app.tenantId), spec);
  if (!holder) return;
  const { name, location } = holder.record;
  throw new UsageError(
    `${printable(spec.location)} is already inside storage ${name} (${printable(location)}, at ${printable(holder.path)}); ` +
      `scan ${name} instead, or pass --new to register an overlapping storage`,
  );
}
