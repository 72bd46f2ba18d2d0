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
 * Two walks without the engine and the index come first, at concurrency 50: the memory tree
 * listed directly, and the same through the StorageService — the floor, and the service's
 * own share of the gap to the bound.
 * Needs `npm run build` first (the script does it).
 *
 * Flags: --latency MS (20), --runs N (1; the median is printed), --only 5|50|429,
 *        --listers-per-slot N (2: listers per request slot, so that requests waiting out a
 *        429 do not leave slots idle).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from '../dist/app.js';
import { MemoryTree } from '../dist/storage/backends/memory-tree.js';
import { registerMemoryVolume, unregisterMemoryVolume } from '../dist/storage/backends/memory.js';
import { StorageService } from '../dist/storage/service.js';

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

/**
 * A plain breadth-first walk with `width` listings outstanding, no engine and no index: the
 * floor a scan can reach through `list`, to tell the service's share from the engine's.
 */
async function walk(list, width) {
  const queue = ['/'];
  let active = 0;
  let listed = 0;
  await new Promise((resolve, reject) => {
    const pump = () => {
      while (active < width && queue.length > 0) {
        const dir = queue.shift();
        active++;
        list(dir).then((entries) => {
          listed++;
          for (const e of entries) if (e.isDir) queue.push(e.path);
          active--;
          if (active === 0 && queue.length === 0) resolve();
          else pump();
        }, reject);
      }
    };
    pump();
  });
  return listed;
}

async function walkOnce(concurrency, through) {
  const volume = `bench-walk-${process.pid}-${concurrency}-${through}`;
  const tree = registerMemoryVolume(volume, buildTree());
  const service = new StorageService({
    lookup: async (id) => ({
      id,
      tenantId: 1,
      kind: 'memory',
      options: { volume, maxConcurrency: concurrency },
      version: 1,
      enabled: true,
    }),
  });
  try {
    const handle = await service.open(1);
    const list = through === 'service' ? (d) => handle.list(d) : (d) => tree.list(d);
    const started = performance.now();
    const listed = await walk(list, through === 'service' ? concurrency * LISTERS : concurrency);
    const ms = performance.now() - started;
    if (listed !== LISTINGS) throw new Error(`walk listed ${listed} of ${LISTINGS} directories`);
    return {
      ms,
      lists: tree.stats.lists,
      maxInFlight: tree.stats.maxInFlight,
      refused: 0,
      waits: 0,
      retries: 0,
      errors: 0,
      lowest: '-',
      final: '-',
    };
  } finally {
    await service.closeAll();
    unregisterMemoryVolume(volume);
  }
}

function median(runs) {
  const sorted = [...runs].sort((a, b) => a.ms - b.ms);
  return sorted[Math.floor(sorted.length / 2)];
}

const cases = [
  { name: 'walk, memory tree alone', concurrency: 50, walk: 'tree', key: '50' },
  { name: 'walk through the service', concurrency: 50, walk: 'service', key: '50' },
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
  'case                           time      bound     ratio  lists  in-flight  429s  waits  retries  errors  limit(lowest/final)',
);
for (const c of cases) {
  const runs = [];
  for (let i = 0; i < RUNS; i++) {
    runs.push(c.walk ? await walkOnce(c.concurrency, c.walk) : await once(c.concurrency, c.share));
  }
  const r = median(runs);
  const bound = (LISTINGS * LATENCY) / c.concurrency;
  console.log(
    [
      `${c.name}${c.walk ? ` (${c.concurrency})` : ''}`.padEnd(29),
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
