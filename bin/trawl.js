#!/usr/bin/env node
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
