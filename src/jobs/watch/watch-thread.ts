/**
 * The body of the watch thread: one inotify watch per directory (Node's `fs.watch`, not
 * recursive), each event turned into directories to list again ({@link DirtySet}). Run from
 * source (`new Worker(source, { eval: true })`) like the local listing threads, so it works
 * the same compiled and under the test runner: no imports, `require` only.
 *
 * Why a thread: the main thread spends long stretches in database writes (better-sqlite3 is
 * synchronous). Events read late pile up in the kernel's queue, and a full queue drops them.
 * This thread does nothing but read events and mark directories, so it keeps the queue short.
 *
 * Why not `fs.watch(…, { recursive: true })`: on Linux, Node 20 emulates it in JavaScript
 * with one watch per file and directory. Why not @parcel/watcher or chokidar: @parcel/watcher
 * 2.6 skips the kernel's overflow event and does not watch the subdirectories of a directory
 * moved into the tree; chokidar sits on the same `fs.watch` as this file, with more layers.
 *
 * What a plain `fs.watch` lacks, this file adds:
 * - A new directory (created or moved in) is watched, then read, and marked deep: what was
 *   created in it before its watch existed is found by listing it, what comes after by events.
 * - A directory replaced or deleted loses its watches; one that reports an event about itself
 *   (libuv names a watch's own deletion by the directory's own name) is watched anew and marked
 *   deep, so a directory re-created with a recycled inode number is not left unwatched.
 * - The kernel's overflow event: libuv drops it silently. A full queue holds
 *   `max_queued_events` events and libuv reads it whole in one turn of the loop, so a turn
 *   that delivers at least {@link ThreadConfig.overflowEvents} events is taken as an overflow:
 *   every watch is set up again and the whole tree is marked deep.
 * - The watch limit: `ENOSPC` from inotify ends the watch with a message naming
 *   `fs.inotify.max_user_watches`, instead of leaving a directory unwatched.
 */
import type { DirtyPlan } from './dirty-set.js';
import { DIRTY_SET_SOURCE } from './dirty-set.js';

export interface ThreadConfig {
  /** Absolute filesystem path of the storage root, without a trailing slash (except `/`). */
  root: string;
  /** Follow symbolic links to directories, as the storage does. */
  follow: boolean;
  /** Directories marked before the set coarsens. */
  maxDirty: number;
  /** Events in one turn of the loop taken as an overflow of the kernel's queue. */
  overflowEvents: number;
  /** Watches this thread may hold (tests): one more fails as the system's limit does. */
  watchLimit?: number;
}

export type ToThread = { type: 'take' } | { type: 'mark'; shallow: string[]; deep: string[] };

export type FatalCode = 'WATCH_LIMIT' | 'WATCH_FAILED';

export type FromThread =
  | { type: 'ready'; watches: number; unwatchable: string[] }
  | { type: 'dirty' }
  | { type: 'plan'; plan: DirtyPlan; watches: number; overflows: number; unwatchable: string[] }
  | { type: 'fatal'; code: FatalCode; message: string };

function threadMain(): void {
  // Not require(): this function runs from its source text, and a bundler rewrites
  // require() calls into a helper the thread does not have (scripts/bundle.js).
  const { parentPort, workerData } = process.getBuiltinModule('node:worker_threads');
  const fs = process.getBuiltinModule('node:fs');
  const port = parentPort!;
  const config = workerData as ThreadConfig;
  const { root, follow } = config;
  // Declared by DIRTY_SET_SOURCE, evaluated before this function.
  const dirty = new DirtySet(config.maxDirty);

  interface Watch {
    watcher: import('node:fs').FSWatcher;
    /** The inode watched (`dev:ino`): another one under the same name is a new directory. */
    inode: string;
  }
  const watches = new Map<string, Watch>();
  /** Directories that could not be watched (no permission): their scan says why. */
  let unwatchable = new Set<string>();
  let notified = false;
  let overflows = 0;
  let turnEvents = 0;
  let turnOpen = false;
  let dead = false;

  class Stop extends Error {}

  /** Marker files (src/scan/exclude/markers.ts): their rules reach the whole subtree. */
  const MARKERS = new Set(['.nomedia', '.ignore', '.trawlignore']);
  const fsPath = (path: string) => (path === '/' ? root : root === '/' ? path : root + path);
  const join = (dir: string, name: string) => (dir === '/' ? `/${name}` : `${dir}/${name}`);
  const up = (path: string) => parentOf(path);
  const baseName = (path: string) => path.slice(path.lastIndexOf('/') + 1);

  function notify(): void {
    if (notified || dirty.size === 0 || dead) return;
    notified = true;
    port.postMessage({ type: 'dirty' } satisfies FromThread);
  }

  function setting(name: string): string {
    try {
      return fs.readFileSync(`/proc/sys/fs/inotify/${name}`, 'utf8').trim();
    } catch {
      return 'unknown';
    }
  }

  function fatal(code: FatalCode, message: string): never {
    dead = true;
    for (const w of watches.values()) w.watcher.close();
    watches.clear();
    port.postMessage({ type: 'fatal', code, message } satisfies FromThread);
    throw new Stop();
  }

  function limitReached(held: number): never {
    const limit = config.watchLimit ?? setting('max_user_watches');
    fatal(
      'WATCH_LIMIT',
      `the system's limit on inotify watches is reached (fs.inotify.max_user_watches = ${limit}, ` +
        `shared by every process of this user; this watch holds ${held}, one per directory). ` +
        `Raise it (sysctl fs.inotify.max_user_watches=${suggest(limit, held)}, and in /etc/sysctl.d/ to keep it) ` +
        `or watch a smaller folder; until then changes would go unseen, so the watch stops`,
    );
  }

  function suggest(limit: number | string, held: number): number {
    const now = typeof limit === 'number' ? limit : Number(limit);
    return Math.max(524288, 2 ** Math.ceil(Math.log2(Math.max(now, held) * 2 || 1)));
  }

  /** Watches `dir` (whose inode is `inode`): true when watched, false when it is gone or may not be read. */
  function addWatch(dir: string, inode: string): boolean {
    if (config.watchLimit !== undefined && watches.size >= config.watchLimit) {
      limitReached(watches.size);
    }
    let watcher: import('node:fs').FSWatcher;
    try {
      watcher = fs.watch(fsPath(dir), (_type, name) => onEvent(dir, name));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC') limitReached(watches.size);
      if (code === 'EMFILE') {
        fatal(
          'WATCH_LIMIT',
          `no inotify instance can be had (fs.inotify.max_user_instances = ${setting('max_user_instances')}, or the open-file limit): raise it, or stop other watchers of this user`,
        );
      }
      if (code === 'EACCES' || code === 'EPERM') {
        unwatchable.add(dir);
        return false;
      }
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') return false;
      fatal('WATCH_FAILED', `cannot watch ${dir}: ${(error as Error).message}`);
    }
    // A watch that fails later (its directory became unreadable): set it up again from its
    // parent's point of view, and list what it covered.
    watcher.on('error', () => {
      if (dead || watches.get(dir)?.watcher !== watcher) return;
      closeUnder(dir);
      reinspect(dir);
      notify();
    });
    watches.set(dir, { watcher, inode });
    unwatchable.delete(dir);
    return true;
  }

  /** Closes the watches of `dir` and of everything under it. */
  function closeUnder(dir: string): void {
    const prefix = dir === '/' ? '/' : `${dir}/`;
    for (const [path, w] of watches) {
      if (path === dir || path.startsWith(prefix)) {
        w.watcher.close();
        watches.delete(path);
      }
    }
  }

  /**
   * Watches every directory from `start` down: each is watched before it is read, so an entry
   * created after the read is an event, and one created before it is in the read.
   */
  function walkFrom(start: string): void {
    const stack = [start];
    const seen = new Set<string>();
    while (stack.length > 0) {
      const dir = stack.pop()!;
      let st: import('node:fs').Stats | undefined;
      try {
        st = follow ? fs.statSync(fsPath(dir)) : fs.lstatSync(fsPath(dir));
      } catch {
        continue;
      }
      if (!st.isDirectory()) continue;
      const key = `${st.dev}:${st.ino}`;
      if (seen.has(key)) continue; // a symbolic link back to an ancestor
      seen.add(key);
      if (!watches.has(dir) && !addWatch(dir, key)) continue;
      let entries: import('node:fs').Dirent[];
      try {
        entries = fs.readdirSync(fsPath(dir), { withFileTypes: true });
      } catch {
        continue;
      }
      for (const e of entries) {
        if (e.isDirectory() || (follow && e.isSymbolicLink())) stack.push(join(dir, e.name));
      }
    }
  }

  /** `path` changed in a way its parent's listing shows: re-watch and list it if it is a directory. */
  function reinspect(path: string): void {
    let isDir = false;
    try {
      const st = follow ? fs.statSync(fsPath(path)) : fs.lstatSync(fsPath(path));
      isDir = st.isDirectory();
    } catch {
      // gone
    }
    if (isDir) {
      walkFrom(path);
      dirty.markDeep(path);
    } else closeUnder(path);
    const parent = up(path);
    if (parent !== undefined) dirty.markShallow(parent);
  }

  function onEvent(dir: string, name: string | Buffer | null): void {
    turnEvents++;
    if (!turnOpen) {
      turnOpen = true;
      setImmediate(endTurn);
    }
    if (dead || !watches.has(dir)) return; // a watch closed since the kernel queued this
    try {
      dirty.markShallow(dir);
      // A directory's own time changes with its entries, and lives in its parent's listing.
      const parent = up(dir);
      if (parent !== undefined) dirty.markShallow(parent);
      const child = name === null ? undefined : String(name);
      if (child === undefined || (dir !== '/' && child === baseName(dir))) {
        // libuv names an event about the watched directory itself (deleted, moved) by the
        // directory's own name: watch it anew, whatever inode is there now.
        closeUnder(dir);
        reinspect(dir);
        if (child !== undefined) inspectChild(join(dir, child));
      } else {
        inspectChild(join(dir, child));
        // A marker file's rules hold for the whole subtree (docs/excludes.md): list it all.
        if (MARKERS.has(child)) dirty.markDeep(dir);
      }
      notify();
    } catch (error) {
      if (!(error instanceof Stop)) throw error;
    }
  }

  /** A child named by an event: a directory not watched yet is new (or replaced). */
  function inspectChild(path: string): void {
    let inode: string | undefined;
    try {
      const st = follow ? fs.statSync(fsPath(path)) : fs.lstatSync(fsPath(path));
      if (st.isDirectory()) inode = `${st.dev}:${st.ino}`;
    } catch {
      // gone: its watches go; the parent's listing removes it
    }
    if (inode === undefined) {
      closeUnder(path);
      return;
    }
    // The directory already watched (its attributes changed): its parent's listing says it.
    // A recycled inode number is caught by the old directory's own deletion event.
    if (watches.get(path)?.inode === inode) return;
    // A directory renamed or replaced under a watched name: its old watches point at the
    // inode that left. Watch it afresh and list its subtree.
    closeUnder(path);
    walkFrom(path);
    dirty.markDeep(path);
  }

  function endTurn(): void {
    turnOpen = false;
    const events = turnEvents;
    turnEvents = 0;
    if (dead || events < config.overflowEvents) return;
    overflows++;
    try {
      resync();
    } catch (error) {
      if (!(error instanceof Stop)) throw error;
    }
    notify();
  }

  /** After a possible overflow: every watch set up again, the whole tree to be listed. */
  function resync(): void {
    for (const w of watches.values()) w.watcher.close();
    watches.clear();
    unwatchable = new Set();
    walkFrom('/');
    dirty.markDeep('/');
  }

  port.on('message', (message: ToThread) => {
    if (dead) return;
    if (message.type === 'take') {
      const reply: FromThread = {
        type: 'plan',
        plan: dirty.take(),
        watches: watches.size,
        overflows,
        unwatchable: [...unwatchable],
      };
      overflows = 0;
      notified = false;
      port.postMessage(reply);
      return;
    }
    for (const d of message.shallow) dirty.markShallow(d);
    for (const d of message.deep) dirty.markDeep(d);
    notify();
  });

  try {
    walkFrom('/');
    if (!watches.has('/')) fatal('WATCH_FAILED', `cannot watch ${root}: not a readable folder`);
    port.postMessage({
      type: 'ready',
      watches: watches.size,
      unwatchable: [...unwatchable],
    } satisfies FromThread);
  } catch (error) {
    if (!(error instanceof Stop)) throw error;
  }
}

// Declarations the thread's body finds in scope at run time (from DIRTY_SET_SOURCE).
declare class DirtySet {
  constructor(max: number);
  readonly size: number;
  markShallow(dir: string): void;
  markDeep(dir: string): void;
  take(): DirtyPlan;
}
declare function parentOf(path: string): string | undefined;

/** The thread's source: the dirty set, then the body. */
export const WATCH_THREAD_SOURCE = `${DIRTY_SET_SOURCE}\n(${threadMain.toString()})()`;
