/**
 * Where a process's garbage comes from: `node -r ./bench/lib/alloc-profile.cjs SCRIPT …` with
 * `ALLOC_PROFILE=FILE` samples every allocation of the main thread (one sample per 4 KB,
 * objects later collected included — `--heap-prof` keeps only those still alive) and writes
 * megabytes by allocating function to FILE at exit; a builtin (`add`, `set`) is named with
 * its caller. Add `--no-turbo-inlining` so that an inlined function's allocations are its own.
 * Unlike GC times, the figures do not move with the machine's load (docs/benchmarks.md).
 * bin/trawl.js runs the bundle: profile `dist/cli/main.js` for readable names, e.g. through
 * `import('./dist/cli/main.js').then((m) => m.main(process.argv))`.
 */
'use strict';
const inspector = require('node:inspector');
const { writeFileSync } = require('node:fs');

const out = process.env.ALLOC_PROFILE;
if (out) {
  const session = new inspector.Session();
  session.connect();
  session.post('HeapProfiler.enable');
  session.post('HeapProfiler.startSampling', {
    samplingInterval: 4096,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  process.on('exit', () => {
    session.post('HeapProfiler.stopSampling', (error, result) => {
      if (error) return void process.stderr.write(`alloc-profile: ${error.message}\n`);
      const name = (f) =>
        `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
      const bytes = new Map();
      const walk = (node, parent) => {
        let key = name(node.callFrame);
        if (!node.callFrame.url && parent) key += ` < ${name(parent.callFrame)}`;
        bytes.set(key, (bytes.get(key) ?? 0) + node.selfSize);
        for (const child of node.children) walk(child, node);
      };
      walk(result.profile.head);
      let total = 0;
      for (const b of bytes.values()) total += b;
      const mb = (b) => (b / 1048576).toFixed(1).padStart(7);
      const lines = [`${mb(total)} MB allocated (sampled)`];
      for (const [key, b] of [...bytes].sort((x, y) => y[1] - x[1]).slice(0, 60)) {
        lines.push(`${mb(b)} MB  ${key}`);
      }
      writeFileSync(out, lines.join('\n') + '\n');
    });
  });
}
