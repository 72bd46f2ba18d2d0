import pg from 'pg';
import { cancelledIndexError, IndexError } from '../errors.js';
import { currentSignal } from '../guard.js';

/** What every client of one pool shares: its limits, and the set of clients alive. */
export interface ClientLimits {
  /**
   * A statement with no answer for this long means the connection is dead or frozen: it is
   * closed, and every statement on it rejects with INDEX_TIMEOUT. 0 turns it off.
   */
  queryTimeoutMs: number;
  /** How long a statement in flight may finish after the caller's signal aborts. */
  cancelGraceMs: number;
  /** Every client of the pool that is not yet closed, so that a close can cut them. */
  live: Set<TrawlClient>;
}

/** `pg.PoolConfig` with the limits its clients read (pg-pool hands its config to each client). */
export type TrawlPoolConfig = pg.PoolConfig & { trawl: ClientLimits };

type Callback = (error: Error | null, result?: unknown) => void;

/**
 * The `pg.Client` of trawl's pools (pg-pool's documented `Client` option). What it adds:
 *
 * - A listener for 'error' for the client's whole life. `pg` emits 'error' when the socket
 *   of a connection dies; pg-pool listens only while a client is idle, and an 'error' with
 *   no listener kills the process (`Unhandled 'error' event … Connection terminated
 *   unexpectedly`). The statement in flight gets the error anyway, and a client that had one
 *   is not queryable, so the pool discards it when it comes back.
 * - A watchdog per statement ({@link ClientLimits.queryTimeoutMs}) that closes the socket
 *   when no answer comes, so the error reaches every caller and the connection is never
 *   reused. pg's own `query_timeout` fails the caller but leaves the client busy with the
 *   lost statement, and the pool hands it out again.
 * - Cancellation by the signal of the calling context ({@link currentSignal}).
 */
export class TrawlClient extends pg.Client {
  readonly #limits: ClientLimits;
  /** Statements sent and not yet answered. */
  #inFlight = 0;

  constructor(config: TrawlPoolConfig) {
    super(config);
    this.#limits = config.trawl;
    this.#limits.live.add(this);
    this.on('error', () => undefined);
    this.on('end', () => this.#limits.live.delete(this));
  }

  /** Closes the socket at once; every statement on it rejects with `error`. */
  kill(error: Error): void {
    const stream = this.connection.stream;
    if (!stream.destroyed) stream.destroy(error);
  }

  // pg-pool connects with a callback; the promise form is for direct use.
  override connect(): Promise<pg.Client>;
  override connect(callback: (error: Error) => void): void;
  override connect(callback?: (error: Error) => void): Promise<pg.Client> | void {
    const signal = currentSignal();
    if (signal?.aborted) {
      const error = cancelledIndexError('connect to the index database');
      if (!callback) return Promise.reject(error);
      process.nextTick(() => callback(error));
      return;
    }
    // A connect sends nothing worth finishing: on abort, stop at once.
    const onAbort = () => this.kill(cancelledIndexError('connect to the index database'));
    signal?.addEventListener('abort', onAbort, { once: true });
    const stop = () => signal?.removeEventListener('abort', onAbort);
    if (callback) {
      super.connect((error: Error) => {
        stop();
        callback(error);
      });
      return;
    }
    return super.connect().finally(stop);
  }

  // Every statement passes here: pg-pool's query (callback), Kysely's (promise), and COPY
  // (a Submittable). The overloads are pg's; the arguments are passed on unchanged.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override query(...args: any[]): any {
    const [config, values, callback] = args as [unknown, unknown, unknown];
    const watch = this.#watch();
    const { done } = watch;
    try {
      return this.#send(config, values, callback, watch);
    } catch (error) {
      done(); // refused before it was sent (a null query): nothing to watch
      throw error;
    }
  }

  #send(config: unknown, values: unknown, callback: unknown, watch: Watch): unknown {
    const { done } = watch;
    if (typeof (config as pg.Submittable | null)?.submit === 'function') {
      settleHooks(config as pg.Submittable, done);
      (config as Partial<Paced>).paced?.(watch);
      return super.query(config as pg.Submittable);
    }
    const cb = (typeof values === 'function' ? values : callback) as Callback | undefined;
    const vals = typeof values === 'function' ? undefined : values;
    // The callback form of pg's own query, whatever form the caller used.
    const send = super.query.bind(this) as (text: unknown, values: unknown, cb: Callback) => void;
    if (cb) {
      send(config, vals, (error, result) => {
        done();
        cb(error, result);
      });
      return undefined;
    }
    return new Promise((resolve, reject) => {
      send(config, vals, (error, result) => {
        done();
        if (error) reject(error);
        else resolve(result);
      });
    });
  }

  /** Arms the statement's watchdog and cancellation; `done` disarms both. */
  #watch(): Watch {
    const { queryTimeoutMs, cancelGraceMs } = this.#limits;
    const signal = currentSignal();
    let watchdog: NodeJS.Timeout | undefined;
    let grace: NodeJS.Timeout | undefined;
    let settled = false;
    this.#inFlight++;
    const arm = () => {
      if (queryTimeoutMs <= 0 || settled) return;
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        const silent = new IndexError(
          `the index database did not answer within ${queryTimeoutMs} ms (query_timeout)`,
          { code: 'INDEX_TIMEOUT' },
        );
        this.kill(silent);
        // The idle connections lead to the same silent server: the next statement (the
        // scan's row, say) would wait out the whole timeout again on one of them. A fresh
        // connection fails within the connect timeout instead, or works.
        for (const other of this.#limits.live) if (other.#inFlight === 0) other.kill(silent);
      }, queryTimeoutMs);
    };
    arm();
    const onAbort = () => {
      grace = setTimeout(() => this.kill(cancelledIndexError()), cancelGraceMs);
    };
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    return {
      done: () => {
        if (settled) return;
        settled = true;
        this.#inFlight--;
        clearTimeout(watchdog);
        clearTimeout(grace);
        signal?.removeEventListener('abort', onAbort);
      },
      pause: () => clearTimeout(watchdog),
      resume: arm,
    };
  }
}

/**
 * A statement's watchdog: `done` when it is answered; `pause` while its caller, not the
 * server, holds it up (a COPY TO whose reader stops reading), `resume` (the wait starts anew)
 * when the caller reads again.
 */
export interface Watch {
  done(): void;
  pause(): void;
  resume(): void;
}

/**
 * A Submittable that streams, and whose reader may stop reading a while (`trawl find … -0 |
 * xargs -0 slow-command`): it is handed the statement's {@link Watch} when sent, so that a
 * pause it makes is not taken for a server that stopped answering.
 */
export interface Paced {
  paced(watch: Watch): void;
}

/**
 * A Submittable ends in `handleReadyForQuery` (after its result or its server error) or in
 * `handleError` alone (its connection died): disarm there, then let it handle the message.
 */
function settleHooks(query: pg.Submittable, done: () => void): void {
  const target = query as pg.Submittable & {
    handleReadyForQuery?: (...a: unknown[]) => unknown;
    handleError?: (...a: unknown[]) => unknown;
  };
  for (const name of ['handleReadyForQuery', 'handleError'] as const) {
    const original = target[name];
    if (typeof original !== 'function') continue;
    target[name] = function (this: unknown, ...a: unknown[]) {
      done();
      return original.apply(this, a);
    };
  }
}
