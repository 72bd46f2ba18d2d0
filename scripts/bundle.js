#!/usr/bin/env node
/**
 * The command line as one bundle (dist/bundle/), built from tsc's output (dist/) by esbuild:
 * `npm run build` runs it after tsc. Why: Node 20 loads ES modules one file at a time
 * (resolve, read, compile, link), and a scan pulled ~600 files — Kysely alone is 263 — at
 * ~0.5 ms each; bundled, the same code starts in a fraction of that (bench:startup and
 * docs/benchmarks.md). Every dynamic import stays a chunk of its own, loaded when used.
 *
 * Packages left outside the bundle load from node_modules as before: native code
 * (better-sqlite3), those loaded lazily anyway (the fleet's, the HTTP stack's, the storage
 * SDKs) and pino (its transports find worker files by path).
 *
 * dist/bundle/inputs.json lists every dist/ file bundled with its mtime: bin/trawl.js runs
 * the bundle only while they all still match, so a `tsc` build made after it (which rewrites
 * them all; `tsc -w` only those that changed) is never shadowed by a stale bundle.
 */
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
/** Pure JS on a command's hot path: these are worth having inside the bundle. */
const BUNDLED = new Set(['kysely', 'commander', 'prom-client', 'basic-ftp', 'pino']);
const external = Object.keys(pkg.dependencies).filter((name) => !BUNDLED.has(name));
const outdir = `${root}dist/bundle`;

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: { main: 'dist/cli/main.js' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir,
  chunkNames: 'chunk-[hash]',
  external,
  // CommonJS packages inside an ES module bundle still call require() for Node's builtins.
  banner: {
    js: "import { createRequire as __trawlRequire } from 'node:module'; const require = __trawlRequire(import.meta.url);",
  },
  metafile: true,
  logLevel: 'warning',
});

// The bundle's output sits at the same depth as dist/cli/ and dist/api/: paths made from
// import.meta.url (`../../web/` for the web page) resolve to the same place.
const inputs = Object.keys(result.metafile.inputs)
  .filter((path) => path.startsWith('dist/'))
  .map((path) => [relative('dist', path), statSync(`${root}${path}`).mtimeMs]);
writeFileSync(`${outdir}/inputs.json`, JSON.stringify(inputs));
