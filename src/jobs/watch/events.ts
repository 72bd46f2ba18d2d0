import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { DirtyPlan } from './dirty-set.js';
import {
  WATCH_THREAD_SOURCE,
  type FatalCode,
  type FromThread,
  type ThreadConfig,
  type ToThread,
} from './watch-thread.js';

/** The watch cannot go on (the system's watch limit, a folder that cannot be watched). */
export class WatchError extends Error {
  override name = 'WatchError';
  readonly code: FatalCode;

  constructor(code: FatalCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** What the thread hands over: directories to list again, and what it knows of itself. */
export interface TakenPlan {
  plan: DirtyPlan;
  /** Directories watched now. */
  watches: number;
  /** Overflows of the kernel's event queue since the last take (each marked the whole tree). */
  overflows: number;
  /** Directories that may not be read, so are not watched (their scans report them). */
  unwatchable: string[];
}

/** Directories marked before the set coarsens. @see DirtySet */
export const DEFAULT_MAX_DIRTY = 10_000;

/** Events in one turn of the thread's loop that mean an overflow: 90 % of the kernel's queue. */
export function defaultOverflowEvents(): number {
  try {
    const queued = Number(readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8'));
    if (Number.isInteger(queued) && queued > 0) return Math.floor(queued * 0.9);
  } catch {
    // not Linux: no queue to overflow that this can see
  }
  return 16_384 * 0.9;
}

/**
 * The file-system side of a watch: a thread holding one inotify watch per directory of a
 * local folder, which marks directories to list again. The main thread is told once that
 * something is marked ({@link onDirty}) and takes the marks when it is ready to apply them, so
 * nothing queues between the two threads beyond the thread's bounded set.
 */
export class DirectoryEvents {
  readonly #worker: Worker;
  #waiting: Array<{ resolve: (t: TakenPlan) => void; reject: (e: Error) => void }> = [];
  #failure: WatchError | undefined;
  #onDirty: () => void = () => undefined;
  #onFatal: (error: WatchError) => void = () => undefined;
  #closed = false;
  #ready: { watches: number; unwatchable: string[] } = { watches: 0, unwatchable: [] };

  private constructor(worker: Worker) {
    this.#worker = worker;
  }

  /**
   * Watches every directory under `config.root` and resolves once all are watched (so a
   * scan started afterwards misses nothing). Rejects with a WatchError when they cannot be.
   */
  static start(config: ThreadConfig): Promise<DirectoryEvents> {
    const worker = new Worker(WATCH_THREAD_SOURCE, { eval: true, workerData: config });
    const events = new DirectoryEvents(worker);
    return new Promise((resolve, reject) => {
      let ready = false;
      worker.on('message', (message: FromThread) => {
        if (message.type === 'ready') {
          ready = true;
          events.#ready = { watches: message.watches, unwatchable: message.unwatchable };
          resolve(events);
        } else if (message.type === 'fatal') {
          const error = new WatchError(message.code, message.message);
          if (!ready) {
            reject(error);
            void worker.terminate();
          } else events.#fail(error);
        } else if (message.type === 'dirty') events.#onDirty();
        else {
          const { plan, watches, overflows, unwatchable } = message;
          events.#waiting.shift()?.resolve({ plan, watches, overflows, unwatchable });
        }
      });
      worker.on('error', (error) => {
        const e = new WatchError('WATCH_FAILED', `the watch thread failed: ${error.message}`);
        if (!ready) reject(e);
        else events.#fail(e);
      });
      worker.on('exit', () => {
        if (!events.#closed) {
          const e = new WatchError('WATCH_FAILED', 'the watch thread exited');
          if (!ready) reject(e);
          else events.#fail(e);
        }
      });
    });
  }

  /** Directories watched when it started, and those that could not be (no permission). */
  get ready(): { watches: number; unwatchable: string[] } {
    return this.#ready;
  }

  /** Called (at most once per take) when a directory is marked. */
  set onDirty(listener: () => void) {
    this.#onDirty = listener;
  }

  /** Called once if the watch can no longer see every change. */
  set onFatal(listener: (error: WatchError) => void) {
    this.#onFatal = listener;
    if (this.#failure) listener(this.#failure);
  }

  /** Everything marked so far, and an empty set behind it. */
  take(): Promise<TakenPlan> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#worker.postMessage({ type: 'take' } satisfies ToThread);
    });
  }

  /** Marks directories again (a plan that could not be applied, a rescan due). */
  mark(shallow: readonly string[], deep: readonly string[]): void {
    if (this.#failure || this.#closed) return;
    this.#worker.postMessage({
      type: 'mark',
      shallow: [...shallow],
      deep: [...deep],
    } satisfies ToThread);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#waiting) w.reject(new WatchError('WATCH_FAILED', 'the watch is closed'));
    this.#waiting = [];
    await this.#worker.terminate();
  }

  #fail(error: WatchError): void {
    if (this.#failure || this.#closed) return;
    this.#failure = error;
    for (const w of this.#waiting) w.reject(error);
    this.#waiting = [];
    this.#onFatal(error);
  }
}
