import { StorageError } from '../storage/errors.js';
import { onAbort } from '../util/on-abort.js';

/**
 * Settles with `work`, or rejects with CANCELLED as soon as `signal` aborts, whichever is
 * first. A backend that ignores the signal (a hung socket) cannot hold a cancelled scan
 * open: its late answer is dropped.
 */
export function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(new StorageError('CANCELLED', 'scan stopped'));
  }
  return new Promise<T>((resolve, reject) => {
    const stop = onAbort(signal, () => reject(new StorageError('CANCELLED', 'scan stopped')));
    work.then(
      (value) => {
        stop();
        resolve(value);
      },
      (error: unknown) => {
        stop();
        reject(error);
      },
    );
  });
}
