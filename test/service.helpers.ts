import { MemoryTree } from '../src/storage/backends/memory-tree.js';
import { registerMemoryVolume, unregisterMemoryVolume } from '../src/storage/backends/memory.js';
import {
  StorageService,
  type StorageConfig,
  type StorageServiceDeps,
} from '../src/storage/service.js';
import { runScan } from '../src/scan/runner.js';
import type { ScanOptions } from '../src/scan/engine.js';
import { memoryFixture, type MemoryFixture } from './support/harness.js';

let counter = 0;

/** A memory volume with a unique name, unregistered by the returned cleanup. */
export function volume(tree = new MemoryTree()): { name: string; tree: MemoryTree; drop(): void } {
  const name = `svc-${process.pid}-${++counter}-${Math.random().toString(36).slice(2)}`;
  registerMemoryVolume(name, tree);
  return { name, tree, drop: () => unregisterMemoryVolume(name) };
}

/** Fills a tree: `fanout[0]` dirs under the root, `fanout[1]` under each of those…, and files. */
export function grow(tree: MemoryTree, fanout: number[], filesPerDir: number, dir = ''): void {
  for (let f = 0; f < filesPerDir; f++) tree.writeFile(`${dir}/f${f}.mkv`, f + 1, 1000 + f);
  if (fanout.length === 0) return;
  const [n, ...rest] = fanout;
  for (let i = 0; i < n!; i++) {
    tree.mkdir(`${dir}/d${i}`);
    grow(tree, rest, filesPerDir, `${dir}/d${i}`);
  }
}

/** Directories below the root and files a {@link grow}n tree holds. */
export function grown(fanout: number[], filesPerDir: number): { dirs: number; files: number } {
  let level = 1;
  let dirs = 0;
  for (const n of fanout) {
    level *= n;
    dirs += level;
  }
  return { dirs, files: (dirs + 1) * filesPerDir };
}

/** A config table the lookup answers from; tests change it to change a storage. */
export class Configs {
  readonly map = new Map<number, StorageConfig>();
  lookups = 0;

  add(config: Partial<StorageConfig> & { id: number; options: unknown }): StorageConfig {
    const full: StorageConfig = {
      tenantId: 1,
      kind: 'memory',
      version: 1,
      enabled: true,
      ...config,
    };
    this.map.set(full.id, full);
    return full;
  }

  lookup = async (id: number): Promise<StorageConfig | undefined> => {
    this.lookups++;
    await Promise.resolve();
    return this.map.get(id);
  };
}

/** Quick retries so fault tests do not sleep for seconds. */
export const FAST_RETRY = { baseDelayMs: 2, maxDelayMs: 20 } as const;

export interface ScanFixture extends MemoryFixture {
  service: StorageService;
  /** Scans the fixture's storage through {@link service} (the engine and runner as the app uses them). */
  scanWith(options?: ScanOptions): ReturnType<typeof runScan>;
}

/**
 * A memory fixture (App on a temp SQLite file) whose scans go through a StorageService built
 * here, with the deps the test needs (fast retries, a clock, a logger…).
 */
export async function scanFixture(
  deps: Partial<StorageServiceDeps> = {},
  tree?: MemoryTree,
): Promise<ScanFixture> {
  const fx = await memoryFixture(tree ? { tree } : {});
  const service = new StorageService({
    retry: FAST_RETRY,
    ...deps,
    lookup: async (id) => {
      const s = await fx.app.index.storages.get(id);
      if (!s) return undefined;
      return {
        id: s.id,
        tenantId: s.tenantId,
        kind: s.kind,
        options: s.options,
        version: s.version,
        enabled: s.enabled,
      };
    },
  });
  return {
    ...fx,
    service,
    scanWith: (options = {}) =>
      runScan(
        { storage: service, entries: fx.app.index.entries, scans: fx.app.index.scans },
        { tenantId: fx.storage.tenantId, storageId: fx.storage.id },
        options,
      ),
    async close() {
      await service.closeAll();
      await fx.close();
    },
  };
}
