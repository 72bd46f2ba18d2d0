#!/usr/bin/env node
/**
 * Run before `tsc -p tsconfig.build.json` (`npm run build`): tsc's build is incremental
 * (dist/.tsbuildinfo is the stamp bin/trawl.js checks the bundle against, scripts/bundle.js),
 * and an incremental tsc does not write again an output deleted while its build info stays —
 * the build would then fail in the bundle step on a file that is gone. So when any source's
 * output is missing, the build info goes and tsc writes everything.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const info = `${root}dist/.tsbuildinfo`;

/** The first source under `dir` (relative to src/) whose dist/ output is missing. */
function missing(dir) {
  for (const entry of readdirSync(`${root}src/${dir}`, { withFileTypes: true })) {
    const path = `${dir}${entry.name}`;
    if (entry.isDirectory()) {
      const found = missing(`${path}/`);
      if (found) return found;
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
      const output = `${root}dist/${path.slice(0, -3)}.js`;
      if (!existsSync(output)) return output;
    }
  }
  return undefined;
}

if (existsSync(info)) {
  const gone = missing('');
  if (gone) {
    console.error(`trawl: ${gone} is missing: tsc builds dist/ in full`);
    rmSync(info);
  }
}
