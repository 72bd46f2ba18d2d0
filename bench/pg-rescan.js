#!/usr/bin/env node
/**
 * A kept bench:db index for profiling (issue 12): scans the bench:db tree (bench/lib/grid.js,
 * 10,000 directories × 99 files by default; DIRS / FILES to change) into the index at URL,
 * once per phase named, and prints each scan's wall time, rate and the process's CPU
 * seconds. Unlike bench:db it neither creates nor drops the database, so a first scan can be
 * kept and rescanned under `--cpu-prof`, `--trace-gc` or `EXPLAIN`. Needs `npm run build`.
 *
 *   node bench/pg-rescan.js postgres://postgres@127.0.0.1:5432/NAME first rescan rescan
 */
import { gridStorage, gridVolume } from './lib/grid.js';

const [url, ...phases] = process.argv.slice(2);
if (!url || phases.length === 0) {
  console.error('usage: node bench/pg-rescan.js URL PHASE... (each phase is one scan)');
  process.exit(2);
}
const dist = new URL('../dist/', import.meta.url);
const { App } = await import(new URL('app.js', dist).href);
const { registerMemoryVolume } = await import(new URL('storage/backends/memory.js', dist).href);
const { MemoryTree } = await import(new URL('storage/backends/memory-tree.js', dist).href);
const DIRS = Number(process.env.DIRS ?? 10_000);
const FILES = Number(process.env.FILES ?? 99);

// The bench:db volume: listings computed, pages of 1,000 (as bench/db.js).
registerMemoryVolume('bench', new (gridVolume(MemoryTree, { dirs: DIRS, files: FILES }))());
for (const phase of phases) {
  const app = await App.open({ database: url, tenant: 'default' });
  const storage = await gridStorage(app);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const r = await app.scan(storage, {});
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  const entries = r.dirs + r.files;
  console.log(
    `${phase}: ${r.status}, ${entries} entries, created ${r.created}, updated ${r.updated}, ` +
      `${seconds.toFixed(2)} s, ${Math.round(entries / seconds / 1000)}k/s, ` +
      `CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s`,
  );
  await app.close();
}
