#!/usr/bin/env node
/**
 * Builds the optional native directory listing (native/listing.c → build/Release/
 * trawl_listing.node) with node-gyp; `npm ci` runs it through `prepare`, and so does
 * `npm run build`. It never fails the install: without a compiler, make, Python, Node's
 * headers or node-gyp, it says so in one line and local scans list with the JS path
 * (src/storage/backends/local-native.ts looks for the file; docs/native-listing.md).
 *
 * `node scripts/build-native.js [dir]` builds in `dir` (a copy of binding.gyp and native/;
 * tests), by default the package root. TRAWL_LOCAL_NATIVE=0 skips the build.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'));
const output = join(root, 'build/Release/trawl_listing.node');
const say = (line) => process.stderr.write(`trawl: ${line}\n`);
const notBuilt = (why) =>
  say(`the native listing was not built (${why}); local scans use the JS listing`);

main();

function main() {
  if (process.env.TRAWL_LOCAL_NATIVE === '0') return notBuilt('TRAWL_LOCAL_NATIVE=0');
  if (process.platform !== 'linux') return notBuilt(`written for Linux, not ${process.platform}`);
  const gyp = nodeGyp();
  if (!gyp) return notBuilt('node-gyp not found');
  // Node's own headers where this node was installed (a distribution's /usr, a tarball's
  // prefix): node-gyp would otherwise download them, which an offline install cannot.
  const prefix = dirname(dirname(process.execPath));
  const nodedir = existsSync(join(prefix, 'include/node/node_api.h'))
    ? [`--nodedir=${prefix}`]
    : [];
  const run = spawnSync(process.execPath, [gyp, 'rebuild', ...nodedir], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (run.error || run.status !== 0 || !existsSync(output)) {
    rmSync(join(root, 'build'), { recursive: true, force: true });
    const text = `${run.stderr ?? ''}\n${run.stdout ?? ''}`;
    // The first line that says what went wrong, as node-gyp or the compiler put it.
    const cause =
      run.error?.message ??
      text.split('\n').find((l) => /not found|No such file|error/i.test(l) && !/^gyp info/.test(l));
    return notBuilt((cause ?? `node-gyp exited with ${run.status}`).trim().slice(0, 200));
  }
  try {
    createRequire(output)(output);
  } catch (error) {
    rmSync(join(root, 'build'), { recursive: true, force: true });
    return notBuilt(`built but does not load: ${error.message.split('\n')[0]}`);
  }
  say('native listing built: build/Release/trawl_listing.node');
}

/** npm's own node-gyp (npm names it to scripts it runs), else one installed beside node. */
function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(
      dirname(dirname(process.execPath)),
      'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
    ),
  ];
  try {
    candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not a dependency: npm's copy serves
  }
  return candidates.find((path) => path && existsSync(path));
}
