#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-old-space-size=1024 --max-semi-space-size=2 --min-semi-space-size=2
// Why the heap flag: with no explicit limit V8 sizes its heap from the machine's memory
// (4 GB here) and lets garbage pile up to hundreds of MB before collecting; any explicit
// limit makes it collect early. 1,000,000-file scans peak at ~190 MB instead of ~260 MB at
// the same speed, and 1 GB still holds a single directory of millions of entries.
// Why the semi-space flag: a scan makes short-lived objects (an entry, a row) by the million,
// and V8 grows its young generation up to 16 MB semi-spaces for them; almost none survive a
// collection, so small ones collect them about as cheaply. Measured (first scans): peak RSS
// 1,000,000 files 183 → 151 MB, 200,000 files 170–180 → 134–140 MB, CPU within the noise;
// at 1 MB a first scan took 10–15 % more CPU (docs/benchmarks.md).
// Why the minimum too: V8 starts the young generation at 1 MB and grows it to the maximum at
// the first collections; a scan of an empty folder allocates ~1.4 MB, so it paid two
// scavenges (0.6–1.5 ms each, copying the modules' state it keeps) that a 2 MB start avoids.
// A long scan is at 2 MB after its first collections either way (docs/benchmarks.md).
// Why MALLOC_ARENA_MAX: glibc gives each thread that allocates its own malloc arena (up to
// 8 per core), and a scan runs several (main, listing threads, SQLite's writer) whose
// freed memory then sits in as many arenas; two arenas for all of them took the peak RSS of a
// 1,000,000-file first scan 8–10 MB lower at the same CPU (docs/benchmarks.md). Other
// C libraries ignore the variable.
// Run it as `./bin/trawl.js` or `npx trawl`; `node bin/trawl.js` works too, without the flags.
// The compiled CLI lives in dist/ (built by `npm ci` through `prepare`, or `npm run build`).
//
// CommonJS (bin/package.json), unlike the rest of the package: an ES module entry costs ~5 ms
// of CPU more at every start — Node's ES loader, and a facade per imported builtin, whose
// `node:fs` one reads every export and so loads Node's streams (bench:startup). Builtins
// other than `fs` are required where they are needed.
'use strict';
const { readFileSync, statSync, writeSync } = require('node:fs');

// A plain path: building a URL per file made the check below 10× slower (~20 ms a start).
const dist = `${__dirname}/../dist/`;
const current = bundleIsCurrent();
const args = process.argv.slice(2);
if (current && args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  // As src/cli/main.ts answers it, from the version the bundle was built with: without
  // reading the bundle at all, and without process.stdout (a stream, with the modules under
  // it); fd 1 takes a few bytes whole whether it is a file, a pipe or a terminal.
  writeVersion(`${current.version}\n`);
} else {
  load().then(({ main }) =>
    main(process.argv).then((code) => {
      process.exitCode = code;
    }),
  );
}

function writeVersion(text) {
  try {
    writeSync(1, text);
  } catch (error) {
    if (error?.code === 'EPIPE') return; // `trawl --version | true`: nobody to tell
    if (error?.code !== 'EAGAIN') throw error;
    process.stdout.write(text); // a non-blocking stdout that is full: Node's stream waits
  }
}

async function load() {
  try {
    if (current) return runBundle(current);
    debugStart('dist/cli/main.js (no current bundle)');
    return await import('../dist/cli/main.js');
  } catch (error) {
    if (
      error?.code === 'ERR_MODULE_NOT_FOUND' &&
      String(error.message).includes('dist/cli/main.js')
    ) {
      process.stderr.write('trawl: not built yet: run `npm run build` (or `npm ci`) first\n');
      process.exit(1);
    }
    throw error;
  }
}

/**
 * Whether dist/bundle/ (`npm run build`, scripts/bundle.js) was made from the dist/ files
 * there now: it starts several times faster than dist/cli/main.js, but a `tsc` build made
 * after it rewrote them, and then it is stale. Told by one stamp: dist/.tsbuildinfo, which tsc
 * rewrites after every build that emitted (tsconfig.build.json; `tsc -w` too), checked with
 * the bundle's own two files — 3 `stat`s where one per bundled file (~280) took ~2 ms of
 * every start. What it does not see: a dist/ file edited by hand, or written by a tsc that
 * writes no build info there; `npm run build` after either. Without the stamp (none recorded,
 * or its file gone) every bundled file is compared, as before.
 * Returns what the build recorded (its version, its code caches' mtimes, null: none) when current.
 */
function bundleIsCurrent() {
  try {
    const built = JSON.parse(readFileSync(`${dist}bundle/inputs.json`, 'utf8'));
    const unchanged = ([path, ms]) => statSync(dist + path).mtimeMs === ms;
    if (!built.own.every(unchanged)) return undefined;
    const stamp = built.stamp && statSync(dist + built.stamp[0], { throwIfNoEntry: false });
    if (stamp) return stamp.mtimeMs === built.stamp[1] ? built : undefined;
    const files = JSON.parse(readFileSync(`${dist}bundle/files.json`, 'utf8'));
    return files.every(unchanged) ? built : undefined;
  } catch {
    return undefined; // no bundle (a tsc-only build), an older one, or a file gone
  }
}

/**
 * dist/bundle/main.cjs, compiled as Node compiles a CommonJS file but with V8's code cache
 * of it (scripts/bundle.js): what a start would compile is read instead. Kysely is a script
 * of its own beside it (kysely.cjs, with its cache), run at the bundle's first
 * `require('kysely')`: a local scan into SQLite never needs it.
 */
function runBundle(built) {
  // The CommonJS loader this file was loaded with (`Module`), not `require('node:module')`:
  // that public module loads Node's ES module loader, ~1 ms of a start (bench:startup).
  const { createRequire } = module.constructor;
  const main = `${dist}bundle/main.cjs`;
  const inner = createRequire(main);
  let kysely;
  const bundleRequire = (id) =>
    id === 'kysely'
      ? (kysely ??= runScript(`${dist}bundle/kysely.cjs`, built.kyselyCache, inner, 'Kysely'))
      : inner(id);
  // What a module's `require` carries (pino's thread-stream reads `require.main`).
  Object.assign(bundleRequire, inner);
  return runScript(main, built.cache, bundleRequire, 'the bundle');
}

/**
 * One of the bundle's scripts, compiled with its code cache when that is the one the build
 * made: used only while its mtime is the one the build recorded (V8 checks a cache against
 * its source's length alone); V8 itself refuses one made under other node flags, and then
 * compiles.
 */
function runScript(file, cacheMtimeMs, moduleRequire, name) {
  const cacheFile = `${file}.cache`;
  const writeTo = process.env.TRAWL_WRITE_CODE_CACHE; // scripts/bundle.js, making a cache
  let cachedData;
  if (cacheMtimeMs != null && writeTo === undefined) {
    try {
      if (statSync(cacheFile).mtimeMs === cacheMtimeMs) cachedData = readFileSync(cacheFile);
    } catch {
      // no cache: compiled as any file is
    }
  }
  const { Script } = require('node:vm');
  // ASCII only (scripts/bundle.js): latin1 is a plain copy, where UTF-8 is decoded. The file
  // is a function expression taking the CommonJS module's arguments.
  const source = readFileSync(file, 'latin1');
  // No `import()` is left in the bundle (scripts/bundle.js): none needs a loader hook here.
  const script = new Script(source, { filename: file, cachedData });
  debugStart(
    `${name}, ${cachedData === undefined ? 'no code cache' : script.cachedDataRejected ? 'code cache rejected' : 'code cache used'}`,
  );
  if (writeTo !== undefined && resolvedPath(writeTo) === resolvedPath(cacheFile)) {
    // After the run, so that the cache holds every function the run compiled.
    process.once('exit', () =>
      require('node:fs').writeFileSync(writeTo, script.createCachedData()),
    );
  }
  const module = { exports: {} };
  script
    .runInThisContext()
    .call(module.exports, module.exports, moduleRequire, module, file, `${dist}bundle`);
  return module.exports;
}

function resolvedPath(file) {
  return require('node:path').resolve(file);
}

/** TRAWL_DEBUG_START=1: which build runs, and whether V8 took the code cache (tests). */
function debugStart(line) {
  if (process.env.TRAWL_DEBUG_START === '1') process.stderr.write(`trawl: start: ${line}\n`);
}
