import { AsyncLocalStorage } from 'node:async_hooks';
import { cancelledIndexError, toIndexError } from './errors.js';

/**
 * The signal that cancels the index calls being made in this async context. Set by
 * {@link guard} and {@link underSignal}; read by the PostgreSQL client at each statement and
 * connect. It travels with the async context instead of through every repository method, so
 * the repositories' contracts stay as they are and a statement deep in a transaction still
 * hears it.
 */
const current = new AsyncLocalStorage<AbortSignal | undefined>();

/**
 * Only the PostgreSQL client reads the signal ({@link currentSignal}); SQLite's calls are
 * synchronous. On Node 20 the first `AsyncLocalStorage.run` installs promise hooks on every
 * promise of the process, which cost a local scan into SQLite 0.25–0.35 s at 200,000 files
 * (profiled, docs/benchmarks.md): so the context is only carried once a PostgreSQL index is
 * opened, before any of its calls.
 */
let propagating = false;

/** The cancellation of the index calls made here, if any. */
export function currentSignal(): AbortSignal | undefined {
  return current.getStore();
}

/**
 * Runs `work` with `signal` cancelling the index calls it makes. On PostgreSQL a statement in
 * flight when the signal aborts gets a short grace to finish (a healthy batch commits in
 * milliseconds, and its counts stay exact), then its connection is closed and the call
 * rejects with CANCELLED: the server rolls back what was not committed, and nobody waits on
 * a socket that may be dead. SQLite calls are synchronous and bounded by the busy timeout.
 */
export function underSignal<T>(signal: AbortSignal | undefined, work: () => T): T {
  return propagating ? current.run(signal, work) : work();
}

/** Makes {@link underSignal} carry its signal from now on (called when PostgreSQL is opened). */
export function propagateSignals(): void {
  propagating = true;
}

type Method = (...args: unknown[]) => unknown;

/**
 * A repository as a scan uses it: every call runs {@link underSignal} `signal` (a call made
 * after it aborted rejects at once), and every failure is an IndexError with a code
 * (INDEX_LOCKED, INDEX_DISK_FULL, INDEX_CONNECTION_LOST…, CANCELLED). Works for any
 * repository, methods added later included: promises, async iterables and plain values
 * are handled by what they are, not by name.
 */
export function guard<T extends object>(repository: T, signal: AbortSignal | undefined): T {
  return new Proxy(repository, {
    get(target, key) {
      const value = Reflect.get(target, key, target) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (signal?.aborted) return Promise.reject(cancelledIndexError());
        let result: unknown;
        try {
          result = underSignal(signal, () => (value as Method).apply(target, args));
        } catch (error) {
          throw toIndexError(error);
        }
        if (result instanceof Promise)
          return result.catch((error: unknown) => {
            throw toIndexError(error);
          });
        if (isAsyncIterable(result)) return guardedIterable(result, signal);
        return result;
      };
    },
  });
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function'
  );
}

/** An async iterable whose every step runs under `signal`: a generator runs in its caller's context. */
async function* guardedIterable<V>(
  iterable: AsyncIterable<V>,
  signal: AbortSignal | undefined,
): AsyncIterable<V> {
  const iterator = iterable[Symbol.asyncIterator]();
  try {
    for (;;) {
      if (signal?.aborted) throw cancelledIndexError();
      const step = await underSignal(signal, () => iterator.next());
      if (step.done) return;
      yield step.value;
    }
  } catch (error) {
    throw toIndexError(error);
  } finally {
    await iterator.return?.();
  }
}
