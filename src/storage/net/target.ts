/**
 * The creation-time check: whether a storage's options name a place the address policy
 * refuses, so that the API can answer at once instead of at the first scan. It is a courtesy:
 * a name may resolve elsewhere by the time a scan connects, and the check that holds is the
 * one every connection makes (guard.ts).
 */
import { ForbiddenAddressError } from '../errors.js';
import { splitServiceOptions } from '../limits/options.js';
import { BACKENDS, backendFor, type StorageKind } from '../registry.js';
import type { AddressPolicy } from './address-policy.js';

type Target = { host: string } | { path: string } | undefined;
type OptionsOf<K extends StorageKind> = ReturnType<(typeof BACKENDS)[K]['parseOptions']>;

/** Where each kind connects; a new kind fails to compile until it says. */
const TARGETS: { [K in StorageKind]: (options: OptionsOf<K>) => Target } = {
  ftp: (o) => ({ host: o.host }),
  local: (o) => ({ path: o.root }),
  // In this process's memory: nothing to reach.
  memory: () => undefined,
  sftp: (o) => ({ host: o.host }),
  smb: (o) => ({ host: o.host }),
  webdav: (o) => ({ host: new URL(o.url).hostname }),
  // Without an endpoint the SDK goes to AWS's public hosts.
  s3: (o) => (o.endpoint ? { host: new URL(o.endpoint).hostname } : undefined),
};

/**
 * Throws the ForbiddenAddressError a connection to this storage would meet now: its host is
 * or resolves only to refused addresses, or its local folder is not allowed. Options are
 * raw (as the API got them, the StorageService's own settings may be among them) and are
 * validated first (InvalidConfigError). A name that does not resolve passes: whether it
 * exists is the connect's question, and the connect checks the address again.
 */
export async function checkStorageTarget(
  policy: AddressPolicy,
  kind: string,
  options: unknown,
): Promise<void> {
  const backend = backendFor(kind);
  const parsed = backend.parseOptions(splitServiceOptions(options).backend);
  const target = (TARGETS[kind as StorageKind] as (o: unknown) => Target)(parsed);
  if (!target) return;
  if ('path' in target) return policy.checkLocalPath(target.path);
  try {
    await policy.resolve(target.host);
  } catch (error) {
    if (error instanceof ForbiddenAddressError) throw error;
  }
}
