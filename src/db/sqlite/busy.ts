import { sleep } from '../../util/sleep.js';
import { cancelledIndexError, classifyIndexError, IndexError } from '../errors.js';

/**
 * How long trawl waits for another process's lock on a SQLite index, at open and for every
 * write after (TRAWL_SQLITE_BUSY_TIMEOUT_MS). better-sqlite3's own default: a batch of
 * another trawl holds the write lock for milliseconds, so only a stuck or long-running
 * writer makes anyone wait this long.
 * @default 5,000 ms
 */
export const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

/** SQLite's own busy handler sleeps 1, 2, 5, 10, … up to 100 ms between tries; so does this. */
const PAUSES_MS = [1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100];

export interface LockWait {
  /** When to give up (epoch ms). */
  deadline: number;
  signal?: AbortSignal | undefined;
  /** Called when the first attempt finds the index locked. */
  onLocked?: (() => void) | undefined;
  /** For the message: the file, and how long the whole wait may take. */
  file: string;
  timeoutMs: number;
}

/**
 * Runs `attempt` until it gets past a lock another process holds (SQLITE_BUSY or
 * SQLITE_LOCKED, from anywhere in it) or `deadline` passes. The connection's own busy
 * timeout must be 0 meanwhile: SQLite's busy handler sleeps inside the call, blocking the
 * event loop, so no signal and no notice could come through. Here the waits are timers.
 */
export async function untilUnlocked<T>(attempt: () => T | Promise<T>, wait: LockWait): Promise<T> {
  for (let tries = 0; ; tries++) {
    if (wait.signal?.aborted) throw cancelledIndexError('opening the index');
    try {
      return await attempt();
    } catch (error) {
      if (classifyIndexError(error) !== 'INDEX_LOCKED') throw error;
      if (Date.now() >= wait.deadline) {
        throw new IndexError(
          `the index ${wait.file} is locked by another process ` +
            `(waited ${wait.timeoutMs / 1000} s: ${(error as Error).message})`,
          { cause: error, code: 'INDEX_LOCKED' },
        );
      }
      if (tries === 0) wait.onLocked?.();
      const pause = PAUSES_MS[Math.min(tries, PAUSES_MS.length - 1)]!;
      await sleep(Math.min(pause, Math.max(0, wait.deadline - Date.now())), wait.signal).catch(
        () => {
          throw cancelledIndexError('opening the index');
        },
      );
    }
  }
}
