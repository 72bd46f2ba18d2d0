import { setMaxListeners } from 'node:events';
import { cancelledError, StorageError, toStorageError } from './errors.js';
import { backendFor, createClient } from './registry.js';
import type {
  BackendDeps,
  Entry,
  ListOptions,
  TreeOptions,
  ReadHeadOptions,
  StorageClient,
  TreeListing,
} from './types.js';
import { limitKeyOf, type LimitOptions } from './limits/keys.js';
import type { SharedGates } from './limits/gates.js';
import type { AddressPolicy } from './net/address-policy.js';
import { Limiter } from './limits/limiter.js';
import { splitServiceOptions, type ServiceOptions } from './limits/options.js';
import { StoragePacing, type StorageStats } from './limits/pacing.js';
import { DEFAULT_RETRY, type RetryOptions } from './limits/retry.js';
import type { Logger } from '../observability/logger.js';
import { silentLogger } from '../observability/silent-logger.js';
import type { StorageMeters } from '../observability/metrics.js';
import { noopStorageMetrics } from '../observability/noop-metrics.js';
import { monotonicMs } from '../util/monotonic.js';
import { raceAbort } from '../util/on-abort.js';
import { redactText } from '../util/redact.js';
import { sleep } from '../util/sleep.js';

/** A storage as the StorageService needs it, handed in by a lookup (the DB in the app). */
export interface StorageConfig {
  id: number;
  tenantId: number;
  kind: string;
  /**
   * Raw options as stored; validated by the backend at connect time. The service's own
   * settings (`maxConcurrency`, `limitKey`, `tenantMaxConcurrency`) may sit here too: they
   * are taken out before the backend sees the rest.
   */
  options: unknown;
  /** Bumped on every change of options; a new version replaces a live client. */
  version: number;
  enabled: boolean;
  /** Requests in flight to this storage; wins over `options.maxConcurrency`. @default 5 */
  maxConcurrency?: number;
  /** Shared cap key; wins over `options.limitKey`. @default `${kind}:${limitHost}` */
  limitKey?: string;
  /** Cap on requests in flight for the whole tenant; wins over the service's `perTenant`. */
  tenantMaxConcurrency?: number;
}

export type StorageLookup = (storageId: number) => Promise<StorageConfig | undefined>;

export interface HealthOptions {
  /** A client unused this long is closed. @default 300000 (5 min) */
  idleTtlMs: number;
  /** A client unused this long is `check()`ed before it is used again. @default 30000 */
  checkAfterMs: number;
  /** How often idle clients are looked for. @default min(idleTtlMs, 60000) */
  sweepIntervalMs?: number;
}

export interface StorageServiceDeps {
  lookup: StorageLookup;
  env?: BackendDeps['env'];
  /**
   * The SSRF guard: handed to every client, which checks each connection it opens against
   * it (`trawl serve` passes one). @default none: connect anywhere (the CLI)
   */
  addressPolicy?: AddressPolicy;
  /** Builds a client; tests swap it. @default the registry's createClient */
  createClient?: typeof createClient;
  /** Shared caps per limit key and per tenant. */
  limits?: LimitOptions;
  /**
   * Where those shared caps are counted: across a fleet (Redis) when the app injects it.
   * @default in this process
   */
  gates?: SharedGates;
  retry?: Partial<RetryOptions>;
  health?: Partial<HealthOptions>;
  /**
   * Where requests, errors and connects are counted (`storageMetrics(registry)`).
   * @default no-ops: counted nowhere
   */
  metrics?: StorageMeters;
  /** @default silent */
  logger?: Logger;
  /** Milliseconds on a monotonic clock; tests move it by hand. @default monotonicMs */
  now?: () => number;
  /** Jitter source in [0, 1). @default Math.random */
  random?: () => number;
}

/** A request that failed and will be sent again: for a line on the user's terminal. */
export interface RetryNotice {
  storageId: number;
  /** The failure, as a StorageError (its message names the server and the path). */
  error: StorageError;
  /** This retry's number, from 1, and how many the request may make. */
  attempt: number;
  of: number;
  delayMs: number;
}

/**
 * What the scan engine holds for one storage: every call goes through the service's
 * limits, so no caller can open a connection around them.
 */
export interface StorageHandle {
  readonly storageId: number;
  /**
   * One directory's listing in pages, as {@link StorageClient.list} promises (complete only
   * when the iteration ends without a throw). The listing holds one request slot from its
   * first byte to its last; a failure before the first page is retried like any request, one
   * after it is thrown (what was yielded cannot be taken back). Every error names `dir`.
   */
  list(dir: string, options?: ListOptions): AsyncIterable<Entry[]>;
  /**
   * Present when the connected backend has a flat tree listing (read it after
   * {@link StorageService.open}, which connects first). Each step of the iteration holds one
   * request slot while the backend fetches.
   */
  listTree?(root: string, options?: TreeOptions): AsyncIterable<TreeListing | TreeListing[]>;
  /**
   * Present when the connected backend reads a file's first bytes cheaply (read it after
   * {@link StorageService.open}); one request under the limits, retried like any other.
   */
  readHead?(path: string, bytes: number, options?: ReadHeadOptions): Promise<Uint8Array>;
  check(options?: ListOptions): Promise<void>;
  /**
   * True when every step of {@link list} settles — with CANCELLED — as soon as the options'
   * signal aborts, whatever the backend does: the caller need not race each step against the
   * signal itself. The service's own handles say so (they race every request); a handle
   * made elsewhere (a test's) may not.
   */
  readonly abortsListing?: boolean;
}

export type { StorageStats };

/** The storage's adaptive concurrency, as it stands. */
export interface ConcurrencyState {
  /** Requests admitted at once now (AIMD, 1…max). */
  limit: number;
  /** The configured ceiling (`maxConcurrency`). */
  max: number;
  /** The lowest the limit has fallen to since its ceiling was last set. */
  lowest: number;
  /** Requests holding a slot now. */
  active: number;
}

export interface LiveClientInfo {
  storageId: number;
  kind: string;
  version: number;
  limitKey: string;
  /** Milliseconds on the service's clock (`deps.now`). */
  lastUsed: number;
  /** Requests using the client now. */
  busy: number;
}

export const DEFAULT_MAX_CONCURRENCY = 5;
export const DEFAULT_HEALTH: Readonly<HealthOptions> = Object.freeze({
  idleTtlMs: 5 * 60_000,
  checkAfterMs: 30_000,
});

interface LiveClient {
  client: StorageClient;
  config: StorageConfig;
  limitKey: string;
  tenantMaxConcurrency: number | undefined;
  lastUsed: number;
  /** Requests using the client now; an idle sweep never closes a busy client. */
  busy: number;
  /** One shared liveness probe when several callers find the client idle at once. */
  checking: Promise<void> | undefined;
  /** Its metric series, labelled on first use. */
  meters?: ClientMeters;
}

interface OpMeters {
  latency: { observe(value: number): void };
  ok: { inc(): void };
  error: { inc(): void };
}

interface ClientMeters {
  inFlight: { inc(): void; dec(): void };
  op(op: string): OpMeters;
}

/** A failed liveness probe: not the caller's error, just a reason to reconnect. */
class StaleClient extends Error {}

/**
 * The one holder of live storage clients in a process: single-flight connects, health
 * (idle close, check before reuse, drop on UNAVAILABLE), layered limits, pacing and retries,
 * metrics and logs.
 */
export class StorageService {
  readonly #deps: StorageServiceDeps & {
    env: BackendDeps['env'];
    createClient: typeof createClient;
  };
  readonly #retry: RetryOptions;
  readonly #health: HealthOptions;
  readonly #limiter: Limiter;
  readonly #metrics: StorageMeters;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #live = new Map<number, LiveClient>();
  readonly #connecting = new Map<number, Promise<LiveClient>>();
  /** Clients whose connect() is under way: shutdown closes them instead of waiting. */
  readonly #opening = new Set<StorageClient>();
  readonly #state = new Map<number, StoragePacing>();
  readonly #retryListeners = new Set<(notice: RetryNotice) => void>();
  #sweeper: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(deps: StorageServiceDeps) {
    this.#deps = { env: process.env, createClient, ...deps };
    this.#retry = { ...DEFAULT_RETRY, ...deps.retry };
    this.#health = { ...DEFAULT_HEALTH, ...deps.health };
    this.#limiter = new Limiter(deps.limits, deps.gates);
    this.#metrics = deps.metrics ?? noopStorageMetrics();
    this.#log = deps.logger ?? silentLogger();
    this.#now = deps.now ?? monotonicMs;
    this.#random = deps.random ?? Math.random;
  }

  /** Calls `listener` before each retry of a failed request; returns the unsubscribe. */
  onRetry(listener: (notice: RetryNotice) => void): () => void {
    this.#retryListeners.add(listener);
    return () => this.#retryListeners.delete(listener);
  }

  /** The metrics this service reports into. */
  get metrics(): StorageMeters {
    return this.#metrics;
  }

  /**
   * The cached client, or one connect shared by every concurrent caller for this id.
   * For the storage layer and tests: requests made on the client directly bypass the limits;
   * everyone else goes through {@link handle}.
   */
  async getClient(storageId: number): Promise<StorageClient> {
    const live = await this.#acquireLive(storageId);
    live.lastUsed = this.#now();
    return live.client;
  }

  /** A handle whose every request goes through the limits, retries and health rules. */
  handle(storageId: number): StorageHandle {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the getter below needs the service
    const service = this;
    return {
      storageId,
      abortsListing: true,
      list: (dir, options) => this.#list(storageId, dir, options),
      check: (options) => this.#request(storageId, 'check', '/', options?.signal, (c) => c.check()),
      get listTree() {
        const live = service.#live.get(storageId);
        if (!live?.client.listTree) return undefined;
        return (root: string, options?: TreeOptions) => service.#listTree(storageId, root, options);
      },
      get readHead() {
        if (!service.#live.get(storageId)?.client.readHead) return undefined;
        return (path: string, bytes: number, options?: ReadHeadOptions) =>
          service.#request(storageId, 'readHead', path, options?.signal, (c) =>
            c.readHead ? c.readHead(path, bytes, options) : Promise.resolve(new Uint8Array()),
          );
      },
    };
  }

  /**
   * Connects (if it can) and then hands out a {@link handle}, so that `listTree` is known.
   * A failed connect is not thrown here: the first request reports it. A retryable failure
   * (server down) is met again by that request, which reconnects under the retry policy; a
   * final one (bad password, bad config) is handed to it as is, so the storage is not asked
   * twice — a second failed login can cost seconds of server-side delay, or a lockout.
   * The wait ends with CANCELLED as soon as `signal` aborts (the connect goes on unawaited,
   * bounded by its own timeout, and its client is kept or closed as usual).
   */
  async open(storageId: number, options: { signal?: AbortSignal } = {}): Promise<StorageHandle> {
    const connecting = this.#acquireLive(storageId).then(
      () => undefined,
      (error: unknown) => toStorageError(error, '/'),
    );
    const failure = await untilAborted(connecting, options.signal);
    const handle = this.handle(storageId);
    if (!failure || failure.retryable) return handle;
    let pending: StorageError | undefined = failure;
    const once = <T>(call: () => T, fail: (error: StorageError) => T): T => {
      const error = pending;
      pending = undefined;
      return error ? fail(error) : call();
    };
    return {
      storageId,
      abortsListing: true,
      list: (dir, o) =>
        once(
          () => handle.list(dir, o),
          (error) => failingPages(error),
        ),
      check: (o) =>
        once(
          () => handle.check(o),
          (error) => Promise.reject(error),
        ),
    };
  }

  stats(storageId: number): StorageStats {
    return { ...this.#stateOf(storageId).stats };
  }

  /** The storage's adaptive concurrency, or undefined before its first connect. */
  concurrency(storageId: number): ConcurrencyState | undefined {
    const limit = this.#state.get(storageId)?.limit;
    if (!limit) return undefined;
    return { limit: limit.limit, max: limit.max, lowest: limit.lowest, active: limit.active };
  }

  /** Connected storage ids (for tests and diagnostics). */
  liveIds(): number[] {
    return [...this.#live.keys()];
  }

  /** The live clients: when each was last used (on the service's clock) and requests on it now. */
  clients(): LiveClientInfo[] {
    return [...this.#live.values()].map((l) => ({
      storageId: l.config.id,
      kind: l.config.kind,
      version: l.config.version,
      limitKey: l.limitKey,
      lastUsed: l.lastUsed,
      busy: l.busy,
    }));
  }

  /**
   * Looks the storage up again after a change: a new version replaces the client (closed
   * now; the next request connects with the new config), a disabled or deleted storage is
   * closed. Call it from wherever storages are changed.
   */
  async refresh(storageId: number): Promise<void> {
    await this.#connecting.get(storageId)?.catch(() => undefined);
    const live = this.#live.get(storageId);
    if (!live) return;
    const config = await this.#deps.lookup(storageId);
    if (!config) await this.#drop(live, 'storage deleted');
    else if (!config.enabled) await this.#drop(live, 'storage disabled');
    else if (config.version !== live.config.version) await this.#drop(live, 'config changed');
  }

  /** Closes and forgets one storage's client. */
  async release(storageId: number): Promise<void> {
    await this.#connecting.get(storageId)?.catch(() => undefined);
    const live = this.#live.get(storageId);
    if (live) await this.#drop(live, 'released');
  }

  /**
   * Closes every client (shutdown). Connects still running are awaited and closed; later
   * requests fail with UNAVAILABLE.
   */
  async closeAll(): Promise<void> {
    this.#closed = true;
    this.#stopSweeper();
    // A connect to a host that does not answer could hold shutdown for its whole timeout:
    // close those clients now (their connect fails, and is closed again when it does).
    const opening = [...this.#opening];
    this.#opening.clear();
    await Promise.all(opening.map((c) => c.close().catch(() => undefined)));
    await Promise.allSettled([...this.#connecting.values()]);
    await Promise.all([...this.#live.values()].map((live) => this.#drop(live, 'shutdown')));
  }

  /** Closes clients idle longer than the TTL; runs on a timer, callable from tests. */
  async sweepIdle(): Promise<number> {
    const now = this.#now();
    const idle = [...this.#live.values()].filter(
      (l) => l.busy === 0 && now - l.lastUsed >= this.#health.idleTtlMs,
    );
    await Promise.all(idle.map((l) => this.#drop(l, 'idle')));
    // A long-running worker meets many storages: forget the pacing of those long unused (a
    // new request starts afresh at full concurrency, as after a restart).
    for (const [id, state] of this.#state) {
      if (
        !this.#live.has(id) &&
        !this.#connecting.has(id) &&
        state.pending === 0 &&
        now - state.lastActivity >= this.#health.idleTtlMs
      ) {
        this.#state.delete(id);
      }
    }
    return idle.length;
  }

  /** Storages whose pacing state is kept (for tests and diagnostics). */
  pacedIds(): number[] {
    return [...this.#state.keys()];
  }

  // --- requests ------------------------------------------------------------------------

  /**
   * One request under the limits, retried by the pacing rules. Every error it throws names
   * `path`, the request's own, even when what failed was the reconnect before it.
   */
  async #request<T>(
    storageId: number,
    op: string,
    path: string,
    signal: AbortSignal | undefined,
    fn: (client: StorageClient) => Promise<T>,
  ): Promise<T> {
    if (signal) expectManyListeners(signal);
    const leave = this.#stateOf(storageId).enter();
    try {
      return await this.#requestLoop(storageId, op, path, signal, fn);
    } finally {
      leave();
    }
  }

  async #requestLoop<T>(
    storageId: number,
    op: string,
    path: string,
    signal: AbortSignal | undefined,
    fn: (client: StorageClient) => Promise<T>,
  ): Promise<T> {
    const spent = { retries: 0, waits: 0 };
    for (;;) {
      let live: LiveClient | undefined;
      let error: StorageError;
      let sentAt = this.#now();
      try {
        const slot = await this.#slot(storageId, path, signal);
        live = slot.live;
        try {
          sentAt = this.#now();
          const account = this.#begin(live);
          try {
            // A backend that does not heed the signal (a hung socket) cannot hold the caller.
            const result = await untilAborted(fn(live.client), signal);
            account.ok(op);
            return result;
          } catch (caught) {
            throw account.failed(op, caught);
          }
        } finally {
          slot.release();
        }
      } catch (caught) {
        if (caught instanceof StaleClient) continue; // probe failed, client dropped: reconnect
        error = this.#requestError(caught, path, signal);
      }
      if (error.code === 'CANCELLED') throw error;
      await this.#pace(storageId, live, error, sentAt, spent, signal);
    }
  }

  /**
   * A live client and a slot on it, for one request: connects (or reconnects) first, waits
   * for the limits, probes a client idle for long. A client dropped while the request waited
   * for its slot is not used: the request starts over on a fresh one, spending no retry.
   */
  async #slot(
    storageId: number,
    path: string,
    signal: AbortSignal | undefined,
  ): Promise<{ live: LiveClient; release: () => void }> {
    for (;;) {
      // A connected client is taken as it is: no promise to wait on, per directory.
      let live = this.#closed ? undefined : this.#live.get(storageId);
      if (!live) {
        try {
          live = await untilAborted(this.#acquireLive(storageId), signal);
        } catch (caught) {
          throw asReconnectError(toStorageError(caught), path);
        }
      }
      const release = await this.#limiter.acquire(this.#target(live), signal);
      if (this.#live.get(storageId) !== live) {
        release();
        continue;
      }
      if (live.checking || this.#now() - live.lastUsed >= this.#health.checkAfterMs) {
        try {
          await this.#checkIfIdle(live);
        } catch (caught) {
          release();
          throw caught;
        }
      }
      return { live, release };
    }
  }

  /**
   * Starts one request's accounting on a held slot; `ok` or `failed` ends it once (metrics,
   * lastUsed, AIMD increase on success), and `failed` maps what was thrown.
   */
  #begin(live: LiveClient): RequestAccount {
    const kind = live.config.kind;
    const state = this.#stateOf(live.config.id);
    const started = this.#now();
    const inFlight = this.#metersOf(live).inFlight;
    live.busy++;
    inFlight.inc();
    let ended = false;
    const end = (op: string, outcome: 'ok' | 'error') => {
      if (ended) return false;
      ended = true;
      live.busy--;
      const now = this.#now();
      live.lastUsed = now;
      inFlight.dec();
      const meters = this.#metersOf(live).op(op);
      meters.latency.observe((now - started) / 1000);
      meters[outcome].inc();
      return true;
    };
    return {
      ok: (op) => {
        if (end(op, 'ok')) state.succeeded();
      },
      failed: (op, caught) => {
        const error = toStorageError(caught);
        if (!end(op, 'error')) return error;
        this.#metrics.errors.inc({ kind, op, code: error.code });
        if (error.code === 'INTERNAL') {
          const err = error.cause ?? error;
          this.#log.error({ storageId: live.config.id, kind, op, err }, 'storage backend bug');
        }
        return error;
      },
    };
  }

  /**
   * The client's metric series, labelled once: a labelled `inc`/`observe` hashes its labels
   * on every call, four times a request (~10 µs of a local directory's bookkeeping).
   */
  #metersOf(live: LiveClient): ClientMeters {
    if (live.meters) return live.meters;
    const metrics = this.#metrics;
    const kind = live.config.kind;
    const ops = new Map<string, OpMeters>();
    live.meters = {
      inFlight: metrics.inFlight.labels({ kind }),
      op: (op) => {
        let m = ops.get(op);
        if (!m) {
          m = {
            latency: metrics.latency.labels({ kind, op }),
            ok: metrics.requests.labels({ kind, op, outcome: 'ok' }),
            error: metrics.requests.labels({ kind, op, outcome: 'error' }),
          };
          ops.set(op, m);
        }
        return m;
      },
    };
    return live.meters;
  }

  /** A failure as the caller sees it: CANCELLED once the caller's signal aborted, else typed. */
  #requestError(caught: unknown, path: string, signal: AbortSignal | undefined): StorageError {
    if (signal?.aborted) return cancelledError(path);
    const error = toStorageError(caught, path);
    return error.path === undefined ? withPath(error, path) : error;
  }

  /**
   * After a failed attempt: drop a dead client, then wait out a rate limit or back off
   * before the next attempt — or throw when the error is final or the budget is spent.
   * Slots are already released: a waiting request holds none.
   */
  async #pace(
    storageId: number,
    live: LiveClient | undefined,
    error: StorageError,
    sentAt: number,
    spent: { retries: number; waits: number },
    signal: AbortSignal | undefined,
  ): Promise<void> {
    if (error.code === 'UNAVAILABLE' && live) await this.#drop(live, 'unavailable', error);
    if (this.#closed) throw error;
    const kind = live?.config.kind ?? 'unknown';
    const state = this.#stateOf(storageId);
    const decision = state.failed(error, sentAt, spent);
    if (decision.action === 'fail') throw error;
    if (decision.action === 'wait') this.#metrics.rateLimitWaits.inc({ kind });
    else {
      this.#metrics.retries.inc({ kind, code: error.code });
      const notice: RetryNotice = {
        storageId,
        error,
        attempt: spent.retries,
        of: this.#retry.attempts,
        delayMs: decision.delayMs,
      };
      for (const listener of this.#retryListeners) {
        try {
          listener(notice);
        } catch {
          // a display that fails must not fail the request
        }
      }
    }
    this.#log.debug(
      {
        storageId,
        code: error.code,
        action: decision.action,
        delayMs: decision.delayMs,
        limit: state.limit.limit,
      },
      decision.action === 'wait' ? 'rate limited, waiting' : 'retrying after error',
    );
    try {
      await sleep(decision.delayMs, signal);
    } catch {
      throw cancelledError(error.path);
    }
  }

  /**
   * One directory's listing, page by page. Until the first page arrives this is one request
   * like any other (retried, paced); from then on the slot is held until the listing ends,
   * and a failure is thrown to the caller, who already holds true entries from it.
   */
  async *#list(
    storageId: number,
    dir: string,
    options: ListOptions | undefined,
  ): AsyncGenerator<Entry[]> {
    // One generator, not one wrapping another: each layer costs promises per page.
    const signal = options?.signal;
    if (signal) expectManyListeners(signal);
    const leave = this.#stateOf(storageId).enter();
    try {
      const spent = { retries: 0, waits: 0 };
      let slot: { live: LiveClient; release: () => void } | undefined;
      let pages: AsyncIterator<Entry[]> | undefined;
      let account: RequestAccount | undefined;
      let step: IteratorResult<Entry[]>;
      // The first page: a request with retries.
      for (;;) {
        let error: StorageError;
        let sentAt = this.#now();
        try {
          slot = await this.#slot(storageId, dir, signal);
          sentAt = this.#now();
          account = this.#begin(slot.live);
          pages = slot.live.client.list(dir, options)[Symbol.asyncIterator]();
          step = await untilAborted(pages.next(), signal);
          break;
        } catch (caught) {
          const failed = account?.failed('list', caught);
          account = undefined;
          const live = slot?.live;
          slot?.release();
          slot = undefined;
          closeQuietly(pages);
          pages = undefined;
          if (caught instanceof StaleClient) continue;
          error = this.#requestError(failed ?? caught, dir, signal);
          if (error.code === 'CANCELLED') throw error;
          await this.#pace(storageId, live, error, sentAt, spent, signal);
        }
      }
      // The rest: the slot is held until the listing ends.
      let finished = false;
      try {
        while (!step.done) {
          yield step.value;
          step = await untilAborted(pages!.next(), signal);
        }
        finished = true;
        account!.ok('list');
      } catch (caught) {
        const error = this.#requestError(account!.failed('list', caught), dir, signal);
        if (error.code === 'UNAVAILABLE') await this.#drop(slot!.live, 'unavailable', error);
        throw error;
      } finally {
        // The caller stopped early (break, cancellation): end the backend's listing too.
        if (!finished) {
          account!.failed('list', cancelledError(dir));
          closeQuietly(pages);
        }
        slot!.release();
      }
    } finally {
      leave();
    }
  }

  async *#listTree(
    storageId: number,
    root: string,
    options: TreeOptions | undefined,
  ): AsyncGenerator<TreeListing | TreeListing[]> {
    const signal = options?.signal;
    if (signal) expectManyListeners(signal);
    const live = await this.#acquireLive(storageId);
    const iterator = live.client.listTree!(root, options)[Symbol.asyncIterator]();
    try {
      for (;;) {
        // One slot per step: the backend fetches a page (or yields from one it has) while
        // the slot is held; the engine's reconciling of what it got holds none.
        const target = this.#target(live);
        const release =
          this.#limiter.tryAcquire(target) ?? (await this.#limiter.acquire(target, signal));
        let step: IteratorResult<TreeListing | TreeListing[]>;
        const account = this.#begin(live);
        try {
          step = await untilAborted(iterator.next(), signal);
          account.ok('listTree');
        } catch (caught) {
          const e = this.#requestError(account.failed('listTree', caught), root, signal);
          // A tree listing cannot resume mid-way, so it is not retried here; the next scan
          // starts it again on a fresh client.
          if (e.code === 'UNAVAILABLE') await this.#drop(live, 'unavailable', e);
          if (e.code === 'RATE_LIMITED' || e.code === 'TIMEOUT')
            this.#stateOf(storageId).limit.overloaded(this.#now());
          throw e;
        } finally {
          release();
        }
        if (step.done) return;
        yield step.value;
      }
    } finally {
      closeQuietly(iterator);
    }
  }

  // --- clients -------------------------------------------------------------------------

  #acquireLive(storageId: number): Promise<LiveClient> {
    if (this.#closed) {
      return Promise.reject(new StorageError('UNAVAILABLE', 'the storage service is shut down'));
    }
    const live = this.#live.get(storageId);
    if (live) return Promise.resolve(live);
    let pending = this.#connecting.get(storageId);
    if (!pending) {
      pending = this.#connect(storageId).finally(() => this.#connecting.delete(storageId));
      this.#connecting.set(storageId, pending);
    }
    return pending;
  }

  async #connect(storageId: number): Promise<LiveClient> {
    const config = await this.#deps.lookup(storageId);
    if (!config) throw new StorageError('INVALID_CONFIG', `storage ${storageId} does not exist`);
    if (!config.enabled) {
      throw new StorageError('INVALID_CONFIG', `storage ${storageId} is disabled`);
    }
    const kind = config.kind;
    const started = this.#now();
    let client: StorageClient | undefined;
    let own: ServiceOptions;
    try {
      const split = splitServiceOptions(config.options);
      own = split.service;
      const deps: BackendDeps = { env: this.#deps.env };
      if (this.#deps.addressPolicy) deps.addressPolicy = this.#deps.addressPolicy;
      client = this.#deps.createClient(kind, split.backend, deps);
      this.#opening.add(client);
      // A connect speaks to the server (a login, a probe): it counts against the shared caps
      // like a request (not against the storage's own limit: there is one connect at a time).
      const release = await this.#limiter.acquireShared({
        kind,
        limitKey: limitKeyOf(
          kind,
          limitHost(kind, config.options),
          config.limitKey ?? own.limitKey,
        ),
        tenantId: config.tenantId,
        tenantMaxConcurrency: config.tenantMaxConcurrency ?? own.tenantMaxConcurrency,
      });
      try {
        await client.connect();
      } finally {
        release();
      }
    } catch (caught) {
      // Unless shutdown took it and closed it already.
      if (client && this.#opening.delete(client)) await client.close().catch(() => undefined);
      const e = toStorageError(caught, '/');
      this.#metrics.connects.inc({ kind, outcome: 'error' });
      this.#log.warn(
        { storageId, tenantId: config.tenantId, kind, code: e.code, err: e },
        'storage connect failed',
      );
      throw e;
    }
    const closedByShutdown = !this.#opening.delete(client);
    this.#metrics.connects.inc({ kind, outcome: 'ok' });
    this.#metrics.connectLatency.observe({ kind }, (this.#now() - started) / 1000);
    if (this.#closed) {
      if (!closedByShutdown) await client.close().catch(() => undefined);
      throw new StorageError('UNAVAILABLE', 'the storage service is shut down');
    }
    const live: LiveClient = {
      client,
      config,
      limitKey: limitKeyOf(kind, limitHost(kind, config.options), config.limitKey ?? own.limitKey),
      tenantMaxConcurrency: config.tenantMaxConcurrency ?? own.tenantMaxConcurrency,
      lastUsed: this.#now(),
      busy: 0,
      checking: undefined,
    };
    const state = this.#stateOf(storageId);
    state.limit.max = config.maxConcurrency ?? own.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY;
    state.stats.connects++;
    this.#live.set(storageId, live);
    this.#metrics.liveClients.inc({ kind });
    this.#startSweeper();
    this.#log.info(
      {
        storageId,
        tenantId: config.tenantId,
        kind,
        version: config.version,
        limitKey: live.limitKey,
        maxConcurrency: state.limit.max,
        ms: Math.round(this.#now() - started),
      },
      'storage connected',
    );
    return live;
  }

  /** A client idle past the threshold is probed once before reuse; a dead one is dropped. */
  async #checkIfIdle(live: LiveClient): Promise<void> {
    if (!live.checking) {
      if (this.#now() - live.lastUsed < this.#health.checkAfterMs) return;
      live.checking = live.client.check().finally(() => {
        live.checking = undefined;
        live.lastUsed = this.#now();
      });
    }
    try {
      await live.checking;
    } catch (caught) {
      await this.#drop(live, 'failed check', toStorageError(caught));
      throw new StaleClient();
    }
  }

  /** Forgets and closes a client, once, if it is still the live one. */
  async #drop(live: LiveClient, reason: string, error?: StorageError): Promise<void> {
    const id = live.config.id;
    if (this.#live.get(id) !== live) return;
    this.#live.delete(id);
    this.#metrics.liveClients.dec({ kind: live.config.kind });
    if (this.#live.size === 0) this.#stopSweeper();
    const fields = {
      storageId: id,
      kind: live.config.kind,
      reason,
      ...(error ? { code: error.code, message: redactText(error.message) } : {}),
    };
    if (error) this.#log.warn(fields, 'storage client dropped');
    else this.#log.info(fields, 'storage client closed');
    await live.client.close().catch(() => undefined);
  }

  #target(live: LiveClient) {
    return {
      storage: this.#stateOf(live.config.id).limit,
      kind: live.config.kind,
      limitKey: live.limitKey,
      tenantId: live.config.tenantId,
      tenantMaxConcurrency: live.tenantMaxConcurrency,
    };
  }

  #stateOf(storageId: number): StoragePacing {
    let state = this.#state.get(storageId);
    if (!state) {
      state = new StoragePacing(DEFAULT_MAX_CONCURRENCY, this.#retry, this.#now, this.#random);
      this.#state.set(storageId, state);
    }
    return state;
  }

  #startSweeper(): void {
    if (this.#sweeper) return;
    const every = this.#health.sweepIntervalMs ?? Math.min(this.#health.idleTtlMs, 60_000);
    this.#sweeper = setInterval(() => void this.sweepIdle(), every);
    this.#sweeper.unref();
  }

  #stopSweeper(): void {
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }
}

const widened = new WeakSet<AbortSignal>();

/**
 * One scan's signal is shared by all its listers, and every request waiting for a slot or a
 * backoff listens to it: dozens of listeners are expected, not a leak, so Node's warning
 * (at 11) would only be noise on the user's terminal.
 */
function expectManyListeners(signal: AbortSignal): void {
  if (widened.has(signal)) return;
  widened.add(signal);
  setMaxListeners(0, signal);
}

/** The backend's idea of the host, for the default limit key; undefined for unknown kinds. */
function limitHost(kind: string, rawOptions: unknown): string | undefined {
  try {
    const backend = backendFor(kind);
    return backend.limitHost(backend.parseOptions(splitServiceOptions(rawOptions).backend));
  } catch {
    return undefined;
  }
}

interface RequestAccount {
  ok(op: string): void;
  /** Ends the request as failed and returns what was thrown as a StorageError. */
  failed(op: string, caught: unknown): StorageError;
}

/**
 * Settles with `work`, or rejects with CANCELLED as soon as `signal` aborts: a backend or
 * connect that does not heed the signal cannot hold up a cancelled caller. The late result is
 * dropped (its errors swallowed).
 */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  return signal ? raceAbort(work, signal, cancelledError) : work;
}

/** Ends a backend's iteration without waiting for it (it may be stuck in a request). */
function closeQuietly(iterator: AsyncIterator<unknown> | undefined): void {
  void iterator?.return?.()?.catch(() => undefined);
}

/** A listing that fails at once with `error`, for a handle whose connect already failed. */
async function* failingPages(error: StorageError): AsyncGenerator<Entry[]> {
  yield* [];
  throw error;
}

/** The same error, naming `path`. */
function withPath(error: StorageError, path: string): StorageError {
  return new StorageError(error.code, error.message, {
    path,
    retryable: error.retryable,
    retryAfterMs: error.retryAfterMs,
    invalidEntries: error.invalidEntries,
    cause: error.cause ?? error,
  });
}

/**
 * A failed (re)connect met by a request for `path`: the failure is the request's, so it
 * names the request's path — not the `/` the connect probe used — and says what happened.
 */
function asReconnectError(error: StorageError, path: string): StorageError {
  if (error.path === path) return error;
  return new StorageError(error.code, `connecting failed: ${error.message}`, {
    path,
    retryable: error.retryable,
    retryAfterMs: error.retryAfterMs,
    cause: error,
  });
}
