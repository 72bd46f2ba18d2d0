/**
 * basic-ftp, loaded at the first FTP connection instead of with the storage registry: every
 * command that parses a storage loads every backend's module, and basic-ftp pulls Node's
 * `tls`, `net` and streams with it — ~10 ms of each start of the command line for a local
 * scan that never speaks FTP (docs/benchmarks.md, bench:startup). It stays outside the
 * bundle (scripts/bundle.js) and is required from node_modules.
 */
import { createRequire } from 'node:module';
import type * as BasicFtp from 'basic-ftp';

let lib: typeof BasicFtp | undefined;

export function basicFtp(): typeof BasicFtp {
  return (lib ??= createRequire(import.meta.url)('basic-ftp') as typeof BasicFtp);
}

/** basic-ftp's FTPError: none can exist before basic-ftp was loaded. */
export function isFtpError(error: unknown): error is BasicFtp.FTPError {
  return lib !== undefined && error instanceof lib.FTPError;
}
