// Listing threads started before the bundle loads, for a command line that looks like a scan
// of a local folder: a thread's start (a Node isolate, ~40–50 ms of CPU) then runs on the
// other core while the main thread loads the bundle and opens the index, instead of after
// it — a dry run of 200,000 files waited ~80 ms for its two threads (docs/benchmarks.md,
// "Seventh round: the dry run"). This cannot know the storage's configuration (commander,
// the storage's options and the addon's path are in the bundle), so a thread starts blank:
// it waits for one message, `{ source, config }`, and runs the listing thread's body with its
// `parentPort` and `config` (src/storage/backends/local-blank.ts sends it). Only a guess,
// never a decision: a thread nobody takes is ended with the scan's prestarted ones, and
// unref'd it never holds the process.
'use strict';
const { statSync } = require('node:fs');

/** Where the bundle looks for them (BLANK_THREADS in src/storage/backends/local-blank.ts). */
const SLOT = Symbol.for('trawl.blankListingThreads');

/** A blank thread's whole code: it runs the listing body it is sent first. */
const BLANK_SOURCE = `const { parentPort } = process.getBuiltinModule('node:worker_threads');
parentPort.once('message', ({ source, config }) =>
  (0, eval)('(' + source + ')')({ port: parentPort, config }));`;

/** The scan options that take a value: the argument after one is not the folder. */
const VALUED = new Set(['--db', '--depth', '--workers', '--batch', '--exclude', '--redis']);

/**
 * How many blank threads `argv` (the arguments after the script) is worth: two for a dry
 * run (one of a place never scanned lists on two threads from the start) on more than one
 * core, one for any other scan of a folder given by path, none for anything else — a
 * command other than `scan`, `--enqueue`, a URL, or a folder whose link count says it holds
 * no subdirectory (the walk lists it on the main thread, as prestartLocalListing decides).
 */
function blankThreadsFor(argv, cores) {
  if (argv[0] !== 'scan' || argv.includes('--enqueue')) return 0;
  const folder = argv.slice(1).find((a, i) => !a.startsWith('-') && !VALUED.has(argv[i]));
  if (folder === undefined || folder.includes('://')) return 0;
  let st;
  try {
    st = statSync(folder, { throwIfNoEntry: false });
  } catch {
    return 0;
  }
  if (!st?.isDirectory() || st.nlink === 2) return 0;
  return argv.includes('--dry-run') && cores > 1 ? 2 : 1;
}

/** Starts the blank threads `argv` is worth and leaves them where the bundle finds them. */
function startBlankListing(argv) {
  const count = blankThreadsFor(argv, require('node:os').availableParallelism());
  if (count === 0) return;
  const { Worker } = require('node:worker_threads');
  const threads = [];
  for (let i = 0; i < count; i++) {
    // WORKER_YOUNG_MB of src/storage/backends/local.ts.
    const worker = new Worker(BLANK_SOURCE, {
      eval: true,
      resourceLimits: { maxYoungGenerationSizeMb: 4 },
    });
    worker.unref();
    worker.on('error', () => undefined); // a thread that fails blank is passed over
    threads.push(worker);
  }
  globalThis[SLOT] = threads;
  // TRAWL_DEBUG_START=1 (bin/trawl.js): what started (tests).
  if (process.env.TRAWL_DEBUG_START === '1') {
    process.stderr.write(`trawl: start: ${count} blank listing thread(s)\n`);
  }
}

module.exports = { BLANK_SOURCE, SLOT, blankThreadsFor, startBlankListing };
