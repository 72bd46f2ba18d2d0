import { StorageError } from '../storage/errors.js';
import { raceAbort } from '../util/on-abort.js';

/**
 * Settles with `work`, or rejects with CANCELLED as soon as `signal` aborts, whichever is
 * first. A backend that ignores the signal (a hung socket) cannot hold a cancelled scan
 * open: its late answer is dropped.
 */
export function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return raceAbort(work, signal, () => new StorageError('CANCELLED', 'scan stopped'));
}
