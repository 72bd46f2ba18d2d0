#!/usr/bin/env -S node --max-old-space-size=1024
// Why the heap flag: with no explicit limit V8 sizes its heap from the machine's memory
// (4 GB here) and lets garbage pile up to hundreds of MB before collecting; any explicit
// limit makes it collect early. 1,000,000-file scans peak at ~190 MB instead of ~260 MB at
// the same speed, and 1 GB still holds a single directory of millions of entries.
// Run it as `./bin/trawl.js` or `npx trawl`; `node bin/trawl.js` works too, without the flag.
// The compiled CLI lives in dist/ (built by `npm ci` through `prepare`, or `npm run build`).
let main;
try {
  ({ main } = await import('../dist/cli/main.js'));
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
