import { availableParallelism } from 'node:os';
import { constants, statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import {
  cancelledError,
  InvalidConfigError,
  NotFoundError,
  PermissionDeniedError,
  StorageError,
  UnavailableError,
} from '../errors.js';
import { ROOT } from '../paths.js';
import { defineBackend } from '../backend.js';
import type { OptionSchema } from '../options.js';
import type { AddressPolicy } from '../net/address-policy.js';
import type {
  Entry,
  ListOptions,
  ReadHeadOptions,
  StorageClient,
  TreeListing,
  TreeOptions,
} from '../types.js';
import { pagesOf } from '../pager.js';
import { onAbort } from '../../util/on-abort.js';
import { nameEnd, PackedListing } from '../packed.js';
import { nativeListing } from './local-native.js';
import {
  T_DIR,
  STREAM_CODE,
  WORKER_SOURCE,
  listInline,
  type ListReply,
  type ListRequest,
  type StreamRequest,
  type WorkerConfig,
} from './local-worker.js';

export interface LocalOptions {
  /** Absolute path of the folder that is the storage's root. */
  root: string;
  /** Follow symbolic links (with loop detection). @default false */
  followSymlinks: boolean;
  /**
   * Listing threads at most. @default min(2, available cores); with the native listing
   * (local-native.ts), which lists a tree as fast as `find` in one thread, the second starts
   * only once the scan is bound by the listing (see LISTING_BOUND_WAITS), or from the start
   * when two were prestarted for it (prestartLocalListing): elsewhere it only costs a Node
   * isolate (~10 MB and ~40 ms of CPU) and the main thread's core.
   */
  threads?: number;
  /** List subdirectories ahead of the scan's requests (see {@link LocalClient}). @default true */
  readAhead: boolean;
}

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
    case 'ENAMETOOLONG':
      // Node has no openat(): a directory deeper than PATH_MAX (4,096 bytes) cannot be named.
      return new StorageError(
        'PROTOCOL',
        `path longer than the system's limit (PATH_MAX), cannot be listed: ${path}`,
        { path },
      );
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

/** What a batch answers for a directory too large to list whole: list it as a stream. */
const LARGE = Symbol('large directory');
type Whole = PackedListing | typeof LARGE;

interface Waiter {
  resolve: (entries: Whole) => void;
  reject: (error: StorageError) => void;
}

interface ChunkWaiter {
  lane: Lane;
  resolve: (reply: ListReply) => void;
  reject: (error: StorageError) => void;
}

/** One directory's listing: on its way (filled by request `requestId`) or arrived. */
type Slot =
  | { state: 'pending'; requestId: number; waiters: Waiter[] }
  | {
      state: 'ready';
      listing: PackedListing | StorageError | typeof LARGE;
      weight: number;
      at: number;
    };

interface Lane {
  /** A listing thread, or the main thread's own lane (see {@link LocalClient}). */
  worker: Pick<Worker, 'postMessage' | 'ref' | 'unref' | 'terminate'>;
  /** Directories sent to this thread and not answered yet. */
  outstanding: number;
  /** The thread runs (its isolate has started): what is sent to it is listed now. */
  online: boolean;
}

/** Directories in flight across all threads while reading ahead. */
const MAX_AHEAD_DIRS = 512;
/** Entries read ahead and not yet asked for (memory stays flat: ~150 bytes each). */
const MAX_AHEAD_ENTRIES = 65_536;
/** Directories per request when reading ahead. */
const MAX_BATCH_DIRS = 64;
/**
 * Entries a request when reading ahead aims at (by the directories' average so far): a thread
 * answers a request only once it has listed all of it, so 64 directories of a few hundred
 * entries each kept the scan waiting for their first while the thread listed the rest
 * (measured: the main thread idle ~1 s at the start of a 200,000-file scan, 100 directories
 * of 100 subdirectories each; ~0.2 s with requests of this size).
 */
const BATCH_ENTRIES = 2048;
/**
 * A listing thread allocates a Stats object (with four Dates) per entry and keeps almost
 * nothing: a small young generation collects that garbage as cheaply and holds far less
 * memory than V8's default (measured: ~15–40 MB less RSS at 1,000,000 files).
 */
const WORKER_YOUNG_MB = 4;
/**
 * Directories, and entries, a tree walk's step hands over at most: what was read ahead goes
 * in one step, but a step stays about the size of a read-ahead request.
 */
const STEP_DIRS = 64;
const STEP_ENTRIES = 2048;
/**
 * A second listing thread starts by default only once the scan is bound by the listing: the
 * walk has waited for this many listings in a window of at least {@link LISTING_WINDOW_MS}
 * (the first from when the first thread first answered), and the main thread's event loop
 * was busy less than {@link LISTING_BOUND_BUSY} of that window. Measured
 * (200,000 files, 2 cores): a dry run into an empty index waits ~450 times and is busy ~30 %
 * — two threads list it in 0.45–0.50 s against 0.54–0.62 s; a first scan waits ~8 times
 * (busy ~50 %, the rest waiting for its writer) and an unchanged rescan is busy ~100 %: a
 * second thread only took the main thread's core from it (rescan 0.76–0.83 → 0.83–0.91 s).
 */
const LISTING_BOUND_WAITS = 16;
const LISTING_BOUND_BUSY = 0.6;
/**
 * Each window is judged alone: an unchanged rescan with listing digests is busy ~0.7–1.0 in
 * its first window (the first replies' burst, code not yet optimized) and 0.25–0.6 in every
 * one after (windows of 16 waits, 25–60 ms each, 200,000 files); judged over all the time
 * since its first reply, its average crossed 0.6 half-way through the walk, or never
 * (0.62–0.64 at its end).
 */
const LISTING_WINDOW_MS = 25;
/** Looked up at first use: node:perf_hooks is not loaded by a scan that starts no thread. */
const eventLoopUtilization = (since?: EventLoopUtilization) =>
  performance.eventLoopUtilization(since);
/** A listing read ahead and not asked for within this long is listed again instead. */
const AHEAD_TTL_MS = 10_000;

/** What `create` reads from the environment (see {@link localBackend}). */
interface LocalTuning {
  largeDirBytes?: number;
  native?: boolean;
}

function tuningFrom(env: NodeJS.ProcessEnv): LocalTuning {
  const bytes = Number(env.TRAWL_LOCAL_STREAM_DIR_BYTES);
  const native = env.TRAWL_LOCAL_NATIVE !== '0';
  return Number.isInteger(bytes) && bytes > 0 ? { largeDirBytes: bytes, native } : { native };
}

/** What a listing thread of this storage starts with. */
function workerConfig(options: LocalOptions, tuning: LocalTuning): WorkerConfig {
  const config: WorkerConfig = { root: options.root, follow: options.followSymlinks };
  if (tuning.largeDirBytes !== undefined) config.largeDirBytes = tuning.largeDirBytes;
  const native = (tuning.native ?? true) ? nativeListing() : undefined;
  if (native) config.native = native.path;
  return config;
}

function configKey(config: WorkerConfig): string {
  return JSON.stringify([config.root, config.follow, config.largeDirBytes, config.native]);
}

/** A listing thread, not yet anyone's: unref'd, and its errors heard (else they throw). */
interface Spare {
  worker: Worker;
  dead: boolean;
  /** Its isolate has started ('online'). */
  online: boolean;
}

function spawnThread(config: WorkerConfig): Spare {
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: config,
    resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_MB },
  });
  worker.unref();
  const spare: Spare = { worker, dead: false, online: false };
  worker.once('online', () => void (spare.online = true));
  const died = () => void (spare.dead = true);
  worker.on('error', died);
  worker.on('exit', died);
  return spare;
}

/** The threads {@link prestartLocalListing} started, until a client takes them or they end. */
let prestarted: { key: string; spares: Spare[] } | undefined;

/**
 * Starts listing threads of a local storage before anything connects to it: the CLI calls
 * this with a folder it is about to scan, before it opens the index, so a thread's start (a
 * Node isolate: ~30–45 ms, most of it on the other core) overlaps the index's opening
 * instead of following the root's listing. Called again for the same folder with more
 * `threads`, it starts the difference. The first client that connects with the same
 * configuration takes them all ({@link LocalClient}) and lists on as many as it took (two
 * of them: from the start, without waiting to see that the scan is bound by the listing);
 * {@link endPrestartedListing} ends them if none did. `options` are a local storage's
 * validated options.
 */
export function prestartLocalListing(
  options: LocalOptions,
  env: NodeJS.ProcessEnv,
  threads = 1,
): void {
  // A directory's link count is 2 + its subdirectories on most file systems (ext4, XFS,
  // tmpfs; btrfs says 1 whatever it holds): at 2 the walk ends at the root, which the client
  // lists on the main thread, so an empty folder or one of files only starts no thread.
  const st = statSync(options.root, { throwIfNoEntry: false });
  if (!st?.isDirectory() || st.nlink === 2) return;
  const config = workerConfig(options, tuningFrom(env));
  const key = configKey(config);
  if (prestarted?.key !== key) {
    endPrestartedListing();
    prestarted = { key, spares: [] };
  }
  const spares = prestarted.spares;
  while (spares.length < threads) spares.push(spawnThread(config));
}

/** Ends the prestarted threads no client took (a scan that never connected). */
export function endPrestartedListing(): void {
  const left = prestarted;
  prestarted = undefined;
  for (const spare of left?.spares ?? []) if (!spare.dead) void spare.worker.terminate();
}

function takePrestarted(config: WorkerConfig): Spare[] {
  const found = prestarted;
  if (!found || found.key !== configKey(config)) return [];
  prestarted = undefined;
  return found.spares.filter((s) => !s.dead);
}

/**
 * A local folder, listed by a small pool of worker threads.
 *
 * Read-ahead: the scan engine asks for one directory at a time and spends long stretches
 * of the main thread in database work; threads answering only what was asked would sit
 * idle meanwhile. So once a scan descends below the root, the client lists the
 * subdirectories of every listing it receives ahead of the request, in batches, up to a
 * fixed budget of entries, and answers later requests from what it read. A listing read
 * ahead is as complete as one read on request, only a few milliseconds older. Asking for
 * the root starts a new walk and drops everything read ahead, so a later scan never sees
 * an earlier scan's listings.
 *
 * Threads start late: until a listing shows a subdirectory, directories are listed on the
 * main thread by the threads' own code (`listInline`), which has nothing else to do while it
 * waits for the first listing anyway. An empty folder, or a folder of files only, then never
 * pays for a thread (a Node isolate: 30–50 ms of CPU and ~10 MB to start; bench:startup);
 * a tree starts its first thread as soon as its root is listed, while the scan reconciles
 * the root — and until that thread runs, the main thread lists on, one request at a time
 * (a prestarted thread is often still starting when the root has been listed: the walk
 * would wait for it) — and its second once there is work for two (#leastBusy) — with the native
 * listing, only once the walk is bound by the listing (LISTING_BOUND_WAITS), unless two were
 * prestarted for it. A directory streamed (too large to list whole) always goes to a thread.
 */
export class LocalClient implements StorageClient {
  readonly #options: LocalOptions;
  readonly #slots = new Map<string, Slot>();
  /** Directories discovered and not yet sent, in discovery (breadth-first) order. */
  readonly #ahead = new Map<string, true>();
  readonly #requests = new Map<number, string[]>();
  /** The listing threads started so far. */
  #lanes: Lane[] = [];
  /** The main thread's lane: serves until the first thread starts. */
  #inline: Lane | undefined;
  /** What a listing thread starts with; undefined until connected and once closed. */
  #threadConfig: WorkerConfig | undefined;
  #nextId = 0;
  #aheadOn = false;
  /** The directory the current walk started from (`/`, or a root asked with `newWalk`). */
  #walkStart: string | undefined;
  /**
   * Its listing, kept (packed) until the walk descends: its subdirectories are then the first
   * to read ahead, in the order the scan will ask for them. Without it, reading ahead began
   * with the children of the first few subdirectories asked for, while the scan asked for
   * their siblings one by one, each queued behind batches it did not need yet (measured: the
   * main thread idle ~1 s at the start of a 200,000-file scan).
   */
  #startListing: PackedListing | undefined;
  #aheadEntries = 0;
  #inflight = 0;
  /** The current walk is a {@link listTree}: it queues subdirectories to read ahead itself. */
  #treeWalk = false;
  /** Entries per directory listed, a moving average: sizes the requests read ahead. */
  #perDir = 64;
  /** Chunks of streamed directories asked for and not answered yet, by request id. */
  readonly #chunks = new Map<number, ChunkWaiter>();
  readonly #largeDirBytes: number | undefined;
  /** List with the native addon when it is built (local-native.ts); false: the JS path. */
  readonly #native: boolean;
  /** Listing threads at most: the option's, or the default for the listing in use. */
  #maxThreads = 1;
  #listing: 'native' | 'js' | undefined;
  /** Threads beyond the first start only once the scan is bound by the listing. */
  #adaptive = false;
  /**
   * The main thread's event loop when the current window began: at the first thread's first
   * answer, then each time a window was judged busy (see LISTING_WINDOW_MS).
   */
  #loopFrom: EventLoopUtilization | undefined;
  /** Listings the walk waited for since then. */
  #waits = 0;
  /** Threads started before this client connected (prestartLocalListing), not used yet. */
  #spares: Spare[] = [];

  readonly #policy: AddressPolicy | undefined;

  /**
   * `largeDirBytes` overrides when a directory is streamed (tests). Under an address policy
   * (the SSRF guard) the root must be an allowed folder or under one, by its real path.
   */
  constructor(
    options: LocalOptions,
    tuning: { largeDirBytes?: number; native?: boolean } = {},
    policy?: AddressPolicy,
  ) {
    this.#options = options;
    this.#largeDirBytes = tuning.largeDirBytes;
    this.#native = tuning.native ?? true;
    this.#policy = policy;
  }

  async connect(): Promise<void> {
    await this.#policy?.checkLocalPath(this.#options.root);
    await this.check();
    if (this.#threadConfig) return;
    const config = workerConfig(this.#options, {
      ...(this.#largeDirBytes === undefined ? {} : { largeDirBytes: this.#largeDirBytes }),
      native: this.#native,
    });
    const native = config.native !== undefined;
    this.#listing = native ? 'native' : 'js';
    this.#maxThreads = this.#options.threads ?? Math.min(2, availableParallelism());
    this.#spares = takePrestarted(config);
    // Two threads prestarted for this scan (a dry run of a place never scanned): both list.
    if (this.#options.threads === undefined && this.#spares.length > 1) {
      this.#maxThreads = this.#spares.length;
    }
    this.#adaptive = native && this.#options.threads === undefined && this.#spares.length < 2;
    this.#threadConfig = config;
    this.#inline = this.#inlineLane(config);
  }

  /**
   * The main thread's lane: a request is listed in a task of its own (never inside the call
   * that sent it) and answered as a thread answers, through #receive.
   */
  #inlineLane(config: WorkerConfig): Lane {
    let handle: ((msg: ListRequest | StreamRequest) => void) | undefined;
    const lane: Lane = {
      worker: {
        postMessage: (msg: ListRequest | StreamRequest) =>
          void setImmediate(() => {
            if (this.#inline === lane) handle!(msg);
          }),
        ref: () => undefined,
        unref: () => undefined,
        terminate: () => Promise.resolve(0),
      },
      outstanding: 0,
      online: true,
    };
    listInline(
      {
        on: (_event, handler) => void (handle = handler),
        postMessage: (reply) => {
          // A listing with a subdirectory: the walk goes on, so a thread starts now (while
          // the scan reconciles this listing) and lists the rest, read ahead included.
          if (this.#lanes.length === 0 && this.#threadConfig && reply.types.includes(T_DIR)) {
            this.#addLane(this.#threadConfig);
          }
          this.#receive(lane, reply);
        },
      },
      config,
      // The addon this thread loaded to find it (local-native.ts), not loaded a second time.
      config.native === undefined ? undefined : nativeListing()?.listing,
    );
    return lane;
  }

  #addLane(config: WorkerConfig): Lane {
    // The prestarted thread, if it is still alive, else a new one.
    let spare = this.#spares.shift();
    while (spare?.dead) spare = this.#spares.shift();
    spare ??= spawnThread(config);
    const worker = spare.worker;
    const lane: Lane = { worker, outstanding: 0, online: spare.online };
    if (!lane.online) worker.once('online', () => void (lane.online = true));
    worker.on('message', (reply: ListReply) => this.#receive(lane, reply));
    worker.on('error', (error) => this.#die(`listing thread died: ${error.message}`));
    worker.on('exit', () => {
      if (this.#lanes.includes(lane)) this.#die('listing thread exited');
    });
    this.#lanes.push(lane);
    return lane;
  }

  /** Which listing the threads use, once connected: the native addon or the JS one. */
  get listing(): 'native' | 'js' | undefined {
    return this.#listing;
  }

  async close(): Promise<void> {
    const lanes = this.#lanes;
    const workers = lanes.map((l) => l.worker);
    for (const spare of this.#spares.splice(0)) if (!spare.dead) workers.push(spare.worker);
    this.#inline = undefined;
    this.#die('local client closed');
    await Promise.all(workers.map((w) => w.terminate()));
  }

  async check(): Promise<void> {
    const st = statSync(this.#options.root, { throwIfNoEntry: false });
    if (!st) throw new NotFoundError(`no such folder: ${this.#options.root}`, { path: '/' });
    if (!st.isDirectory())
      throw new NotFoundError(`not a folder: ${this.#options.root}`, { path: '/' });
  }

  /**
   * Every directory under `root`, breadth-first, each in one piece unless it is streamed
   * (too large to list whole: then in chunks, all but the last with `more`). A directory
   * that cannot be listed comes as a piece with its `error` and nothing else; the walk goes
   * on. A subdirectory is listed only if `options.descend` (asked once the piece holding it
   * has been taken, so the caller's rules for it are known) says so.
   */
  async *listTree(
    root: string,
    options?: TreeOptions,
  ): AsyncGenerator<TreeListing | TreeListing[]> {
    const signal = options?.signal;
    const descend = options?.descend;
    let queue: string[] = [root];
    let head = 0;
    while (head < queue.length) {
      const dir = queue[head++]!;
      if (head >= 1024 && head * 2 >= queue.length) {
        queue = queue.slice(head);
        head = 0;
      }
      let whole: Whole;
      try {
        whole = await this.#listWhole(
          dir,
          dir === root ? { signal, newWalk: true } : { signal },
          true,
        );
      } catch (error) {
        if (signal?.aborted || !this.#threadConfig || !(error instanceof StorageError)) throw error;
        yield { dir, entries: [], error };
        continue;
      }
      if (whole !== LARGE) {
        // Listings already read ahead go out in the same step: the service's bookkeeping
        // and a resumption of each generator are paid once for them all.
        // Packed: the scan makes entries of a listing only where it needs them.
        const step: PackedListing[] = [whole];
        let weight = whole.count;
        while (head < queue.length && step.length < STEP_DIRS && weight < STEP_ENTRIES) {
          const next = queue[head]!;
          const ready = this.#takeReady(next);
          if (!ready) break;
          head++;
          step.push(ready);
          weight += ready.count;
        }
        yield step.length === 1 ? step[0]! : step;
        for (const listing of step) this.#descend(listing, descend, queue);
        continue;
      }
      let held: Entry[] | undefined;
      try {
        for await (const page of this.#stream(dir, signal)) {
          if (held) {
            yield { dir, entries: held, more: true, large: true };
            this.#descend(held, descend, queue);
          }
          held = page;
        }
      } catch (error) {
        if (signal?.aborted || !this.#threadConfig || !(error instanceof StorageError)) throw error;
        if (held) {
          yield { dir, entries: held, more: true, large: true };
          this.#descend(held, descend, queue);
        }
        yield { dir, entries: [], error };
        continue;
      }
      yield { dir, entries: held ?? [] };
      if (held) this.#descend(held, descend, queue);
    }
  }

  /** `dir`'s listing if it was read ahead whole and is fresh (taken), else undefined. */
  #takeReady(dir: string): PackedListing | undefined {
    const slot = this.#slots.get(dir);
    if (slot?.state !== 'ready') return undefined;
    const listing = slot.listing;
    if (listing === LARGE || listing instanceof StorageError) return undefined;
    if (Date.now() - slot.at > AHEAD_TTL_MS) return undefined;
    this.#slots.delete(dir);
    this.#aheadEntries -= slot.weight;
    return this.#deliver(listing);
  }

  /** Queues (and reads ahead) the subdirectories of a piece the caller wants listed. */
  #descend(
    listing: Entry[] | PackedListing,
    descend: ((dir: string) => boolean) | undefined,
    queue: string[],
  ): void {
    if (listing instanceof PackedListing && !listing.decoded) {
      // A path string for each subdirectory only: no entry objects for the files.
      const { names: all, types } = listing.reply;
      const prefix = listing.prefix;
      let at = listing.at;
      for (let j = listing.offset, last = j + listing.count; j < last; j++) {
        const end = nameEnd(all, at);
        if (types[j] === T_DIR) this.#queueDir(prefix + all.slice(at, end), descend, queue);
        at = end + 1;
      }
    } else {
      const entries = listing instanceof PackedListing ? listing.entries : listing;
      for (const e of entries) if (e.isDir && !e.skip) this.#queueDir(e.path, descend, queue);
    }
    this.#pump();
  }

  #queueDir(path: string, descend: ((dir: string) => boolean) | undefined, queue: string[]): void {
    if (descend && !descend(path)) return;
    queue.push(path);
    if (this.#aheadOn && !this.#slots.has(path)) this.#ahead.set(path, true);
  }

  async *list(dir: string, options?: ListOptions): AsyncGenerator<Entry[]> {
    const whole = await this.#listWhole(dir, options);
    if (whole === LARGE) yield* this.#stream(dir, options?.signal);
    else yield* pagesOf(whole.entries);
  }

  /**
   * One open, one read, one close on the main thread's file-system pool: the scan asks only
   * for `.ts` / `.mts` files, a few hundred bytes each. Opened non-blocking, so a FIFO put in
   * a file's place since the listing cannot hang the scan, and without following a symbolic
   * link unless the storage follows them.
   */
  async readHead(path: string, bytes: number, options?: ReadHeadOptions): Promise<Uint8Array> {
    if (options?.signal?.aborted) throw cancelledError(path);
    const flags =
      constants.O_RDONLY |
      constants.O_NONBLOCK |
      (this.#options.followSymlinks ? 0 : constants.O_NOFOLLOW);
    let file: FileHandle;
    try {
      file = await open(this.#fsPath(path), flags);
    } catch (error) {
      const { code, message } = error as NodeJS.ErrnoException;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') {
        throw new NotFoundError(`no such file: ${path}`, { path });
      }
      throw mapLocalError(code, message, path);
    }
    try {
      if (!(await file.stat()).isFile()) return new Uint8Array();
      const head = Buffer.alloc(bytes);
      let got = 0;
      while (got < bytes) {
        const { bytesRead } = await file.read(head, got, bytes - got, got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return head.subarray(0, got);
    } catch (error) {
      const { code, message } = error as NodeJS.ErrnoException;
      throw mapLocalError(code, message, path);
    } finally {
      await file.close().catch(() => undefined);
    }
  }

  /**
   * A directory too large to list whole, a chunk at a time from one thread, each yielded
   * before the next is asked for (one is read ahead while the scan takes the last). Stopped
   * early (break, abort, error), the thread closes the directory.
   */
  async *#stream(dir: string, signal: AbortSignal | undefined): AsyncGenerator<Entry[]> {
    const lane = this.#leastBusy(true);
    const stream = this.#nextId++;
    const path = this.#fsPath(dir);
    let next: Promise<ListReply> | undefined = this.#askChunk(lane, { stream, path });
    try {
      while (next) {
        const reply = await untilAborted(next, signal, dir);
        next = undefined;
        const error = reply.errors[0];
        if (error) throw mapLocalError(error.code, error.message, dir);
        if (reply.more) next = this.#askChunk(lane, { stream, path });
        const count = reply.counts[0]!;
        yield* pagesOf(new PackedListing(dir, reply, 0, reply.names.length, 0, count).entries);
      }
    } finally {
      if (next) {
        next.catch(() => undefined);
        if (this.#lanes.includes(lane))
          lane.worker.postMessage({ id: -1, stream, path, close: true });
      }
    }
  }

  #askChunk(lane: Lane, request: Omit<StreamRequest, 'id'>): Promise<ListReply> {
    if (!this.#lanes.includes(lane)) {
      return Promise.reject(new UnavailableError('local client is not connected'));
    }
    const id = this.#nextId++;
    return new Promise<ListReply>((resolve, reject) => {
      this.#chunks.set(id, { lane, resolve, reject });
      if (lane.outstanding === 0) lane.worker.ref();
      lane.outstanding++;
      lane.worker.postMessage({ ...request, id } satisfies StreamRequest);
    });
  }

  #listWhole(dir: string, options?: ListOptions, tree = false): Promise<Whole> {
    if (options?.signal?.aborted) return Promise.reject(new StorageError('CANCELLED', 'cancelled'));
    if (!this.#threadConfig)
      return Promise.reject(new UnavailableError('local client is not connected'));
    if (dir === ROOT || options?.newWalk) {
      this.#restart();
      this.#walkStart = dir;
      // A tree walk queues what it reads ahead itself, once the caller said what to descend.
      this.#treeWalk = tree;
      if (tree) this.#aheadOn = this.#options.readAhead;
    } else if (!this.#aheadOn && this.#options.readAhead) {
      this.#aheadOn = true;
      const start = this.#startListing;
      this.#startListing = undefined;
      if (start) this.#queueSubdirs(start);
    }
    try {
      return this.#answer(dir);
    } finally {
      this.#pump();
    }
  }

  /** A directory's listing: read ahead already, on its way, or asked for now. */
  #answer(dir: string): Promise<Whole> {
    const slot = this.#slots.get(dir);
    if (slot?.state === 'ready') {
      this.#slots.delete(dir);
      this.#aheadEntries -= slot.weight;
      if (Date.now() - slot.at <= AHEAD_TTL_MS) {
        const listing = slot.listing;
        if (listing instanceof StorageError) return Promise.reject(listing);
        if (listing === LARGE) return Promise.resolve(LARGE);
        return Promise.resolve(this.#deliver(listing));
      }
    }
    return new Promise<Whole>((resolve, reject) => {
      const waiter = { resolve, reject };
      if (this.#loopFrom) this.#waits++;
      if (slot?.state === 'pending') {
        slot.waiters.push(waiter);
        return;
      }
      this.#ahead.delete(dir);
      this.#send(this.#leastBusy(), [dir], [waiter]);
    });
  }

  /** A new walk: what was read ahead may be stale for it. Listings being waited for stay. */
  #restart(): void {
    for (const [dir, slot] of this.#slots) {
      if (slot.state === 'ready' || slot.waiters.length === 0) this.#slots.delete(dir);
    }
    this.#ahead.clear();
    this.#aheadEntries = 0;
    this.#aheadOn = false;
    this.#startListing = undefined;
    // Whether this walk is bound by the listing is this walk's to show.
    this.#loopFrom = undefined;
    this.#waits = 0;
  }

  #send(lane: Lane, dirs: string[], waiters?: Waiter[]): void {
    const id = this.#nextId++;
    for (const dir of dirs) {
      this.#slots.set(dir, { state: 'pending', requestId: id, waiters: waiters ?? [] });
    }
    this.#requests.set(id, dirs);
    // A thread with work keeps the process alive until it answers; an idle one must not.
    if (lane.outstanding === 0) lane.worker.ref();
    lane.outstanding += dirs.length;
    this.#inflight += dirs.length;
    const request: ListRequest = { id, dirs: dirs.map((d) => this.#fsPath(d)) };
    lane.worker.postMessage(request);
  }

  #receive(lane: Lane, reply: ListReply): void {
    const chunk = this.#chunks.get(reply.id);
    if (chunk) {
      this.#chunks.delete(reply.id);
      lane.outstanding--;
      if (lane.outstanding === 0) lane.worker.unref();
      chunk.resolve(reply);
      return;
    }
    const dirs = this.#requests.get(reply.id);
    if (!dirs) return;
    this.#requests.delete(reply.id);
    if (!this.#loopFrom && lane !== this.#inline) this.#loopFrom = eventLoopUtilization();
    lane.outstanding -= dirs.length;
    if (lane.outstanding === 0) lane.worker.unref();
    this.#inflight -= dirs.length;
    this.#perDir = 0.75 * this.#perDir + (0.25 * reply.types.length) / dirs.length;
    const all = reply.names;
    let offset = 0;
    let at = 0;
    for (let k = 0; k < dirs.length; k++) {
      const dir = dirs[k]!;
      const count = reply.counts[k]!;
      const error = reply.errors[k];
      const start = at;
      for (let c = count; c > 0; c--) at = nameEnd(all, at) + 1;
      const packed = new PackedListing(
        dir,
        reply,
        start,
        count > 0 ? at - 1 : start,
        offset,
        count,
      );
      offset += count;
      const slot = this.#slots.get(dir);
      // Not this request's slot: the walk restarted since, or another request owns it.
      if (slot?.state !== 'pending' || slot.requestId !== reply.id) continue;
      const listing =
        error?.code === STREAM_CODE
          ? LARGE
          : error
            ? mapLocalError(error.code, error.message, dir)
            : packed;
      if (slot.waiters.length > 0) {
        this.#slots.delete(dir);
        const entries =
          listing === LARGE || listing instanceof StorageError ? listing : this.#deliver(listing);
        for (const w of slot.waiters) {
          if (entries instanceof StorageError) w.reject(entries);
          else w.resolve(entries);
        }
      } else {
        // Kept packed: a listing read ahead costs its names and a few bytes, not objects.
        const weight = count + 1;
        this.#slots.set(dir, { state: 'ready', listing, weight, at: Date.now() });
        this.#aheadEntries += weight;
      }
    }
    this.#pump();
  }

  /**
   * A listing handed to the scan, decoded: its subdirectories are what the scan asks for next, after
   * those of the listings handed over before it, so they join the read-ahead queue now — in
   * the scan's own (breadth-first) order. Queued when a listing merely arrived instead, the
   * queue followed the threads' reply order: read ahead ran thousands of directories past
   * the scan, filled its entry budget with listings not asked for yet, and every directory
   * the scan did ask for went out alone, a round trip each (measured, 200,000 files: 2,812 of
   * 10,101 directories asked that way, the main thread idle ~1 s).
   */
  #deliver(listing: PackedListing): PackedListing {
    if (this.#treeWalk) return listing;
    if (this.#aheadOn) {
      // From the entries the scan is handed: the packed names were walked and cut once
      // more for this (~35 ms of a 200,000-file rescan's main thread, profiled).
      for (const e of listing.entries) {
        if (e.isDir && !this.#slots.has(e.path)) this.#ahead.set(e.path, true);
      }
    } else if (listing.dir === this.#walkStart) this.#startListing = listing;
    return listing;
  }

  #queueSubdirs({ reply, at, offset, count, prefix }: PackedListing): void {
    const all = reply.names;
    for (let j = offset; j < offset + count; j++) {
      const end = nameEnd(all, at);
      const start = at;
      at = end + 1;
      if (reply.types[j] !== T_DIR) continue;
      const path = prefix + all.slice(start, end);
      if (!this.#slots.has(path)) this.#ahead.set(path, true);
    }
  }

  /** Sends directories discovered but not asked for yet, while the budget allows. */
  #pump(): void {
    if (!this.#aheadOn) return;
    while (
      this.#ahead.size > 0 &&
      this.#inflight < MAX_AHEAD_DIRS &&
      this.#aheadEntries < MAX_AHEAD_ENTRIES
    ) {
      const lane = this.#leastBusy();
      const room = Math.min(MAX_AHEAD_DIRS - this.#inflight, MAX_BATCH_DIRS);
      const share = Math.ceil(this.#ahead.size / this.#lanes.length);
      const fit = Math.floor(BATCH_ENTRIES / Math.max(1, this.#perDir));
      const take = Math.max(1, Math.min(room, share, fit));
      const dirs: string[] = [];
      for (const dir of this.#ahead.keys()) {
        this.#ahead.delete(dir);
        if (!this.#slots.has(dir)) dirs.push(dir);
        if (dirs.length >= take) break;
      }
      if (dirs.length > 0) this.#send(lane, dirs);
    }
  }

  #die(reason: string): void {
    // The other listing thread (two since the second round of lanes) would stay idle until
    // the process ends: close() ends only what #lanes still holds.
    for (const lane of this.#lanes) void lane.worker.terminate();
    this.#lanes = [];
    this.#inline = undefined;
    this.#threadConfig = undefined;
    const error = new UnavailableError(reason);
    for (const slot of this.#slots.values()) {
      if (slot.state === 'pending') for (const w of slot.waiters) w.reject(error);
    }
    for (const chunk of this.#chunks.values()) chunk.reject(error);
    this.#chunks.clear();
    this.#slots.clear();
    this.#requests.clear();
    this.#ahead.clear();
    this.#aheadEntries = 0;
    this.#inflight = 0;
    this.#startListing = undefined;
  }

  /**
   * The lane for the next request: the main thread's until a thread has started (unless
   * `thread`: a stream needs one), then the least busy thread, starting another while every
   * thread has work and the pool is not full.
   */
  #leastBusy(thread = false): Lane {
    const config = this.#threadConfig;
    if (this.#lanes.length === 0) {
      if (!config) throw new UnavailableError('local client is not connected');
      return !thread && this.#inline ? this.#inline : this.#addLane(config);
    }
    let best = this.#lanes[0]!;
    for (const lane of this.#lanes) if (lane.outstanding < best.outstanding) best = lane;
    // No thread runs yet (an isolate takes ~30–45 ms to start, longer on a loaded machine):
    // the main thread, which waits for these listings meanwhile, lists one request at a
    // time itself; what else is sent waits in the starting thread's queue.
    if (!thread && !best.online && this.#inline?.outstanding === 0) {
      if (!this.#lanes.some((l) => l.online)) return this.#inline;
    }
    if (
      best.outstanding > 0 &&
      config &&
      this.#lanes.length < this.#maxThreads &&
      (!this.#adaptive || this.#listingBound())
    ) {
      return this.#addLane(config);
    }
    return best;
  }

  /** Whether the scan waits for listings while the main thread has time (see LISTING_BOUND_WAITS). */
  #listingBound(): boolean {
    if (!this.#loopFrom || this.#waits < LISTING_BOUND_WAITS) return false;
    const window = eventLoopUtilization(this.#loopFrom);
    if (window.idle + window.active < LISTING_WINDOW_MS) return false;
    if (window.utilization < LISTING_BOUND_BUSY) return true;
    // Busy: the next window is judged from now.
    this.#loopFrom = eventLoopUtilization();
    this.#waits = 0;
    return false;
  }

  #fsPath(dir: string): string {
    const root = this.#options.root;
    if (dir === ROOT) return root;
    return root === '/' ? dir : root + dir;
  }
}

/** `work`, or CANCELLED as soon as `signal` aborts (the work's late result is dropped). */
function untilAborted<T>(
  work: Promise<T>,
  signal: AbortSignal | undefined,
  path: string,
): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(cancelledError(path));
  }
  return new Promise<T>((resolve, reject) => {
    const stop = onAbort(signal, () => {
      work.catch(() => undefined);
      reject(cancelledError(path));
    });
    work.then(resolve, reject).finally(stop);
  });
}

/** Every local option, declared once: parsing, redaction and docs come from here. */
export const LOCAL_OPTIONS = {
  root: { type: 'string', doc: "The folder that is the storage's root (made absolute)." },
  followSymlinks: {
    type: 'bool',
    default: false,
    doc: 'Follow symbolic links, skipping any that leads back to one of its own ancestors; `false` lists them as skipped.',
  },
  threads: {
    type: 'int',
    defaultDoc: '`min(2, cores)`; native listing: the second once the scan waits for listings',
    doc: 'Listing threads.',
  },
  readAhead: {
    type: 'bool',
    default: true,
    doc: 'List discovered subdirectories before the scan asks for them (≤ 512 directories, ≤ 65,536 entries held).',
  },
} as const satisfies OptionSchema;

export const localBackend = defineBackend('local', {
  schemes: ['file'],
  url: {
    pattern: 'file:///dir',
    note: "or the folder's path itself: ~/Music, /mnt/nas",
    example: '~/Music',
  },
  options: LOCAL_OPTIONS,
  // `file:///srv/media?threads=1&followSymlinks=true`: options may ride on the URL.
  fromUrl: (url) => ({
    ...Object.fromEntries(url.searchParams),
    root: decodeURIComponent(url.pathname),
  }),
  finish(r): LocalOptions {
    const given = r.root;
    if (given === undefined) {
      throw new InvalidConfigError(
        `local storage needs a "root" folder, got ${JSON.stringify(given)}`,
      );
    }
    const root = resolve(given);
    if (!isAbsolute(root)) throw new InvalidConfigError(`local root must be absolute: ${given}`);
    return {
      root: root.length > 1 && root.endsWith('/') ? root.slice(0, -1) : root,
      followSymlinks: r.followSymlinks,
      ...(r.threads === undefined ? {} : { threads: r.threads }),
      readAhead: r.readAhead,
    };
  },
  // TRAWL_LOCAL_STREAM_DIR_BYTES moves the size past which a directory is streamed (tests);
  // TRAWL_LOCAL_NATIVE=0 lists with the JS path even where the native listing is built (A/B).
  create: (options, deps) => new LocalClient(options, tuningFrom(deps.env), deps.addressPolicy),
  location: (options) => options.root,
  limitHost: () => 'localhost',
});
