import { availableParallelism } from 'node:os';
import { statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  InvalidConfigError,
  NotFoundError,
  PermissionDeniedError,
  StorageError,
  UnavailableError,
} from '../errors.js';
import { joinPath } from '../paths.js';
import type { BackendInfo, Entry, ListOptions, SkipReason, StorageClient } from '../types.js';
import {
  T_DIR,
  T_GONE,
  T_LOOP,
  T_SPECIAL,
  T_SYMLINK,
  T_UNREADABLE,
  WORKER_SOURCE,
  type ListReply,
  type ListRequest,
} from './local-worker.js';

export interface LocalOptions {
  /** Absolute path of the folder that is the storage's root. */
  root: string;
  /** Follow symbolic links (with loop detection). @default false */
  followSymlinks: boolean;
  /** Listing threads. @default min(4, available cores) */
  threads: number;
}

const SKIP_BY_TYPE: Record<number, SkipReason> = {
  [T_SYMLINK]: 'symlink',
  [T_SPECIAL]: 'special',
  [T_LOOP]: 'loop',
  [T_UNREADABLE]: 'unreadable',
};

/** Maps a Node errno to the contract's error codes: the one place this backend does it. */
export function mapLocalError(
  code: string | undefined,
  message: string,
  path: string,
): StorageError {
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return new NotFoundError(`no such directory: ${path}`, { path });
    case 'EACCES':
    case 'EPERM':
      return new PermissionDeniedError(`permission denied: ${path}`, { path });
    case 'ELOOP':
      return new NotFoundError(`symbolic link loop: ${path}`, { path });
    case 'EMFILE':
    case 'ENFILE':
    case 'EAGAIN':
    case 'EBUSY':
      return new UnavailableError(`${code} listing ${path}: ${message}`, { path });
    case 'EIO':
    case 'ENXIO':
    case 'ENODEV':
    case 'ESTALE':
    case 'ETIMEDOUT':
    case 'EHOSTDOWN':
      return new UnavailableError(`${code} listing ${path}: ${message}`, { path });
    default:
      return new StorageError('PROTOCOL', `${code ?? 'error'} listing ${path}: ${message}`, {
        path,
      });
  }
}

interface Pending {
  dir: string;
  resolve: (entries: Entry[]) => void;
  reject: (error: StorageError) => void;
}

interface Lane {
  worker: Worker;
  outstanding: number;
}

/** A local folder, listed by a small pool of worker threads. */
export class LocalClient implements StorageClient {
  readonly #options: LocalOptions;
  readonly #pending = new Map<number, Pending>();
  #lanes: Lane[] = [];
  #nextId = 0;

  constructor(options: LocalOptions) {
    this.#options = options;
  }

  async connect(): Promise<void> {
    await this.check();
    if (this.#lanes.length > 0) return;
    for (let i = 0; i < this.#options.threads; i++) {
      const worker = new Worker(WORKER_SOURCE, { eval: true });
      worker.unref();
      const lane: Lane = { worker, outstanding: 0 };
      worker.on('message', (reply: ListReply) => {
        lane.outstanding--;
        this.#settle(reply);
      });
      worker.on('error', (error) =>
        this.#failAll(new UnavailableError(`listing thread died: ${error.message}`)),
      );
      this.#lanes.push(lane);
    }
  }

  async close(): Promise<void> {
    const lanes = this.#lanes;
    this.#lanes = [];
    this.#failAll(new UnavailableError('local client closed'));
    await Promise.all(lanes.map((l) => l.worker.terminate()));
  }

  async check(): Promise<void> {
    const st = statSync(this.#options.root, { throwIfNoEntry: false });
    if (!st) throw new NotFoundError(`no such folder: ${this.#options.root}`, { path: '/' });
    if (!st.isDirectory())
      throw new NotFoundError(`not a folder: ${this.#options.root}`, { path: '/' });
  }

  list(dir: string, options?: ListOptions): Promise<Entry[]> {
    if (options?.signal?.aborted) return Promise.reject(new StorageError('CANCELLED', 'cancelled'));
    const lane = this.#leastBusy();
    if (!lane) return Promise.reject(new UnavailableError('local client is not connected'));
    const id = this.#nextId++;
    const request: ListRequest = {
      id,
      fsPath: this.#fsPath(dir),
      ancestors: this.#options.followSymlinks ? this.#ancestors(dir) : [],
      follow: this.#options.followSymlinks,
    };
    return new Promise<Entry[]>((resolve, reject) => {
      this.#pending.set(id, { dir, resolve, reject });
      lane.outstanding++;
      lane.worker.postMessage(request);
    });
  }

  #settle(reply: ListReply): void {
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    this.#pending.delete(reply.id);
    if (reply.error) {
      pending.reject(mapLocalError(reply.error.code, reply.error.message, pending.dir));
      return;
    }
    const { names, types, sizes, mtimes } = reply as Required<ListReply>;
    const entries: Entry[] = [];
    for (let i = 0; i < names.length; i++) {
      const type = types[i]!;
      if (type === T_GONE) continue;
      const name = names[i]!;
      const entry: Entry = {
        path: joinPath(pending.dir, name),
        name,
        isDir: type === T_DIR,
        size: sizes[i]!,
        mtime: mtimes[i]!,
      };
      const skip = SKIP_BY_TYPE[type];
      if (skip) entry.skip = skip;
      entries.push(entry);
    }
    pending.resolve(entries);
  }

  #failAll(error: StorageError): void {
    for (const p of this.#pending.values()) p.reject(error);
    this.#pending.clear();
  }

  #leastBusy(): Lane | undefined {
    let best: Lane | undefined;
    for (const lane of this.#lanes) if (!best || lane.outstanding < best.outstanding) best = lane;
    return best;
  }

  #fsPath(dir: string): string {
    const root = this.#options.root;
    if (dir === '/') return root;
    return root === '/' ? dir : root + dir;
  }

  #ancestors(dir: string): string[] {
    const out = [this.#options.root];
    if (dir === '/') return out;
    let prefix = '';
    for (const part of dir.slice(1).split('/')) {
      prefix += '/' + part;
      out.push(this.#fsPath(prefix));
    }
    return out;
  }
}

function parsePositiveInt(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw new InvalidConfigError(
      `Expected \`${name}\` to be an integer from 1 and up, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

export const localBackend: BackendInfo<LocalOptions> = {
  schemes: ['file'],
  fromUrl: (url) => ({ root: decodeURIComponent(url.pathname) }),
  parseOptions(raw) {
    const r = (raw ?? {}) as Record<string, unknown>;
    if (typeof r.root !== 'string' || r.root === '') {
      throw new InvalidConfigError(
        `local storage needs a "root" folder, got ${JSON.stringify(r.root)}`,
      );
    }
    const root = resolve(r.root);
    if (!isAbsolute(root)) throw new InvalidConfigError(`local root must be absolute: ${r.root}`);
    return {
      root: root.length > 1 && root.endsWith('/') ? root.slice(0, -1) : root,
      followSymlinks: r.followSymlinks === true || r.followSymlinks === 'true',
      threads: parsePositiveInt(r.threads, 'threads', Math.min(4, availableParallelism())),
    };
  },
  create: (options) => new LocalClient(options),
  redact: (options) => ({ ...options }),
  location: (options) => options.root,
  limitHost: () => 'localhost',
};
