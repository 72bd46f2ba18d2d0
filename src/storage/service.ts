import { StorageError, toStorageError } from './errors.js';
import { createClient } from './registry.js';
import type { BackendDeps, Entry, ListOptions, StorageClient, TreeListing } from './types.js';
import { Semaphore } from '../util/semaphore.js';

/** A storage as the StorageService needs it, handed in by a lookup (the DB in the app). */
export interface StorageConfig {
  id: number;
  tenantId: number;
  kind: string;
  /** Raw options as stored; validated by the backend at connect time. */
  options: unknown;
  /** Bumped on every change of options; a new version replaces a live client. */
  version: number;
  enabled: boolean;
  /** Requests in flight to this storage. @default 5 */
  maxConcurrency?: number;
}

export type StorageLookup = (storageId: number) => Promise<StorageConfig | undefined>;

export interface StorageServiceDeps {
  lookup: StorageLookup;
  env?: BackendDeps['env'];
  /** Builds a client; tests swap it. @default the registry's createClient */
  createClient?: typeof createClient;
}

interface LiveClient {
  client: StorageClient;
  config: StorageConfig;
  gate: Semaphore;
  lastUsed: number;
}

/**
 * What the scan engine holds for one storage: every call goes through the service's
 * limits, so no caller can open a connection around them.
 */
export interface StorageHandle {
  readonly storageId: number;
  list(dir: string, options?: ListOptions): Promise<Entry[]>;
  /** Present when the backend has a flat tree listing. */
  listTree?(root: string, options?: ListOptions): AsyncIterable<TreeListing>;
  check(): Promise<void>;
}

export const DEFAULT_MAX_CONCURRENCY = 5;

/**
 * The one holder of live storage clients in a process: single-flight connects, per-storage
 * concurrency limits, release on connection-level errors, closeAll on shutdown.
 */
export class StorageService {
  readonly #deps: Required<StorageServiceDeps>;
  readonly #live = new Map<number, LiveClient>();
  readonly #connecting = new Map<number, Promise<LiveClient>>();

  constructor(deps: StorageServiceDeps) {
    this.#deps = { env: process.env, createClient, ...deps };
  }

  /** The cached client, or one connect shared by every concurrent caller for this id. */
  async getClient(storageId: number): Promise<StorageClient> {
    return (await this.#acquireLive(storageId)).client;
  }

  handle(storageId: number): StorageHandle {
    return {
      storageId,
      list: (dir, options) => this.#call(storageId, options, (c) => c.list(dir, options)),
      check: () => this.#call(storageId, undefined, (c) => c.check()),
    };
  }

  /** Retries and rate-limit waits spent on this storage so far (for scan summaries). */
  stats(_storageId: number): { retries: number; rateLimitWaits: number } {
    return { retries: 0, rateLimitWaits: 0 };
  }

  /** Closes and forgets one storage's client (config changed, storage deleted). */
  async release(storageId: number): Promise<void> {
    const live = this.#live.get(storageId);
    this.#live.delete(storageId);
    if (live) await live.client.close().catch(() => undefined);
  }

  async closeAll(): Promise<void> {
    const all = [...this.#live.keys()];
    await Promise.all(all.map((id) => this.release(id)));
  }

  async #call<T>(
    storageId: number,
    options: ListOptions | undefined,
    fn: (client: StorageClient) => Promise<T>,
  ): Promise<T> {
    const live = await this.#acquireLive(storageId);
    await live.gate.acquire(options?.signal);
    try {
      live.lastUsed = Date.now();
      return await fn(live.client);
    } catch (error) {
      const e = toStorageError(error);
      if (e.code === 'UNAVAILABLE' && this.#live.get(storageId) === live)
        await this.release(storageId);
      throw e;
    } finally {
      live.gate.release();
    }
  }

  #acquireLive(storageId: number): Promise<LiveClient> {
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
    if (!config.enabled)
      throw new StorageError('INVALID_CONFIG', `storage ${storageId} is disabled`);
    const client = this.#deps.createClient(config.kind, config.options, { env: this.#deps.env });
    try {
      await client.connect();
    } catch (error) {
      await client.close().catch(() => undefined);
      throw toStorageError(error, '/');
    }
    const live: LiveClient = {
      client,
      config,
      gate: new Semaphore(config.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY),
      lastUsed: Date.now(),
    };
    this.#live.set(storageId, live);
    return live;
  }
}
