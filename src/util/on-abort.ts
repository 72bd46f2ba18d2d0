/**
 * One `abort` listener per signal, however many waits share it. A scan's signal is awaited
 * several times per directory (a slot, each page, each lister step); an `EventTarget`
 * listener added and removed for each of those cost ~0.1–0.2 s of main-thread time on a
 * 200,000-file local scan (`addEventListener` and its `Listener` objects, profiled), a Set
 * entry costs a fraction of that.
 */
const watched = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Calls `callback` once when `signal` aborts; returns what stops that. The caller checks
 * `signal.aborted` first: on a signal already aborted the callback is never called.
 * Callbacks run in the order they were added, as listeners do.
 */
export function onAbort(signal: AbortSignal, callback: () => void): () => void {
  let callbacks = watched.get(signal);
  if (!callbacks) {
    const set = new Set<() => void>();
    callbacks = set;
    watched.set(signal, set);
    signal.addEventListener(
      'abort',
      () => {
        const due = [...set];
        set.clear();
        for (const fn of due) fn();
      },
      { once: true },
    );
  }
  const own = callbacks;
  own.add(callback);
  return () => {
    own.delete(callback);
  };
}

/**
 * Settles with `work`, or rejects with `cancelled()` as soon as `signal` aborts, whichever is
 * first: work that does not heed the signal (a hung socket) cannot hold up a cancelled
 * caller. Its late result is dropped, its late error swallowed.
 */
export function raceAbort<T>(
  work: Promise<T>,
  signal: AbortSignal,
  cancelled: () => Error,
): Promise<T> {
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(cancelled());
  }
  return new Promise<T>((resolve, reject) => {
    const stop = onAbort(signal, () => reject(cancelled()));
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
