#!/usr/bin/env -S node --max-old-space-size=1024
// Why the heap flag: with no explicit limit V8 sizes its heap from the machine's memory
// (4 GB here) and lets garbage pile up to hundreds of MB before collecting; any explicit
// limit makes it collect early. 1,000,000-file scans peak at ~190 MB instead of ~260 MB at
// the same speed, and 1 GB still holds a single directory of millions of entries.
// Run it as `./bin/trawl.js` or `npx trawl`; `node bin/trawl.js` works too, without the flag.
// The compiled CLI lives in dist/ (built by `npm ci` through `prepare`, or `npm run build`).
import { readFileSync, statSync } from 'node:fs';

const dist = new URL('../dist/', import.meta.url);
let main;
try {
  ({ main } = await import(bundleIsCurrent() ? '../dist/bundle/main.js' : '../dist/cli/main.js'));
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

main(process.argv).then((code) => {
  process.exitCode = code;
});

/**
 * Whether dist/bundle/ (`npm run build`, scripts/bundle.js) was made from the dist/ files
 * there now: it starts several times faster than dist/cli/main.js, but a `tsc` build made
 * after it rewrote them, and then it is stale. Checking costs ~1 ms (a stat per file).
 */
function bundleIsCurrent() {
  try {
    const inputs = JSON.parse(readFileSync(new URL('bundle/inputs.json', dist), 'utf8'));
    return inputs.every(([path, mtimeMs]) => statSync(new URL(path, dist)).mtimeMs === mtimeMs);
  } catch {
    return false; // no bundle (a tsc-only build), or a file gone
  }
}
