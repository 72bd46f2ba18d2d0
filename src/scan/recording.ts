import { classifyIndexError, IndexError, toIndexError } from '../db/errors.js';
import type { Methods } from '../db/open.js';
import type { ScanRepository } from '../db/repositories/scans.js';
import { StorageError } from '../storage/errors.js';
import {
  emptyCounters,
  type FinalStatus,
  type ScanErrorSample,
  type ScanResult,
} from './result.js';

/**
 * After a cancel, how long recording the scan's end may take. A database that has not
 * answered by then is not waited for: the user asked to stop, and a frozen server would
 * hold them for a whole statement timeout.
 * @default 1,000 ms
 */
export const RECORD_AFTER_CANCEL_MS = 1_000;

/** What `error` says about a scan that could not run: a storage, index or internal failure. */
export function sampleOf(error: unknown, path = '/'): ScanErrorSample {
  if (error instanceof StorageError) return { path, code: error.code, message: error.message };
  if (classifyIndexError(error) !== undefined) {
    const e = toIndexError(error);
    return { path, code: e.code, message: e.message };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { path, code: 'INTERNAL', message };
}

/** A scan that ended before it could walk anything. */
export function endedEarly(status: FinalStatus, error?: unknown): ScanResult {
  const result: ScanResult = { ...emptyCounters(), status };
  if (error === undefined) return result;
  return { ...result, errors: 1, errorSample: [sampleOf(error)] };
}

/**
 * Writes a scan's end to its history row, and never loses the result: when the database
 * cannot take it, the result says so (an error naming the cause and the row left
 * `running`), and a scan that was not cancelled is failed — its history is wrong until
 * the next run.
 */
export async function recordEnd(
  scans: Methods<ScanRepository>,
  scanId: number,
  result: ScanResult,
  fence?: { storageId: number; fence: number },
): Promise<{ result: ScanResult; recorded: boolean }> {
  const cancelled = result.status === 'cancelled';
  try {
    const writing = scans.finish(scanId, result.status, result, fence);
    await (cancelled ? within(writing, RECORD_AFTER_CANCEL_MS) : writing);
    return { result, recorded: true };
  } catch (error) {
    const e = toIndexError(error);
    const unrecorded: ScanResult = {
      ...result,
      status: cancelled ? 'cancelled' : 'failed',
      errors: result.errors + 1,
      errorSample: [
        ...result.errorSample,
        {
          path: '/',
          code: e.code,
          message: `could not record the end of scan ${scanId}, which stays "running" in the history: ${e.message}`,
        },
      ],
    };
    return { result: unrecorded, recorded: false };
  }
}

/** `work`, or a timeout error after `ms` (the work itself goes on, unawaited). */
function within<T>(work: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      work.catch(() => undefined);
      reject(
        new IndexError(`the index database did not answer within ${ms} ms`, {
          code: 'INDEX_TIMEOUT',
        }),
      );
    }, ms);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
