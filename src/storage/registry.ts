import { InvalidConfigError } from './errors.js';
import { ftpBackend } from './backends/ftp-backend.js';
import { localBackend } from './backends/local.js';
import { memoryBackend } from './backends/memory.js';
import { sftpBackend } from './backends/sftp-backend.js';
import { smbBackend } from './backends/smb-backend.js';
import { s3Backend } from './backends/s3-backend.js';
import { webdavBackend } from './backends/webdav-backend.js';
import type { BackendDeps, BackendInfo, StorageClient } from './types.js';

/**
 * Every kind of storage trawl knows. Adding a backend is one file plus one line here; a remote
 * kind is its definition (`<kind>-backend.ts`), whose client module loads at the first
 * connect (backends/deferred.ts): every command that parses a storage loads this registry.
 */
export const BACKENDS = {
  ftp: ftpBackend,
  local: localBackend,
  memory: memoryBackend,
  sftp: sftpBackend,
  smb: smbBackend,
  webdav: webdavBackend,
  s3: s3Backend,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each entry has its own options type
} satisfies Record<string, BackendInfo<any>>;

export type StorageKind = keyof typeof BACKENDS;

export function isStorageKind(kind: string): kind is StorageKind {
  return Object.hasOwn(BACKENDS, kind);
}

export function backendFor(kind: string): BackendInfo<unknown> {
  if (!isStorageKind(kind)) {
    throw new InvalidConfigError(
      `unknown storage kind ${JSON.stringify(kind)}; expected one of ${Object.keys(BACKENDS).join(', ')}`,
    );
  }
  return BACKENDS[kind] as BackendInfo<unknown>;
}

/** Validated options, then an unconnected client. */
export function createClient(kind: string, rawOptions: unknown, deps: BackendDeps): StorageClient {
  const backend = backendFor(kind);
  return backend.create(backend.parseOptions(rawOptions), deps);
}
