import { dirname, join } from 'node:path';
import { StorageCatalog } from './catalog/storages.js';
import { loadConfig } from './config/env.js';
import { dialectOf } from './db/dialect.js';
import { guard } from './db/guard.js';
import { openIndex, type Index, type IndexWait } from './db/open.js';
import { StorageService, type StorageConfig } from './storage/service.js';
import { runScan, type RecordedScanResult, type ScanLease } from './scan/runner.js';
import { DbLeaseStore } from './jobs/db-lease.js';
import type { LeaseStore } from './jobs/lease.js';
import type { RedisSemaphore } from './jobs/redis-semaphore.js';
import type { ScanQueue } from './jobs/scan-queue.js';
import type { FleetSchedules } from './jobs/schedules.js';
import type { Redis } from 'ioredis';
import type { ScanOptions } from './scan/engine.js';
import type { StorageSpec } from './storage/url.js';
import type { StorageRecord } from './db/repositories/storages.js';
import type { Logger } from './observability/logger.js';
import { silentLogger } from './observability/silent-logger.js';
import type { LimitOptions } from './storage/limits/keys.js';
import { MemoryBudget } from './storage/limits/budget.js';
import { splitServiceOptions } from './storage/limits/options.js';
import type { Registry } from 'prom-client';
import { Keyring } from './secrets/keyring.js';
import type { AddressPolicy } from './storage/net/address-policy.js';

export interface AppOptions {
  /** SQLite file or postgres:// URL. */
  database: string;
  tenant: string;
  env?: NodeJS.ProcessEnv;
  /** @default JSON lines on stderr at `$TRAWL_LOG_LEVEL`, silent when unset */
  logger?: Logger;
  /**
   * Where the storage layer's metrics go (`trawl serve` serves them at `/metrics`); `false`:
   * nowhere, for a process that never serves them (the command line): prom-client is not
   * even loaded then. @default a fresh registry
   */
  metrics?: Registry | false;
  /** Shared caps per limit key (by kind or key) and per tenant, for the StorageService. */
  limits?: LimitOptions;
  /** Cancels opening the index: `open` rejects with an IndexError `CANCELLED`. */
  signal?: AbortSignal;
  /** Called when opening the index has to wait (a lock, a silent server). */
  onIndexWait?: (wait: IndexWait) => void;
  /**
   * Migrate the index on open; `false` only checks that it lacks no migration and refuses it
   * otherwise ("run `trawl migrate`"): the command line passes `false` in a fleet, so that
   * workers and API nodes of different versions never race to change the schema.
   * @default true
   */
  migrate?: boolean;
  /** A line for the person at the command line: something done only half-way. */
  onNotice?: (line: string) => void;
  /**
   * The caller only reads (`trawl ls`, `scans`…): an index it cannot write is opened
   * read-only (OpenOptions.readOnly), and opening writes nothing when it need not (the
   * tenant's row is looked up before it is made). @default false
   */
  readOnly?: boolean;
  /**
   * The SSRF guard for every storage connection (`trawl serve` passes one, from
   * `addressPolicyFromEnv`). @default none: the CLI connects anywhere its user can
   */
  addressPolicy?: AddressPolicy;
  /**
   * Where backends find credentials a storage leaves out (`TRAWL_WEBDAV_PASSWORD`, the AWS
   * chain's variables…). `trawl serve` passes an empty one: a tenant's storage must never be
   * handed the operator's own credentials. @default `env`
   */
  storageEnv?: NodeJS.ProcessEnv;
  /**
   * `false`: the caller uses the app for scans only, and never `index.db` or
   * `index.queries`; SQLite then loads no query builder unless a repository call needs it
   * (OpenOptions.queryBuilder). A fleet always loads it. @default true
   */
  queryBuilder?: boolean;
}

/** The composition root: builds everything once; nothing else builds anything. */
export class App {
  readonly index: Index;
  readonly storage: StorageService;
  readonly tenantId: number;
  /**
   * The storages as managed objects (names, options, schedules). It seals secrets on the way
   * in; only the StorageService's lookup gets them opened.
   */
  readonly catalog: StorageCatalog;
  /** Listing memory shared by every scan of this process. */
  readonly budget = new MemoryBudget();
  /** Undefined when opened with `metrics: false`. */
  readonly #metrics: Registry | undefined;
  /** Storages known to this process only (dry runs of unregistered places), by negative id. */
  readonly #unsaved: Map<number, StorageRecord>;
  readonly #config: ReturnType<typeof loadConfig>;
  readonly #log: Logger;
  #redis: Redis | undefined;
  #gates: RedisSemaphore | undefined;
  #leases: LeaseStore | undefined;
  #queue: ScanQueue | undefined;
  #schedules: FleetSchedules | undefined;
  #notice: ((line: string) => void) | undefined;
  /** The fleet's modules, loaded by `open` when a Redis URL is configured (jobs/fleet.ts). */
  #fleet: Fleet | undefined;

  private constructor(
    index: Index,
    storage: StorageService,
    tenantId: number,
    unsaved: Map<number, StorageRecord>,
    config: ReturnType<typeof loadConfig>,
    log: Logger,
    catalog: StorageCatalog,
    metrics: Registry | undefined,
  ) {
    this.catalog = catalog;
    this.index = index;
    this.storage = storage;
    this.tenantId = tenantId;
    this.#unsaved = unsaved;
    this.#config = config;
    this.#log = log;
    this.#metrics = metrics;
  }

  /** Every metric of this process, for `/metrics`; thrown when opened with `metrics: false`. */
  get metrics(): Registry {
    if (!this.#metrics) throw new Error('bug: the app was opened without metrics (metrics: false)');
    return this.#metrics;
  }

  /** Whether this process is part of a fleet (a Redis URL is configured). */
  get fleet(): boolean {
    return this.#config.redisUrl !== undefined;
  }

  /** Whether index writes also write their change events to the outbox (a fleet that relays them). */
  get changeEvents(): boolean {
    return this.fleet && this.#config.changeEvents;
  }

  /** The Redis of the fleet, connected on first use; undefined in embedded mode. */
  get redis(): Redis | undefined {
    const url = this.#config.redisUrl;
    if (!url) return undefined;
    const { connectRedis } = this.#fleetModules();
    this.#redis ??= connectRedis(url, (error) =>
      // Logged, not thrown: the client reconnects with backoff while Redis is away.
      this.#log.warn({ err: error }, 'redis connection error; retrying'),
    );
    return this.#redis;
  }

  /** The fleet's scan queue; undefined in embedded mode (no Redis). */
  get scanQueue(): ScanQueue | undefined {
    const url = this.#config.redisUrl;
    if (!url) return undefined;
    const { ScanQueue, redisOptions, queuePrefix } = this.#fleetModules();
    this.#queue ??= new ScanQueue(
      redisOptions(url),
      queuePrefix(this.#config.redisPrefix),
      this.redis,
    );
    return this.#queue;
  }

  /**
   * The fleet's job schedulers, one per scheduled storage (kept in step with the storages by
   * the catalog's changes and the workers' reconcile); undefined in embedded mode.
   */
  get schedules(): FleetSchedules | undefined {
    const url = this.#config.redisUrl;
    if (!url) return undefined;
    const { FleetSchedules, ScheduleRepository, redisOptions, queuePrefix } = this.#fleetModules();
    this.#schedules ??= new FleetSchedules(
      redisOptions(url),
      queuePrefix(this.#config.redisPrefix),
      new ScheduleRepository(this.index.db),
      (error) => this.#log.warn({ err: error }, 'redis connection error (schedules); retrying'),
    );
    return this.#schedules;
  }

  /**
   * A storage changed (its schedule, or whether it exists and is enabled): its job scheduler
   * follows. Bounded and never thrown: with Redis away the change is in the index, and the
   * workers' next reconcile applies it.
   */
  async #publishSchedule(storageId: number): Promise<void> {
    const schedules = this.schedules;
    if (!schedules) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        schedules.sync(storageId),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('Redis did not answer within 5 s')), 5_000);
        }),
      ]);
    } catch (error) {
      this.#log.warn(
        { storageId, err: error },
        "storage's schedule not published to the fleet; the workers' reconcile will",
      );
      this.#notice?.(
        `the change is stored, but Redis did not take storage ${storageId}'s schedule ` +
          `(${(error as Error).message}); the workers apply it when they next reconcile (within 5 min)`,
      );
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The fleet's gates in Redis (the StorageService's tenant and limit-key caps, the
   * per-tenant cap on running scans); undefined in embedded mode.
   */
  get gates(): RedisSemaphore | undefined {
    return this.#gates;
  }

  /** Scans of one tenant that may run at once (fleet-wide in a fleet). */
  get tenantMaxScans(): number {
    return this.#config.tenantMaxScans;
  }

  /** How long a lease lives unless renewed. */
  get leaseTtlMs(): number {
    return this.#config.leaseTtlMs;
  }

  /** The prefix of trawl's keys in Redis. */
  /** The Redis URL of the fleet; undefined in embedded mode. */
  get redisUrl(): string | undefined {
    return this.#config.redisUrl;
  }

  get redisPrefix(): string {
    return this.#config.redisPrefix;
  }

  /**
   * One scan per storage: leases in Redis in a fleet, in the index itself in embedded mode
   * (processes sharing one SQLite file). Either grant bumps the storage's fence.
   */
  get leases(): LeaseStore {
    if (this.#leases) return this.#leases;
    const timing = { ttlMs: this.#config.leaseTtlMs };
    const redis = this.redis;
    const fleet = redis && this.#fleetModules();
    this.#leases = fleet
      ? new fleet.RedisLeaseStore(
          redis,
          // SQLite has no row locks to wait on: its busy timeout bounds the wait.
          (id, wait) =>
            fleet.bumpFence(
              this.index.db,
              id,
              this.index.dialect === 'postgres' ? wait : undefined,
            ),
          {
            prefix: this.#config.redisPrefix,
            timing,
          },
        )
      : new DbLeaseStore(this.index.leases, timing);
    return this.#leases;
  }

  /** The fleet's modules; only ever called with a Redis URL configured, when `open` loaded them. */
  #fleetModules(): Fleet {
    if (!this.#fleet) throw new Error('bug: the fleet modules are loaded only with a Redis URL');
    return this.#fleet;
  }

  static async open(options: AppOptions): Promise<App> {
    const config = loadConfig(options.env ?? process.env);
    // Embedded, nothing of the fleet loads (ioredis, BullMQ): a laptop's scan starts faster.
    const fleet = config.redisUrl ? await import('./jobs/fleet.js') : undefined;
    const index = await openIndex(options.database, {
      signal: options.signal,
      onWait: options.onIndexWait,
      busyTimeoutMs: config.sqliteBusyTimeoutMs,
      migrate: options.migrate ?? true,
      readOnly: options.readOnly ?? false,
      // A fleet's pieces (Redis leases, schedules) take the query builder.
      queryBuilder: fleet !== undefined || options.queryBuilder !== false,
    });
    try {
      const tenants = guard(index.tenants, options.signal);
      // A reader needs no row of its own: a tenant unknown to a read-only index has nothing
      // in it (0 matches no row).
      const known = options.readOnly ? (await tenants.byName(options.tenant))?.id : undefined;
      const tenantId = known ?? (index.readOnly ? 0 : await tenants.ensure(options.tenant));
      const unsaved = new Map<number, StorageRecord>();
      // pino loads only when someone asked for logs (silent-logger.ts).
      const log =
        options.logger ??
        (config.logLevel === 'silent'
          ? silentLogger()
          : (await import('./observability/logger.js')).createLogger({ level: config.logLevel }));
      // Services below need the app, made last: they reach it through this.
      const made: { app?: App } = {};
      const catalog = new StorageCatalog({
        storages: index.storages,
        keyring: keyringFor(options.database, options.env ?? process.env),
        // Every change reaches live clients (a new version reconnects, a removed one closes)
        // and, in a fleet, the storage's job scheduler.
        changed: async (id) => {
          await storage.refresh(id);
          if (made.app) await made.app.#publishSchedule(id);
        },
      });
      // Rows an older trawl wrote hold secrets in plain text: sealed now, once.
      if (!index.readOnly) await catalog.sealLegacy();
      // In a fleet the shared caps hold across every worker: counted in Redis, where a dead
      // worker's slots expire with the lease TTL.
      // (Its Redis is the app's, connected on first use: after the app is made.)
      const gates = fleet
        ? new fleet.RedisSemaphore(() => made.app!.redis!, {
            prefix: fleet.queuePrefix(config.redisPrefix),
            ttlMs: config.leaseTtlMs,
            onLost: (gate, n) =>
              log.warn({ gate, slots: n }, 'fleet-wide gate slots expired before renewal'),
          })
        : undefined;
      // prom-client loads only with a registry: a process that never serves `/metrics`
      // (`metrics: false`) counts into the StorageService's no-ops.
      const prom =
        options.metrics === false ? undefined : await import('./observability/metrics.js');
      const metrics =
        options.metrics === false ? undefined : (options.metrics ?? prom!.createRegistry());
      const storage: StorageService = new StorageService({
        lookup: async (id) => {
          const s = unsaved.get(id) ?? (await catalog.opened(id));
          return s && toConfig(s);
        },
        env: options.storageEnv ?? options.env ?? process.env,
        ...(prom && metrics ? { metrics: prom.storageMetrics(metrics) } : {}),
        limits: options.limits ?? limitsFrom(config),
        ...(gates ? { gates } : {}),
        ...(options.addressPolicy ? { addressPolicy: options.addressPolicy } : {}),
        logger: log,
      });
      const app = new App(index, storage, tenantId, unsaved, config, log, catalog, metrics);
      app.#gates = gates;
      app.#fleet = fleet;
      app.#notice = options.onNotice;
      made.app = app;
      return app;
    } catch (error) {
      await index.close();
      throw error;
    }
  }

  /**
   * The tenant's storage at this place, registered on first use. Secrets the URL leaves out
   * keep their stored values; new options bump the version, so a live client of the old
   * ones is not reused.
   */
  ensureStorage(spec: StorageSpec): Promise<StorageRecord> {
    return this.catalog.ensure(this.tenantId, spec);
  }

  findStorage(spec: StorageSpec): Promise<StorageRecord | undefined> {
    return this.catalog.findByLocation(this.tenantId, spec);
  }

  /**
   * The registered storage at this place, or one that lives only in this process: a dry run
   * of a place never scanned must not register it (it writes nothing). Its negative id
   * matches no index rows, so everything it lists counts as new.
   */
  async storageForDryRun(spec: StorageSpec): Promise<StorageRecord> {
    const found = await this.findStorage(spec);
    if (found) return found;
    const id = -(this.#unsaved.size + 1);
    const record: StorageRecord = {
      id,
      tenantId: this.tenantId,
      name: spec.location,
      kind: spec.kind,
      location: spec.location,
      options: spec.options,
      version: 1,
      enabled: true,
      maxConcurrency: null,
    };
    this.#unsaved.set(id, record);
    return record;
  }

  /** Runs one scan here and now; under `lease` when it holds the storage's lease. */
  scan(
    storage: StorageRecord,
    options: ScanOptions = {},
    lease?: ScanLease,
  ): Promise<RecordedScanResult> {
    return runScan(
      {
        storage: this.storage,
        entries: this.index.entries,
        scans: this.index.scans,
        budget: this.budget,
      },
      // In a fleet, every batch's change event goes to the outbox, relayed by the workers.
      {
        tenantId: storage.tenantId,
        storageId: storage.id,
        lease,
        outbox: this.fleet && this.#config.changeEvents,
        // A storage of a dry run of a place never scanned (storageForDryRun): no row has its id.
        unindexed: storage.id < 0,
      },
      withStorageExcludes(storage, options),
    );
  }

  async close(): Promise<void> {
    await this.storage.closeAll();
    await this.#gates?.close();
    await this.#leases?.close();
    await this.#queue?.close();
    await this.#schedules?.close();
    await closeRedis(this.#redis);
    await this.index.close();
  }
}

type Fleet = typeof import('./jobs/fleet.js');

/**
 * Keys for secrets at rest. Embedded (SQLite): `secret.key` beside the index, created on
 * first need. A fleet (PostgreSQL) never creates one: other machines would not have it.
 */
function keyringFor(database: string, env: NodeJS.ProcessEnv): Keyring {
  const embedded = dialectOf(database) === 'sqlite';
  return new Keyring({
    env,
    defaultKeyFile: embedded ? join(dirname(database), 'secret.key') : undefined,
    create: embedded,
  });
}

/** The scan's options with the storage's own `exclude` list (ranked below marker files). */
function withStorageExcludes(storage: StorageRecord, options: ScanOptions): ScanOptions {
  const exclude = splitServiceOptions(storage.options).service.exclude;
  return exclude ? { ...options, storageExclude: exclude } : options;
}

/** The shared caps the environment sets (TRAWL_*_MAX_CONCURRENCY). */
function limitsFrom(config: ReturnType<typeof loadConfig>): LimitOptions {
  const limits: LimitOptions = {};
  if (config.kindMaxConcurrency) limits.perKind = config.kindMaxConcurrency;
  if (config.keyMaxConcurrency) limits.perKey = config.keyMaxConcurrency;
  if (config.tenantMaxConcurrency !== undefined) limits.perTenant = config.tenantMaxConcurrency;
  return limits;
}

function toConfig(s: StorageRecord): StorageConfig {
  const config: StorageConfig = {
    id: s.id,
    tenantId: s.tenantId,
    kind: s.kind,
    options: s.options,
    version: s.version,
    enabled: s.enabled,
  };
  if (s.maxConcurrency !== null) config.maxConcurrency = s.maxConcurrency;
  return config;
}

/**
 * A polite QUIT when Redis is there, bounded; then the socket goes regardless. (A QUIT sent
 * while Redis is away waits in the client's offline queue forever: a process stopping during
 * an outage would never exit.)
 */
async function closeRedis(redis: Redis | undefined): Promise<void> {
  if (!redis) return;
  if (redis.status === 'ready') {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      redis.quit().catch(() => undefined),
      new Promise((resolve) => (timer = setTimeout(resolve, 2_000))),
    ]);
    clearTimeout(timer);
  }
  redis.disconnect();
}
