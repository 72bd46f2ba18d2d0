import { lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from '../../src/app.js';
import { MemoryTree } from '../../src/storage/backends/memory-tree.js';
import { registerMemoryVolume, unregisterMemoryVolume } from '../../src/storage/backends/memory.js';
import type { StorageRecord } from '../../src/db/repositories/storages.js';
import type { IndexedEntry } from '../../src/db/entries.js';
import type { ScanOptions } from '../../src/scan/engine.js';
import type { RecordedScanResult } from '../../src/scan/runner.js';
import { parseStorageSpec } from '../../src/storage/url.js';

let counter = 0;

/** A fresh temporary folder, removed by the returned cleanup. */
export function tempDir(prefix = 'trawl-test-'): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

export interface MemoryFixture {
  app: App;
  tree: MemoryTree;
  storage: StorageRecord;
  volume: string;
  /** Every indexed entry of the storage, ordered by path. */
  indexed(): Promise<IndexedEntry[]>;
  close(): Promise<void>;
}

/**
 * An App on a fresh SQLite file (or `database` when given) with one memory storage
 * registered in it. Each call gets its own volume name and database.
 */
export async function memoryFixture(
  options: { database?: string; tree?: MemoryTree } = {},
): Promise<MemoryFixture> {
  const dir = tempDir();
  const volume = `vol-${process.pid}-${++counter}-${Math.random().toString(36).slice(2)}`;
  const tree = registerMemoryVolume(volume, options.tree ?? new MemoryTree());
  const app = await App.open({
    database: options.database ?? join(dir.path, 'index.db'),
    tenant: 'default',
  });
  const storage = await app.index.storages.upsert({
    tenantId: app.tenantId,
    name: volume,
    kind: 'memory',
    location: `memory://${volume}`,
    options: { volume },
  });
  return {
    app,
    tree,
    storage,
    volume,
    async indexed() {
      const out: IndexedEntry[] = [];
      const scope = { tenantId: storage.tenantId, storageId: storage.id };
      for await (const e of app.index.entries.list(scope, '/', { recursive: true })) out.push(e);
      return out;
    },
    async close() {
      await app.close();
      unregisterMemoryVolume(volume);
      dir.cleanup();
    },
  };
}

/** The tree as sorted [path, isDir, size, mtime] rows, comparable with the index. */
export function treeRows(tree: MemoryTree): Array<[string, boolean, number, number]> {
  return [...tree.walk()]
    .map((e) => [e.path, e.isDir, e.size, e.mtime] as [string, boolean, number, number])
    .sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])));
}

export function indexRows(entries: IndexedEntry[]): Array<[string, boolean, number, number]> {
  return entries.map((e) => [e.path, e.isDir, e.size, e.mtime]);
}

export interface LocalFixture {
  app: App;
  storage: StorageRecord;
  /** The folder on disk that the storage indexes. */
  root: string;
  /** The SQLite index file. */
  dbFile: string;
  scan(options?: ScanOptions): Promise<RecordedScanResult>;
  /** Every indexed entry of the storage, ordered by path. */
  indexed(): Promise<IndexedEntry[]>;
  close(): Promise<void>;
}

/**
 * An App on a fresh SQLite file with a local storage at `root` (a real folder), registered
 * the way the CLI registers one. `extra` carries backend options (`followSymlinks`, `threads`).
 */
export async function localFixture(
  root: string,
  extra: Record<string, unknown> = {},
): Promise<LocalFixture> {
  const dir = tempDir('trawl-db-');
  const dbFile = join(dir.path, 'index.db');
  const app = await App.open({ database: dbFile, tenant: 'default' });
  const storage = await app.ensureStorage(parseStorageSpec(root, extra));
  return {
    app,
    storage,
    root,
    dbFile,
    scan: (options) => app.scan(storage, options),
    async indexed() {
      const out: IndexedEntry[] = [];
      const scope = { tenantId: storage.tenantId, storageId: storage.id };
      for await (const e of app.index.entries.list(scope, '/', { recursive: true })) out.push(e);
      return out;
    },
    async close() {
      await app.close();
      dir.cleanup();
    },
  };
}

/**
 * A folder on disk as sorted [path, isDir, size, mtime] rows, the way the local backend
 * indexes it: symlinks and special files left out, mtimes in whole milliseconds. An
 * explicit stack, not recursion, so a deep tree cannot overflow it.
 */
export function diskRows(root: string): Array<[string, boolean, number, number]> {
  const rows: Array<[string, boolean, number, number]> = [];
  const stack = ['/'];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    const base = dir === '/' ? root : root + dir;
    for (const name of readdirSync(base)) {
      const path = dir === '/' ? `/${name}` : `${dir}/${name}`;
      // BigInt: exact whole milliseconds (a number's mtimeMs can round up to the next one).
      const st = lstatSync(`${base}/${name}`, { bigint: true });
      if (st.isDirectory()) {
        rows.push([path, true, 0, Number(st.mtimeMs)]);
        stack.push(path);
      } else if (st.isFile()) rows.push([path, false, Number(st.size), Number(st.mtimeMs)]);
    }
  }
  return rows.sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])));
}

/** A storage's index as `path:d` / `path:size` lines in path order: compact to compare. */
export async function indexLines(
  app: App,
  storage: { tenantId: number; id: number },
): Promise<string[]> {
  const out: string[] = [];
  const scope = { tenantId: storage.tenantId, storageId: storage.id };
  for await (const e of app.index.entries.list(scope, '/', { recursive: true })) {
    out.push(`${e.path}:${e.isDir ? 'd' : e.size}`);
  }
  return out;
}
