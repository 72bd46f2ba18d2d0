import type { RecordedScanResult } from '../scan/runner.js';
import type { StorageErrorCode } from '../storage/errors.js';
import { redactText } from '../util/redact.js';
import { printable } from './format.js';

/** What the user can do about a storage failure that failed a whole scan, by its code. */
const ADVICE: Partial<Record<StorageErrorCode, string>> = {
  AUTH_FAILED:
    'check the user and password (in the URL, its environment variable, or trawl storages edit)',
  UNAVAILABLE: 'check the host and port, and that the server is up',
  TIMEOUT:
    'the server did not answer in time; timeoutMs and connectTimeoutMs in the URL wait longer',
  NOT_FOUND: 'check the path in the URL',
  PERMISSION_DENIED: 'the user trawl logs in as may not list it',
  INTERNAL: 'this is a bug in trawl: TRAWL_DEBUG=1 shows details worth reporting',
};

/**
 * One line for stderr when the storage failed the scan (a wrong password, a dead host): the
 * cause, then what to do. The summary on stdout lists every error too, but a person reading
 * only the terminal's error stream (or a script's log) must learn why without it.
 * Undefined unless the scan failed. Index failures have their own line (see scan.ts).
 */
export function scanFailureLine(r: RecordedScanResult): string | undefined {
  if (r.status !== 'failed') return undefined;
  const label = r.scanId === null ? 'dry run' : `scan ${r.scanId}`;
  // The root's listing decides a failed scan; any other sample is only a symptom.
  const cause = r.errorSample.find((e) => e.path === '/') ?? r.errorSample[0];
  if (!cause) return `trawl: ${label} failed`;
  const advice = ADVICE[cause.code as StorageErrorCode];
  const where = cause.path === '/' ? '' : ` at ${printable(cause.path)}`;
  return (
    `trawl: ${label} failed${where}: ${printable(redactText(cause.message))} (${cause.code})` +
    (advice ? `; ${advice}` : '')
  );
}
