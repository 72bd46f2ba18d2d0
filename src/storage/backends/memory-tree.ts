import { StorageError, type StorageErrorCode } from '../errors.js';
import { normalizePath, baseName, parentOf, joinPath } from '../paths.js';
import type { Entry } from '../types.js';

interface FileNode {
  isDir: false;
  size: number;
  mtime: number;
  etag?: string;
}
interface DirNode {
  isDir: true;
  mtime: number;
  children: Map<string, Node>;
}
type Node = FileNode | DirNode;

export interface InjectedFault {
  code: StorageErrorCode;
  message?: string;
  retryAfterMs?: number;
  /** How many list calls fail before the directory lists again. @default Infinity */
  times?: number;
}

/**
 * An in-memory directory tree: the storage behind the `memory` backend, for tests and
 * benchmarks. Mutate it between scans; inject failures, latency and listing hooks to
 * see how the engine and the StorageService react.
 */
export class MemoryTree {
  readonly #root: DirNode = { isDir: true, mtime: 0, children: new Map() };
  readonly #faults = new Map<string, InjectedFault & { left: number }>();
  /** Added to every list call. */
  latencyMs = 0;
  /** Runs before every list (after the latency); may throw a StorageError or mutate the tree. */
  beforeList: ((dir: string) => void | Promise<void>) | undefined;
  /** Observability for tests: calls made and the highest number of concurrent lists seen. */
  readonly stats = { lists: 0, inFlight: 0, maxInFlight: 0 };

  mkdir(path: string, mtime = 0): this {
    this.#ensureDir(normalizePath(path), mtime);
    return this;
  }

  /** Creates or replaces a file, creating its parents. */
  writeFile(path: string, size = 0, mtime = 0, etag?: string): this {
    const p = normalizePath(path);
    const parent = this.#ensureDir(parentOf(p), 0);
    const node: FileNode = { isDir: false, size, mtime };
    if (etag !== undefined) node.etag = etag;
    parent.children.set(baseName(p), node);
    return this;
  }

  remove(path: string): this {
    const p = normalizePath(path);
    const parent = this.#lookupDir(parentOf(p));
    if (!parent?.children.delete(baseName(p))) throw new Error(`memory tree: no such entry ${p}`);
    return this;
  }

  rename(from: string, to: string): this {
    const f = normalizePath(from);
    const t = normalizePath(to);
    const node = this.#lookup(f);
    if (!node) throw new Error(`memory tree: no such entry ${f}`);
    this.remove(f);
    this.#ensureDir(parentOf(t), 0).children.set(baseName(t), node);
    return this;
  }

  /** Changes a file's size and/or mtime. */
  modify(path: string, change: { size?: number; mtime?: number; etag?: string }): this {
    const node = this.#lookup(normalizePath(path));
    if (!node) throw new Error(`memory tree: no such entry ${path}`);
    if (change.mtime !== undefined) node.mtime = change.mtime;
    if (!node.isDir) {
      if (change.size !== undefined) node.size = change.size;
      if (change.etag !== undefined) node.etag = change.etag;
    }
    return this;
  }

  exists(path: string): boolean {
    return this.#lookup(normalizePath(path)) !== undefined;
  }

  /** Makes listing `dir` throw a StorageError with this code (`times` times, default always). */
  failDir(dir: string, fault: StorageErrorCode | InjectedFault): this {
    const f = typeof fault === 'string' ? { code: fault } : fault;
    this.#faults.set(normalizePath(dir), { ...f, left: f.times ?? Infinity });
    return this;
  }

  clearFaults(): this {
    this.#faults.clear();
    return this;
  }

  /** Every entry below the root, depth-first, for comparing an index with the tree. */
  *walk(dir = '/'): Generator<Entry> {
    const node = this.#lookupDir(dir);
    if (!node) return;
    for (const [name, child] of node.children) {
      const path = joinPath(dir, name);
      yield toEntry(path, name, child);
      if (child.isDir) yield* this.walk(path);
    }
  }

  async list(dir: string, signal?: AbortSignal): Promise<Entry[]> {
    this.stats.lists++;
    this.stats.inFlight++;
    this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.stats.inFlight);
    try {
      if (this.latencyMs > 0) await sleep(this.latencyMs, signal);
      if (this.beforeList) await this.beforeList(dir);
      const fault = this.#faults.get(dir);
      if (fault && fault.left > 0) {
        fault.left--;
        throw new StorageError(
          fault.code,
          fault.message ?? `injected ${fault.code} listing ${dir}`,
          {
            path: dir,
            retryAfterMs: fault.retryAfterMs,
          },
        );
      }
      const node = this.#lookup(dir);
      if (!node) throw new StorageError('NOT_FOUND', `no such directory: ${dir}`, { path: dir });
      if (!node.isDir)
        throw new StorageError('NOT_FOUND', `not a directory: ${dir}`, { path: dir });
      const out: Entry[] = [];
      for (const [name, child] of node.children)
        out.push(toEntry(joinPath(dir, name), name, child));
      return out;
    } finally {
      this.stats.inFlight--;
    }
  }

  #lookup(path: string): Node | undefined {
    if (path === '/') return this.#root;
    let node: Node | undefined = this.#root;
    for (const part of path.slice(1).split('/')) {
      if (!node?.isDir) return undefined;
      node = node.children.get(part);
    }
    return node;
  }

  #lookupDir(path: string): DirNode | undefined {
    const node = this.#lookup(path);
    return node?.isDir ? node : undefined;
  }

  #ensureDir(path: string, mtime: number): DirNode {
    let node: DirNode = this.#root;
    if (path === '/') return node;
    for (const part of path.slice(1).split('/')) {
      let next = node.children.get(part);
      if (!next) {
        next = { isDir: true, mtime, children: new Map() };
        node.children.set(part, next);
      } else if (!next.isDir) {
        throw new Error(`memory tree: ${part} is a file`);
      }
      node = next;
    }
    return node;
  }
}

function toEntry(path: string, name: string, node: Node): Entry {
  const entry: Entry = {
    path,
    name,
    isDir: node.isDir,
    size: node.isDir ? 0 : node.size,
    mtime: node.mtime,
  };
  if (!node.isDir && node.etag !== undefined) entry.etag = node.etag;
  return entry;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new StorageError('CANCELLED', 'cancelled'));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new StorageError('CANCELLED', 'cancelled'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
