/**
 * Listing threads bin/blank-listing.cjs started before the bundle loaded, for a command line
 * that looks like a local scan: their start (a Node isolate each, ~40–50 ms of CPU) ran while
 * this thread loaded the bundle and opened the index. They start blank, not knowing the
 * storage: each waits for one message, `{ source, config }`, and then runs the listing
 * thread's body (local-worker.ts's WORKER_FUNCTION) with its `parentPort` and `config`, as a
 * thread started with `workerData: config` runs it. The handoff is a process-wide slot
 * ({@link BLANK_THREADS}): bin/trawl.js and the bundle are separate scripts in one context.
 */
import type { Worker } from 'node:worker_threads';
import { WORKER_FUNCTION, type WorkerConfig } from './local-worker.js';

/** The global slot bin/blank-listing.cjs leaves its threads in (`SLOT` there). */
export const BLANK_THREADS = Symbol.for('trawl.blankListingThreads');

function pool(): Worker[] | undefined {
  const found = (globalThis as Record<symbol, unknown>)[BLANK_THREADS];
  return Array.isArray(found) ? (found as Worker[]) : undefined;
}

/**
 * A blank thread bin started, given `config` and running the listing from now on; undefined
 * when none is left (or none was started). A thread that died blank is passed over (an
 * exited Worker's threadId is -1).
 */
export function takeBlankThread(config: WorkerConfig): Worker | undefined {
  const threads = pool();
  let worker = threads?.shift();
  while (worker !== undefined && worker.threadId === -1) worker = threads!.shift();
  if (worker === undefined) return undefined;
  worker.postMessage({ source: WORKER_FUNCTION, config });
  // As bin/trawl.js says what started (TRAWL_DEBUG_START=1, tests).
  if (process.env.TRAWL_DEBUG_START === '1') {
    process.stderr.write('trawl: start: a blank listing thread taken\n');
  }
  return worker;
}

/** Ends the blank threads nobody took (the scan is over, or was no local scan). */
export function endBlankThreads(): void {
  const threads = pool();
  for (const worker of threads?.splice(0) ?? []) void worker.terminate();
}
