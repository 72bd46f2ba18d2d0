import { openIndex, type Index } from './db/open.js';
import { StorageService, type StorageConfig } from './storage/service.js';
import { runScan, type RecordedScanResult } from './scan/runner.js';
import type { ScanOptions } from './scan/engine.js';
import type { StorageSpec } from './storage/url.js';
import type { StorageRecord } from './db/repositories/storages.js';

export interface AppOptions {
  /** SQLite file or postgres:// URL. */
  database: string;
  tenant: string;
  env?: NodeJS.ProcessEnv;
}

/** The composition root: builds everything once; nothing else builds anything. */
export class App {
  readonly index: Index;
  readonly storage: StorageService;
  readonly tenantId: number;

  private constructor(index: Index, storage: StorageService, tenantId: number) {
    this.index = index;
    this.storage = storage;
    this.tenantId = tenantId;
  }

  static async open(options: AppOptions): Promise<App> {
    const index = await openIndex(options.database);
    try {
      const tenantId = await index.tenants.ensure(options.tenant);
      const storage = new StorageService({
        lookup: (id) => lookupStorage(index, id),
        env: options.env ?? process.env,
      });
      return new App(index, storage, tenantId);
    } catch (error) {
      await index.close();
      throw error;
    }
  }

  /** The tenant's storage at this place, registered on first use. */
  ensureStorage(spec: StorageSpec): Promise<StorageRecord> {
    return this.index.storages.upsert({
      tenantId: this.tenantId,
      name: spec.location,
      kind: spec.kind,
      location: spec.location,
      options: spec.options,
    });
  }

  findStorage(spec: StorageSpec): Promise<StorageRecord | undefined> {
    return this.index.storages.findByLocation(this.tenantId, spec.kind, spec.location);
  }

  scan(storage: StorageRecord, options: ScanOptions = {}): Promise<RecordedScanResult> {
    return runScan(
      { storage: this.storage, entries: this.index.entries, scans: this.index.scans },
      { tenantId: storage.tenantId, storageId: storage.id },
      options,
    );
  }

  async close(): Promise<void> {
    await this.storage.closeAll();
    await this.index.close();
  }
}

async function lookupStorage(index: Index, id: number): Promise<StorageConfig | undefined> {
  const s = await index.storages.get(id);
  if (!s) return undefined;
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
