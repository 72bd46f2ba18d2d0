import { StorageError } from '../storage/errors.js';

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
    const onAbort = () => reject(new StorageError('CANCELLED', 'scan stopped'));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
