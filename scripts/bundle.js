#!/usr/bin/env node
/**
 * The command line as one bundle (dist/bundle/main.cjs) with a V8 code cache beside it,
 * built from tsc's output (dist/) by esbuild: `npm run build` runs it after tsc. Why: Node
 * 20 loads ES modules one file at a time (resolve, read, compile, link), and a scan pulled
 * ~600 files — Kysely alone is 263 — at ~0.5 ms each. Bundled into ES module chunks, a scan
 * of an empty folder still loaded ~30 of them and compiled every function it ran; as one
 * CommonJS file, compiled from the code cache made here, it starts in ~100 ms less CPU
 * (bench:startup, docs/benchmarks.md). Node 20 has no compile cache of its own
 * (`module.enableCompileCache` is Node 22), so bin/trawl.js compiles the bundle with
 * `vm.Script` and hands V8 the cache.
 *
 * Laziness holds inside the one file: esbuild wraps every module that is imported
 * dynamically in a function run on first import, so `--version` and `--help` still run none
 * of the database layer, the fleet or the server (test/cli.startup.test.ts).
 *
 * Packages left outside the bundle load from node_modules as before: those loaded lazily
 * anyway (the fleet's, the HTTP stack's, the storage SDKs). better-sqlite3's JavaScript is
 * inside, its native addon is not: src/db/sqlite/driver.ts hands every open the addon's path.
 *
 * The code cache is made by running the bundle (an empty folder scanned into a scratch index:
 * the command line, the app, the index and the scan engine) with the node flags of
 * bin/trawl.js's first line; what that run did not compile is compiled lazily, as without a
 * cache. V8 refuses a cache made
 * under other flags (then the bundle is just compiled, as without one). V8 checks a cache
 * against its source by length only, so bin/trawl.js uses it only while its mtime is the one
 * recorded here, next to the bundle's.
 *
 * dist/bundle/inputs.json holds the mtimes of the bundle's own files and of its caches, the
 * version (`--version` is answered from it) and the stamp: the mtime of dist/.tsbuildinfo,
 * which tsc (tsconfig.build.json: `incremental`) rewrites after every build that emitted
 * anything — `tsc -w` too, which rewrites only the files that changed, in place. bin/trawl.js
 * runs the bundle only while the stamp and the bundle's own files still match, so a `tsc`
 * build made after it is never shadowed by a stale bundle: one `stat` instead of one per
 * bundled file (~280, 1.6 ms of every start: bench:startup). Not seen: a dist/ file edited by
 * hand, or written by a tsc that writes no build info there (`npm run build` after either).
 * Without the stamp file (deleted, or never written) it compares every file bundled, with its
 * mtime, listed in dist/bundle/files.json. (An incremental tsc does not write again an output
 * deleted by hand while its build info stays: scripts/dist-complete.js, run before it, then
 * removes the build info.)
 */
import { spawnSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const { VERSION } = await import(`${root}dist/cli/version.js`);
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
/**
 * Pure JS on a command's hot path: these are worth having inside the bundle (better-sqlite3's
 * JavaScript: its addon is required by path, src/db/sqlite/driver.ts). Not basic-ftp:
 * src/storage/backends/ftp-lib.ts requires it at the first FTP connection.
 */
const BUNDLED = new Set(['kysely', 'commander', 'prom-client', 'pino', 'better-sqlite3']);
const external = Object.keys(pkg.dependencies).filter((name) => !BUNDLED.has(name));
const outdir = `${root}dist/bundle`;
const bundle = `${outdir}/main.cjs`;
const cache = `${bundle}.cache`;
/**
 * Kysely, a script of its own with its own code cache (bin/trawl.js loads it at the first
 * `require('kysely')` of the bundle): a local scan into SQLite runs none of it
 * (src/db/sqlite/bookkeeping.ts), and a cache holding it cost every start ~2 ms more to
 * deserialize; commands that query still start from a cache of it (bench:startup).
 */
const kysely = `${outdir}/kysely.cjs`;
const kyselyCache = `${kysely}.cache`;
/** The key under which a lazy builtin's exports hold its namespace (LAZY_MODULE, namespacesOnce). */
const LAZY_NAMESPACE = "Symbol.for('trawl.lazyBuiltinNamespace')";
/**
 * A lazy builtin's exports (builtinsOnFirstUse): a Proxy that reads every property of the
 * real module, required at the first read, and lists the module's export names without
 * requiring it. An object with a getter per export cost every start ~0.4 ms to build for the
 * six builtins an empty scan imports (crypto alone has 70 exports), and each ES import of it
 * copied the getters again into a namespace (esbuild's `__toESM`); a Proxy costs the same at
 * any size. Its namespace, which `__toESM` hands out (namespacesOnce), is a second Proxy:
 * `default` is the module, as Node gives a CommonJS module's namespace. `names`, `load` and
 * `require` are the module's own (see the plugin's contents).
 */
const LAZY_MODULE = `(() => {
  const traps = (keys, value) => ({
    get: (_, key) => value(key),
    has: (_, key) => keys.has(key),
    ownKeys: () => [...keys],
    getOwnPropertyDescriptor: (_, key) =>
      keys.has(key) ? { get: () => value(key), enumerable: true, configurable: true } : undefined,
  });
  let namespace;
  const lazyNamespace = ${LAZY_NAMESPACE};
  const exports = new Proxy(
    {},
    traps(names, (key) => (key === lazyNamespace ? namespace : load()[key])),
  );
  namespace = new Proxy(
    {},
    traps(new Set([...names, 'default']), (key) => (key === 'default' ? exports : load()[key])),
  );
  return exports;
})()`;

/** tsc's build info (tsconfig.build.json), relative to dist/: the stamp of a tsc build. */
const STAMP = '.tsbuildinfo';
/** The function Node would wrap a CommonJS module in, written out (bin/trawl.js calls it). */
const WRAPPER = '(function (exports, require, module, __filename, __dirname) {';

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: ['dist/cli/main.js'],
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  outfile: bundle,
  external: [...external, 'kysely'],
  // A package outside the bundle imported dynamically (the S3 SDK) is required too: an
  // `import()` left in a `vm.Script` needs Node's experimental loader hook, which warns.
  supported: { 'dynamic-import': false },
  // The ES modules' `import.meta.url`, as the file the bundle is: it sits at the same depth
  // as dist/cli/ and dist/api/, so paths made from it (`../../web/`) resolve as before.
  define: { 'import.meta.url': '__trawlUrl' },
  // The file is the function Node would wrap a CommonJS module in, written out: bin/trawl.js
  // compiles it as it is (no 1 MB string concatenated and flattened at every start) and
  // calls it with the module's arguments. `import.meta.url` is written out for a resolved
  // path of plain characters (what pathToFileURL gives it unescaped): pathToFileURL's first
  // call cost every start ~0.3 ms (bench:startup); any other path still goes through it.
  banner: {
    js:
      `${WRAPPER}const __trawlPath = require('node:path').resolve(__filename);` +
      `const __trawlUrl = /^\\/[\\w./-]*$/.test(__trawlPath) ? 'file://' + __trawlPath : ` +
      `require('node:url').pathToFileURL(__filename).href;`,
  },
  footer: { js: '\n})' },
  // Non-ASCII characters escaped (esbuild's default, said here because bin/trawl.js relies
  // on it): the file is read as latin1, a plain copy into a one-byte string, ~0.7 ms less
  // than decoding UTF-8 at every start. Checked below.
  charset: 'ascii',
  plugins: [builtinsOnFirstUse(), promClientClassesOnly()],
  // No comments and no indentation: every start reads, decodes and compiles (or deserializes
  // the cache of) the whole file, and esbuild keeps the doc comments of class members —
  // non-ASCII among them (—, …), which made V8 hold the 1.8 MB source as a two-byte string.
  // 1.85 → 1.14 MB; names are kept (no renaming), so stack traces still name functions.
  minifyWhitespace: true,
  metafile: true,
  logLevel: 'warning',
});

await build({
  absWorkingDir: root,
  stdin: { contents: "module.exports = require('kysely');", resolveDir: root },
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // Kysely's ES build, as dist/ imports it (its CommonJS build is another copy of the code).
  mainFields: ['module', 'main'],
  conditions: ['import'],
  outfile: kysely,
  banner: { js: WRAPPER },
  footer: { js: '\n})' },
  charset: 'ascii',
  minifyWhitespace: true,
  logLevel: 'warning',
});

/**
 * esbuild's `__toESM` made a new namespace object for every `import` of a CommonJS module
 * (a package, or one of the builtins above), defining a getter per export on it: an empty
 * scan made 27 of them, 767 getters (16 for `crypto` alone), ~0.5 ms of every start. Here it
 * makes one per module (and mode) and hands it to every importer, as an ES module's
 * namespace is one object; a module's exports are complete when it is first imported (no
 * CommonJS module in the bundle imports trawl's ES modules back).
 */
function namespacesOnce(file) {
  const helper = 'var __toESM=(mod,isNodeMode,target)=>(';
  const text = readFileSync(file, 'latin1');
  const at = text.indexOf(helper);
  if (at < 0 || text.indexOf(helper, at + 1) >= 0) {
    throw new Error(`${file}: esbuild's __toESM helper not found once (scripts/bundle.js)`);
  }
  const once =
    `var __trawlNamespaces=new WeakMap,__trawlLazyNamespace=${LAZY_NAMESPACE};` +
    'var __toESM=(mod,isNodeMode)=>{' +
    'if(mod===null||typeof mod!=="object"&&typeof mod!=="function")return __toESMEach(mod,isNodeMode);' +
    // A lazy builtin has its namespace made (LAZY_MODULE): copying its getters would read
    // nothing yet but cost a property per export.
    'const lazy=mod[__trawlLazyNamespace];if(lazy!==undefined)return lazy;' +
    'let made=__trawlNamespaces.get(mod);if(made===undefined)__trawlNamespaces.set(mod,made=[]);' +
    'return made[isNodeMode?1:0]??=__toESMEach(mod,isNodeMode)};';
  const rewritten =
    text.slice(0, at) +
    once +
    helper.replace('__toESM', '__toESMEach') +
    text.slice(at + helper.length);
  writeFileSync(file, rewritten, 'latin1');
}
namespacesOnce(bundle);

for (const file of [bundle, kysely]) {
  if (/[^\x00-\x7f]/.test(readFileSync(file, 'latin1'))) {
    throw new Error(`${file} holds non-ASCII bytes: bin/trawl.js reads it as latin1`);
  }
}

// The empty index a new SQLite file starts as (src/db/sqlite/prebuilt.ts): the schema
// script of this build on an empty file, in WAL mode, checkpointed by the close. Made before
// the code cache, so that the warm-up's fresh index takes the path every new index takes.
{
  // Named after its last migration (prebuilt.ts's prebuiltName): an open takes only the copy
  // of the migrations it knows. Older builds' copies go.
  const { MIGRATION_NAMES } = await import(`${root}dist/db/migrations/names.js`);
  const prebuilt = join(root, 'build', `fresh-index.${MIGRATION_NAMES.at(-1)}.db`);
  const tmp = `${prebuilt}.${process.pid}.tmp`;
  mkdirSync(join(root, 'build'), { recursive: true });
  for (const name of readdirSync(join(root, 'build'))) {
    if (/^fresh-index\..*\.db$/.test(name)) rmSync(join(root, 'build', name), { force: true });
  }
  for (const end of ['', '-wal', '-shm']) rmSync(`${tmp}${end}`, { force: true });
  const { default: Database } = await import('better-sqlite3');
  const { createFromScript } = await import(`${root}dist/db/sqlite/fresh-schema.js`);
  const db = new Database(tmp);
  db.pragma('journal_mode = WAL');
  if (createFromScript(db) === undefined) throw new Error(`bundle: ${tmp} was not empty`);
  db.close();
  renameSync(tmp, prebuilt);
}

// The code cache: the bundle run as bin/trawl.js runs it, asked to write what V8 compiled.
const shebang = readFileSync(new URL('../bin/trawl.js', import.meta.url), 'utf8').split('\n')[0];
const nodeFlags = shebang.split(/\s+/).filter((word) => word.startsWith('--'));
const scratch = mkdtempSync(join(tmpdir(), 'trawl-bundle-'));
try {
  mkdirSync(join(scratch, 'empty'));
  const warm = (writeTo, ...args) => {
    const run = spawnSync(process.execPath, [...nodeFlags, `${root}bin/trawl.js`, ...args], {
      env: { PATH: process.env.PATH, HOME: scratch, TRAWL_WRITE_CODE_CACHE: writeTo },
      encoding: 'utf8',
    });
    return run.status === 0 ? undefined : run.stderr || run.stdout || `exit ${run.status}`;
  };
  // Before the cache exists bin/trawl.js must run the bundle, so inputs.json comes first.
  writeInputs(undefined, undefined);
  const index = join(scratch, 'index.db');
  const failed = warm(cache, 'scan', join(scratch, 'empty'), '--db', index, '--json');
  // Without a cache the bundle still runs, only compiled at every start: not worth a failed build.
  if (failed) console.warn(`bundle: no code cache (the warm-up scan failed: ${failed.trim()})`);
  else {
    // Kysely's, from a command that queries the index the scan made.
    const unqueried = warm(kyselyCache, 'scans', '--db', index);
    if (unqueried) console.warn(`bundle: no code cache of Kysely (${unqueried.trim()})`);
    writeInputs(statSync(cache).mtimeMs, unqueried ? undefined : statSync(kyselyCache).mtimeMs);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

/**
 * Node's own modules that a start does not already have (`node -e 0` holds events, buffer,
 * path, fs, url, util, timers, async_hooks, querystring) cost 0.5–7 ms of CPU each the first
 * time they are required: `https` with `tls`, `net` and the streams under it ~6 ms, `crypto`
 * ~3, `worker_threads` ~2, `assert` ~2, `fs/promises` (with readline) ~1, `module` ~1 (it
 * loads Node's ES module loader: a local scan needs none of it, bench:startup). Every storage
 * backend's module, the lease, the listing code and pino require some at their top, so a
 * local scan of an empty folder paid for all of them (bench:startup, docs/benchmarks.md).
 * Inside the bundle each of these is an object of getters, one per export, that requires the
 * real module at the first export read: `createHash(…)` in a listing, not the import, loads
 * `crypto`. (This also gives commander a `child_process` it loads only to run an executable
 * subcommand, which trawl has none of.) The export names are those of the Node that builds;
 * `npm run build` runs under the Node that runs trawl.
 */
function builtinsOnFirstUse() {
  const lazy = [
    'assert',
    'child_process',
    'crypto',
    'dns',
    'dns/promises',
    'fs/promises',
    'http',
    'https',
    'module',
    'net',
    'perf_hooks',
    'readline',
    'stream',
    'stream/promises',
    'string_decoder',
    'tls',
    'worker_threads',
    'zlib',
  ];
  const filter = new RegExp(`^(node:)?(${lazy.join('|').replaceAll('/', '\\/')})$`);
  return {
    name: 'builtins-on-first-use',
    setup(b) {
      b.onResolve({ filter }, (args) =>
        args.namespace === 'trawl-lazy-builtin'
          ? { path: args.path, external: true }
          : { path: args.path.replace(/^node:/, ''), namespace: 'trawl-lazy-builtin' },
      );
      b.onLoad({ filter: /.*/, namespace: 'trawl-lazy-builtin' }, (args) => {
        const names = Object.keys(createRequire(import.meta.url)(`node:${args.path}`));
        return {
          contents:
            `const names = new Set(${JSON.stringify(names)});\n` +
            `let real;\nconst load = () => (real ??= require(${JSON.stringify(`node:${args.path}`)}));\n` +
            `module.exports = ${LAZY_MODULE};`,
          loader: 'js',
        };
      });
    },
  };
}

/**
 * prom-client's index loads everything it offers: the push gateway (`http`, `https`,
 * `zlib`), the default process metrics (`perf_hooks`, `v8`), cluster aggregation. trawl uses
 * four classes (src/observability/metrics.ts, src/api/metrics.ts), so inside the bundle
 * `prom-client` is those four, required from their own files.
 */
function promClientClassesOnly() {
  const classes = {
    Registry: 'registry',
    Counter: 'counter',
    Gauge: 'gauge',
    Histogram: 'histogram',
  };
  return {
    name: 'prom-client-classes-only',
    setup(b) {
      b.onResolve({ filter: /^prom-client$/ }, (args) => {
        if (args.namespace !== 'file' || args.importer.includes('node_modules')) return undefined;
        // A file of trawl's that takes anything else from prom-client fails the build here,
        // rather than the bundle at run time.
        const imports = readFileSync(args.importer, 'utf8').match(
          /import[^;]*?from 'prom-client'/g,
        );
        for (const statement of imports ?? []) {
          const names = /^import\s*\{([^}]*)\}/.exec(statement)?.[1].split(',') ?? [statement];
          const other = names.map((n) => n.trim()).filter((n) => n && !Object.hasOwn(classes, n));
          if (other.length > 0) {
            throw new Error(
              `${args.importer}: ${other.join(', ')} from prom-client (scripts/bundle.js)`,
            );
          }
        }
        return { path: 'prom-client', namespace: 'trawl-prom-client' };
      });
      b.onLoad({ filter: /.*/, namespace: 'trawl-prom-client' }, () => ({
        contents: Object.entries(classes)
          .map(([name, file]) => `exports.${name} = require('prom-client/lib/${file}');`)
          .join('\n'),
        resolveDir: root,
        loader: 'js',
      }));
    },
  };
}

function writeInputs(cacheMtimeMs, kyselyCacheMtimeMs) {
  const inputs = Object.keys(result.metafile.inputs)
    .filter((path) => path.startsWith('dist/'))
    .map((path) => [relative('dist', path), statSync(`${root}${path}`).mtimeMs]);
  // tsc writes its build info after every file it emitted in that build: a stamp older than a
  // bundled file means that file was written by something else since, which only the
  // per-file check sees (bin/trawl.js makes it when no stamp is recorded).
  const stampMs = statSync(`${root}dist/${STAMP}`, { throwIfNoEntry: false })?.mtimeMs;
  const stamp =
    stampMs !== undefined && inputs.every(([, ms]) => ms <= stampMs) ? [STAMP, stampMs] : null;
  // The bundle's own files, checked with the stamp.
  const own = [
    ['bundle/main.cjs', statSync(bundle).mtimeMs],
    ['bundle/kysely.cjs', statSync(kysely).mtimeMs],
  ];
  // The version too: bin/trawl.js answers `--version` from here, without reading the bundle.
  const info = {
    version: VERSION,
    stamp,
    own,
    cache: cacheMtimeMs ?? null,
    kyselyCache: kyselyCacheMtimeMs ?? null,
  };
  writeFileSync(`${outdir}/inputs.json`, JSON.stringify(info));
  // Apart: read only when there is no stamp to compare.
  writeFileSync(`${outdir}/files.json`, JSON.stringify(inputs));
}
