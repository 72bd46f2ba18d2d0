import { StorageError, type StorageErrorCode } from '../errors.js';
import { normalizePath, baseName, parentOf, joinPath } from '../paths.js';
import { PAGE_ENTRIES, type Entry } from '../types.js';
import { seededRandom } from '../../util/random.js';

interface FileNode {
  isDir: false;
  size: number;
  mtime: number;
  etag?: string;
  /** What {@link MemoryTree.readHead} returns; zeros of `size` when unset. */
  content?: Uint8Array;
}
interface DirNode {
  isDir: true;
  mtime: number;
  children: Map<string, Node>;
  /** Files made up on the fly, after `children`: a huge directory that costs no memory. */
  generated?: Generated;
}

/** A file of a generated directory, by its number. */
export interface GeneratedFile {
  name: string;
  size: number;
  mtime: number;
}

interface Generated {
  count: number;
  make: (i: number) => GeneratedFile;
}
type Node = FileNode | DirNode;

export interface InjectedFault {
  code: StorageErrorCode;
  message?: string;
  retryAfterMs?: number;
  /** How many list calls fail before the directory lists again. @default Infinity */
  times?: number;
  /**
   * The listing hands over this many entries first (in pages) and fails after them: a
   * connection lost mid-listing, or — with `invalidEntries` — a listing with bad entries.
   * @default 0 (fails before any entry)
   */
  afterEntries?: number;
  /** Carried by the thrown error: entries the "server" sent that could not be read. */
  invalidEntries?: number;
}

export interface RateLimitOptions {
  /** Retry-After sent with each 429, in ms; none when unset (the client backs off on its own). */
  retryAfterMs?: number;
  /** Seed of the draw that picks which requests are refused (same seed, same requests). @default 1 */
  seed?: number;
}

/** What a tree saw, for tests and benchmarks. Trees built with one shared object count together. */
export interface MemoryStats {
  /** list calls received (refused ones included). */
  lists: number;
  /** list calls being answered now, and the most seen at once. */
  inFlight: number;
  maxInFlight: number;
  /** Connects attempted, and how many of them failed. */
  connects: number;
  connectFailures: number;
  /** check calls received. */
  checks: number;
  /** list calls answered RATE_LIMITED by {@link MemoryTree.rateLimit}. */
  rateLimited: number;
  /** Clients connected and not yet closed. */
  openClients: number;
  /** readHead calls received. */
  reads: number;
}

export function emptyMemoryStats(): MemoryStats {
  return {
    lists: 0,
    inFlight: 0,
    maxInFlight: 0,
    connects: 0,
    connectFailures: 0,
    checks: 0,
    rateLimited: 0,
    openClients: 0,
    reads: 0,
  };
}

/**
 * An in-memory directory tree: the storage behind the `memory` backend, for tests and
 * benchmarks. Mutate it between scans; inject failures, latency and listing hooks to
 * see how the engine and the StorageService react. It also plays a server: connects cost
 * time and can fail, it can answer a share of requests with 429, and it can be stopped and
 * started — a restart breaks every connection made before it, as a real server's would.
 */
export class MemoryTree {
  readonly #root: DirNode = { isDir: true, mtime: 0, children: new Map() };
  readonly #faults = new Map<string, InjectedFault & { left: number }>();
  #connectFault: (InjectedFault & { left: number }) | undefined;
  #rateLimit: { share: number; retryAfterMs?: number; draw: () => number } | undefined;
  #running = true;
  /** Bumped by every start(): a connection from an older generation is dead. */
  #generation = 0;
  /** Added to every list call. */
  latencyMs = 0;
  /** Added to every connect. */
  connectLatencyMs = 0;
  /** Runs before every list (after the latency); may throw a StorageError or mutate the tree. */
  beforeList: ((dir: string) => void | Promise<void>) | undefined;
  /** Observability for tests: calls made and the highest number of concurrent lists seen. */
  readonly stats: MemoryStats;

  /** @param options.stats share one stats object between trees (two volumes on one host). */
  constructor(options: { stats?: MemoryStats } = {}) {
    this.stats = options.stats ?? emptyMemoryStats();
  }

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

  /** Creates or replaces a file holding `text` (UTF-8), creating its parents. */
  writeText(path: string, text: string, mtime = 0): this {
    const content = new TextEncoder().encode(text);
    this.writeFile(path, content.length, mtime);
    (this.#lookup(normalizePath(path)) as FileNode).content = content;
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

  /**
   * Gives `dir` (created if needed) `count` more files, made by `make(i)` whenever they are
   * listed and never stored: a directory of millions of entries for the price of a function.
   * Names must be unique and not collide with the directory's other children.
   */
  generate(dir: string, count: number, make: (i: number) => GeneratedFile): this {
    const node = this.#ensureDir(normalizePath(dir), 0);
    node.generated = { count, make };
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

  /** Makes reading the file at `path` throw a StorageError with this code (`times` times, default always). */
  failRead(path: string, fault: StorageErrorCode | InjectedFault): this {
    return this.failDir(path, fault);
  }

  /** Makes connects fail with this code (`times` times, default always). */
  failConnect(fault: StorageErrorCode | InjectedFault): this {
    const f = typeof fault === 'string' ? { code: fault } : fault;
    this.#connectFault = { ...f, left: f.times ?? Infinity };
    return this;
  }

  /**
   * Answers `share` (0–1) of list calls with RATE_LIMITED (HTTP 429), chosen by a seeded
   * draw. 0 turns it off.
   */
  rateLimit(share: number, options: RateLimitOptions = {}): this {
    if (!(share >= 0 && share <= 1)) {
      throw new RangeError(`Expected \`share\` to be a number from 0 to 1, got ${share}`);
    }
    this.#rateLimit =
      share === 0
        ? undefined
        : { share, retryAfterMs: options.retryAfterMs, draw: seededRandom(options.seed ?? 1) };
    return this;
  }

  /** Clears every injected fault: directory faults, connect faults and rate limiting. */
  clearFaults(): this {
    this.#faults.clear();
    this.#connectFault = undefined;
    this.#rateLimit = undefined;
    return this;
  }

  /** The server goes down: every connect, check and list answers UNAVAILABLE. */
  stop(): this {
    this.#running = false;
    return this;
  }

  /** The server comes back; connections made before are gone for good (reconnect). */
  start(): this {
    if (!this.#running) {
      this.#running = true;
      this.#generation++;
    }
    return this;
  }

  get running(): boolean {
    return this.#running;
  }

  /**
   * A client connects: costs {@link connectLatencyMs}, may fail as injected. Resolves to the
   * connection's generation, which the client hands back with every request.
   */
  async connect(): Promise<number> {
    this.stats.connects++;
    try {
      if (this.connectLatencyMs > 0) await sleep(this.connectLatencyMs);
      if (!this.#running) throw this.#down();
      const fault = this.#connectFault;
      if (fault && fault.left > 0) {
        fault.left--;
        throw new StorageError(fault.code, fault.message ?? `injected ${fault.code} on connect`, {
          retryAfterMs: fault.retryAfterMs,
        });
      }
    } catch (error) {
      this.stats.connectFailures++;
      throw error;
    }
    this.stats.openClients++;
    return this.#generation;
  }

  /** A connected client closes. */
  disconnect(): void {
    this.stats.openClients--;
  }

  /** The liveness probe of a connection made at `generation`. */
  async check(generation?: number): Promise<void> {
    this.stats.checks++;
    this.#alive(generation);
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
    const gen = node.generated;
    for (let i = 0; gen && i < gen.count; i++) yield generatedEntry(dir, gen.make(i));
  }

  /**
   * The first `bytes` bytes of the file at `path`, as a server answers a ranged read: the
   * latency and faults ({@link failRead}) apply; NOT_FOUND for a directory or nothing.
   */
  async readHead(
    path: string,
    bytes: number,
    signal?: AbortSignal,
    generation?: number,
  ): Promise<Uint8Array> {
    this.stats.reads++;
    if (this.latencyMs > 0) await sleep(this.latencyMs, signal);
    this.#alive(generation);
    const fault = this.#faults.get(path);
    if (fault && fault.left > 0) {
      fault.left--;
      throw new StorageError(
        fault.code,
        fault.message ?? `injected ${fault.code} reading ${path}`,
        {
          path,
          retryAfterMs: fault.retryAfterMs,
        },
      );
    }
    const node = this.#lookup(path);
    if (!node || node.isDir) throw new StorageError('NOT_FOUND', `no such file: ${path}`, { path });
    const content = node.content ?? new Uint8Array(node.size);
    return content.slice(0, Math.max(0, bytes));
  }

  /**
   * One directory's listing, whole. `generation` is the caller's connection (from
   * {@link connect}); without it the call is not tied to a connection (tests that list the
   * tree directly).
   */
  async list(dir: string, signal?: AbortSignal, generation?: number): Promise<Entry[]> {
    const out: Entry[] = [];
    for await (const page of this.pages(dir, signal, generation)) out.push(...page);
    return out;
  }

  /**
   * One directory's listing in pages of {@link PAGE_ENTRIES}, as a server streams it: the
   * latency, faults and rate limits apply before the first page; a fault with `afterEntries`
   * strikes after that many entries.
   */
  async *pages(dir: string, signal?: AbortSignal, generation?: number): AsyncGenerator<Entry[]> {
    this.stats.lists++;
    this.stats.inFlight++;
    this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.stats.inFlight);
    try {
      if (this.latencyMs > 0) await sleep(this.latencyMs, signal);
      this.#alive(generation);
      const limited = this.#rateLimit;
      if (limited && limited.draw() < limited.share) {
        this.stats.rateLimited++;
        throw new StorageError('RATE_LIMITED', `429 Too Many Requests listing ${dir}`, {
          path: dir,
          retryAfterMs: limited.retryAfterMs,
        });
      }
      if (this.beforeList) await this.beforeList(dir);
      const fault = this.#faults.get(dir);
      let failAt = Infinity;
      if (fault && fault.left > 0) {
        fault.left--;
        failAt = fault.afterEntries ?? 0;
      }
      const fail = () =>
        new StorageError(fault!.code, fault!.message ?? `injected ${fault!.code} listing ${dir}`, {
          path: dir,
          retryAfterMs: fault!.retryAfterMs,
          invalidEntries: fault!.invalidEntries,
        });
      if (failAt === 0) throw fail();
      const node = this.#lookup(dir);
      if (!node) throw new StorageError('NOT_FOUND', `no such directory: ${dir}`, { path: dir });
      if (!node.isDir)
        throw new StorageError('NOT_FOUND', `not a directory: ${dir}`, { path: dir });
      let page: Entry[] = [];
      let sent = 0;
      const all = (function* () {
        for (const [name, child] of node.children) yield toEntry(joinPath(dir, name), name, child);
        const gen = node.generated;
        for (let i = 0; gen && i < gen.count; i++) yield generatedEntry(dir, gen.make(i));
      })();
      for (const entry of all) {
        page.push(entry);
        if (++sent >= failAt || page.length >= PAGE_ENTRIES) {
          yield page;
          page = [];
          if (sent >= failAt) throw fail();
          this.#alive(generation);
        }
      }
      if (page.length > 0) yield page;
      if (sent < failAt && failAt !== Infinity) throw fail();
    } finally {
      this.stats.inFlight--;
    }
  }

  #alive(generation: number | undefined): void {
    if (!this.#running) throw this.#down();
    if (generation !== undefined && generation !== this.#generation) {
      throw new StorageError('UNAVAILABLE', 'connection reset: the memory server restarted');
    }
  }

  #down(): StorageError {
    return new StorageError('UNAVAILABLE', 'connection refused: the memory server is stopped');
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

function generatedEntry(dir: string, f: GeneratedFile): Entry {
  return { path: joinPath(dir, f.name), name: f.name, isDir: false, size: f.size, mtime: f.mtime };
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
