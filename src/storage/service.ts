import { setMaxListeners } from 'node:events';
import { StorageError, toStorageError } from './errors.js';
import { backendFor, createClient } from './registry.js';
import type { BackendDeps, Entry, ListOptions, StorageClient, TreeListing } from './types.js';
import { limitKeyOf, type LimitOptions } from './limits/keys.js';
import { Limiter } from './limits/limiter.js';
import { splitServiceOptions, type ServiceOptions } from './limits/options.js';
import { StoragePacing, type StorageStats } from './limits/pacing.js';
import { DEFAULT_RETRY, type RetryOptions } from './limits/retry.js';
import { silentLogger, type Logger } from '../observability/logger.js';
import { storageMetrics, type StorageMetrics } from '../observability/metrics.js';
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
  /** Builds a client; tests swap it. @default the registry's createClient */
  createClient?: typeof createClient;
  /** Shared caps per limit key and per tenant. */
  limits?: LimitOptions;
  retry?: Partial<RetryOptions>;
  health?: Partial<HealthOptions>;
  /** @default a fresh registry of its own */
  metrics?: StorageMetrics;
  /** @default silent */
  logger?: Logger;
  /** Milliseconds on a monotonic clock; tests move it by hand. @default performance.now */
  now?: () => number;
  /** Jitter source in [0, 1). @default Math.random */
  random?: () => number;
}

/**
 * What the scan engine holds for one storage: every call goes through the service's
 * limits, so no caller can open a connection around them.
 */
export interface StorageHandle {
  readonly storageId: number;
  list(dir: string, options?: ListOptions): Promise<Entry[]>;
  /**
   * Present when the connected backend has a flat tree listing (read it after
   * {@link StorageService.open}, which connects first). Each step of the iteration holds one
   * request slot while the backend fetches.
   */
  listTree?(root: string, options?: ListOptions): AsyncIterable<TreeListing>;
  check(): Promise<void>;
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
  readonly #metrics: StorageMetrics;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #live = new Map<number, LiveClient>();
  readonly #connecting = new Map<number, Promise<LiveClient>>();
  readonly #state = new Map<number, StoragePacing>();
  #sweeper: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(deps: StorageServiceDeps) {
    this.#deps = { env: process.env, createClient, ...deps };
    this.#retry = { ...DEFAULT_RETRY, ...deps.retry };
    this.#health = { ...DEFAULT_HEALTH, ...deps.health };
    this.#limiter = new Limiter(deps.limits);
    this.#metrics = deps.metrics ?? storageMetrics();
    this.#log = deps.logger ?? silentLogger();
    this.#now = deps.now ?? (() => performance.now());
    this.#random = deps.random ?? Math.random;
  }

  /** The metrics this service reports into. */
  get metrics(): StorageMetrics {
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
      list: (dir, options) =>
        this.#request(storageId, 'list', options?.signal, (c) => c.list(dir, options)),
      check: () => this.#request(storageId, 'check', undefined, (c) => c.check()),
      get listTree() {
        const live = service.#live.get(storageId);
        if (!live?.client.listTree) return undefined;
        return (root: string, options?: ListOptions) => service.#listTree(storageId, root, options);
      },
    };
  }

  /**
   * Connects (if it can) and then hands out a {@link handle}, so that `listTree` is known.
   * A failed connect is not thrown here: the first request reports it. A retryable failure
   * (server down) is met again by that request, which reconnects under the retry policy; a
   * final one (bad password, bad config) is handed to it as is, so the storage is not asked
   * twice — a second failed login can cost seconds of server-side delay, or a lockout.
   */
  async open(storageId: number): Promise<StorageHandle> {
    const failure = await this.#acquireLive(storageId).then(
      () => undefined,
      (error: unknown) => toStorageError(error, '/'),
    );
    const handle = this.handle(storageId);
    if (!failure || failure.retryable) return handle;
    let pending: StorageError | undefined = failure;
    const once = <T>(call: () => Promise<T>): Promise<T> => {
      const error = pending;
      pending = undefined;
      return error ? Promise.reject(error) : call();
    };
    return {
      storageId,
      list: (dir, options) => once(() => handle.list(dir, options)),
      check: () => once(() => handle.check()),
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
    return idle.length;
  }

  // --- requests ------------------------------------------------------------------------

  async #request<T>(
    storageId: number,
    op: string,
    signal: AbortSignal | undefined,
    fn: (client: StorageClient) => Promise<T>,
  ): Promise<T> {
    if (signal) expectManyListeners(signal);
    const spent = { retries: 0, waits: 0 };
    for (;;) {
      let live: LiveClient | undefined;
      let error: StorageError;
      let sentAt = this.#now();
      try {
        live = await this.#acquireLive(storageId);
        const release = await this.#limiter.acquire(this.#target(live), signal);
        try {
          await this.#checkIfIdle(live);
          sentAt = this.#now();
          return await this.#attempt(live, op, () => fn(live!.client));
        } finally {
          release();
        }
      } catch (caught) {
        if (caught instanceof StaleClient) continue; // probe failed, client dropped: reconnect
        error = toStorageError(caught);
      }
      if (signal?.aborted || error.code === 'CANCELLED') throw error;
      await this.#pace(storageId, live, error, sentAt, spent, signal);
    }
  }

  /** One attempt on a held slot: metrics, lastUsed, AIMD increase on success. */
  async #attempt<T>(live: LiveClient, op: string, run: () => Promise<T>): Promise<T> {
    const kind = live.config.kind;
    const state = this.#stateOf(live.config.id);
    const started = this.#now();
    live.busy++;
    this.#metrics.inFlight.inc({ kind });
    try {
      const result = await run();
      state.succeeded();
      this.#metrics.requests.inc({ kind, op, outcome: 'ok' });
      return result;
    } catch (caught) {
      const e = toStorageError(caught);
      this.#metrics.requests.inc({ kind, op, outcome: 'error' });
      this.#metrics.errors.inc({ kind, op, code: e.code });
      throw e;
    } finally {
      live.busy--;
      live.lastUsed = this.#now();
      this.#metrics.inFlight.dec({ kind });
      this.#metrics.latency.observe({ kind, op }, (this.#now() - started) / 1000);
    }
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
    else this.#metrics.retries.inc({ kind, code: error.code });
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
    await sleep(decision.delayMs, signal);
  }

  async *#listTree(
    storageId: number,
    root: string,
    options: ListOptions | undefined,
  ): AsyncGenerator<TreeListing> {
    const signal = options?.signal;
    if (signal) expectManyListeners(signal);
    const live = await this.#acquireLive(storageId);
    const iterator = live.client.listTree!(root, options)[Symbol.asyncIterator]();
    try {
      for (;;) {
        // One slot per step: the backend fetches a page (or yields from one it has) while
        // the slot is held; the engine's reconciling of what it got holds none.
        const release = await this.#limiter.acquire(this.#target(live), signal);
        let step: IteratorResult<TreeListing>;
        try {
          step = await this.#attempt(live, 'listTree', () => iterator.next());
        } catch (caught) {
          const e = toStorageError(caught);
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
      await iterator.return?.().catch(() => undefined);
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
      client = this.#deps.createClient(kind, split.backend, { env: this.#deps.env });
      await client.connect();
    } catch (caught) {
      await client?.close().catch(() => undefined);
      const e = toStorageError(caught, '/');
      this.#metrics.connects.inc({ kind, outcome: 'error' });
      this.#log.warn(
        { storageId, tenantId: config.tenantId, kind, code: e.code, err: e },
        'storage connect failed',
      );
      throw e;
    }
    this.#metrics.connects.inc({ kind, outcome: 'ok' });
    this.#metrics.connectLatency.observe({ kind }, (this.#now() - started) / 1000);
    if (this.#closed) {
      await client.close().catch(() => undefined);
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
