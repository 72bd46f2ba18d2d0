// `node bench/roots-ab.mjs <checkout> <tree> [reps]`: a watch-like scan of roots, timed in
// one checkout's build (`npm run build` there): 100 indexed directories (`/tN/dM` of a
// `bench/local.js` tree), one level each, after one whole scan into a fresh SQLite index.
// Prints the median and min time per scan and the rows it wrote (0 expected). Run it for
// two checkouts in turn, under the bench lock (docs/benchmarks.md, "Seventh round: a scan
// rooted at a directory the index holds as a file").
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const [checkout, tree, repsArg] = process.argv.slice(2);
if (!checkout || !tree) throw new Error('usage: node bench/roots-ab.mjs <checkout> <tree> [reps]');
const wt = resolve(checkout);
const { App } = await import(join(wt, 'dist/app.js'));
const { parseStorageSpec } = await import(join(wt, 'dist/storage/url.js'));
const dir = mkdtempSync(join(tmpdir(), 'trawl-roots-ab-'));
try {
  const app = await App.open({ database: join(dir, 'index.db'), tenant: 'default' });
  const storage = await app.ensureStorage(parseStorageSpec(resolve(tree), {}));
  await app.scan(storage, {});
  const roots = [];
  for (let t = 0; t < 10; t++) for (let d = 0; d < 10; d++) roots.push(`/t${t}/d${d}`);
  const times = [];
  let written = 0;
  for (let i = 0; i < Number(repsArg ?? 40); i++) {
    const t0 = performance.now();
    const r = await app.scan(storage, { roots, maxDepth: 1 });
    times.push(performance.now() - t0);
    written += r.created + r.updated + r.deleted;
    if (r.status !== 'succeeded') throw new Error(`scan ${r.status}`);
  }
  times.sort((a, b) => a - b);
  const ms = (t) => `${t.toFixed(1)} ms`;
  console.log(
    `${wt}: median ${ms(times[times.length >> 1])}, min ${ms(times[0])} per scan of ${roots.length} roots; rows written ${written}`,
  );
  await app.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
