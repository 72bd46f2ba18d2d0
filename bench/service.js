#!/usr/bin/env node
/**
 * npm run bench:service — the StorageService's overhead and pacing, measured against the
 * ideal bound of a walk: directories × latency ÷ concurrency.
 *
 * A memory storage with 20 ms latency per list, 2,000 directories (40 × 49) and 20,000
 * files (10 in each directory below the root) is scanned into a fresh SQLite index through
 * the whole stack (App → runner → engine → StorageService → memory backend) at concurrency
 * 5 and 50 (the storage's `maxConcurrency`, with as many listers), then with 20 % of
 * requests answered 429 (no Retry-After: the service backs off and lowers its concurrency).
 * Needs `npm run build` first (the script does it).
 *
 * Flags: --latency MS (20), --runs N (1; the median is printed), --only 5|50|429.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from '../dist/app.js';
import { MemoryTree } from '../dist/storage/backends/memory-tree.js';
import { registerMemoryVolume, unregisterMemoryVolume } from '../dist/storage/backends/memory.js';

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const LATENCY = Number(flag('latency', 20));
const RUNS = Number(flag('runs', 1));
const ONLY = flag('only');
const LISTERS = Number(flag('listers-per-slot', 2));
const TOP = 40;
const SUB = 49;
const FILES = 10;
const DIRS = TOP + TOP * SUB;
const LISTINGS = DIRS + 1; // the root is listed too

function buildTree() {
  const tree = new MemoryTree();
  for (let i = 0; i < TOP; i++) {
    for (let f = 0; f < FILES; f++) tree.writeFile(`/d${i}/f${f}.mkv`, f + 1, 1000);
    for (let j = 0; j < SUB; j++) {
      for (let f = 0; f < FILES; f++) tree.writeFile(`/d${i}/s${j}/f${f}.mkv`, f + 1, 1000);
    }
  }
  tree.latencyMs = LATENCY;
  return tree;
}

async function once(concurrency, share) {
  const dir = mkdtempSync(join(tmpdir(), 'trawl-bench-service-'));
  const volume = `bench-${process.pid}-${concurrency}-${share}`;
  const tree = registerMemoryVolume(volume, buildTree());
  if (share > 0) tree.rateLimit(share, { seed: 20 });
  const app = await App.open({ database: join(dir, 'index.db'), tenant: 'bench', env: {} });
  try {
    const storage = await app.index.storages.upsert({
      tenantId: app.tenantId,
      name: volume,
      kind: 'memory',
      location: `memory://${volume}`,
      options: { volume, maxConcurrency: concurrency },
    });
    const started = performance.now();
    const result = await app.scan(storage, { listers: concurrency * LISTERS });
    const ms = performance.now() - started;
    if (result.status !== 'succeeded' || result.dirs !== DIRS || result.files !== DIRS * FILES) {
      throw new Error(`scan went wrong: ${JSON.stringify(result)}`);
    }
    const c = app.storage.concurrency(storage.id);
    return {
      ms,
      lists: tree.stats.lists,
      maxInFlight: tree.stats.maxInFlight,
      refused: tree.stats.rateLimited,
      waits: result.rateLimitWaits,
      retries: result.retries,
      errors: result.errors,
      lowest: c.lowest,
      final: c.limit,
    };
  } finally {
    await app.close();
    unregisterMemoryVolume(volume);
    rmSync(dir, { recursive: true, force: true });
  }
}

function median(runs) {
  const sorted = [...runs].sort((a, b) => a.ms - b.ms);
  return sorted[Math.floor(sorted.length / 2)];
}

const cases = [
  { name: 'concurrency 5', concurrency: 5, share: 0, key: '5' },
  { name: 'concurrency 50', concurrency: 50, share: 0, key: '50' },
  { name: 'concurrency 50, 20% 429', concurrency: 50, share: 0.2, key: '429' },
  { name: 'concurrency 5, 20% 429', concurrency: 5, share: 0.2, key: '429' },
].filter((c) => !ONLY || c.key === ONLY);

console.log(
  `bench:service — memory backend, ${LATENCY} ms per list, ${DIRS.toLocaleString('en')} directories, ` +
    `${(DIRS * FILES).toLocaleString('en')} files, ${RUNS} run(s) each, node ${process.version}`,
);
console.log(
  'case                       time      bound     ratio  lists  in-flight  429s  waits  retries  errors  limit(lowest/final)',
);
for (const c of cases) {
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(await once(c.concurrency, c.share));
  const r = median(runs);
  const bound = (LISTINGS * LATENCY) / c.concurrency;
  console.log(
    [
      c.name.padEnd(25),
      `${(r.ms / 1000).toFixed(2)} s`.padStart(8),
      `${(bound / 1000).toFixed(2)} s`.padStart(9),
      `${(r.ms / bound).toFixed(2)}×`.padStart(8),
      String(r.lists).padStart(6),
      String(r.maxInFlight).padStart(10),
      String(r.refused).padStart(5),
      String(r.waits).padStart(6),
      String(r.retries).padStart(8),
      String(r.errors).padStart(7),
      `${r.lowest}/${r.final}`.padStart(20),
    ].join(' '),
  );
}
