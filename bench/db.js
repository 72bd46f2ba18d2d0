#!/usr/bin/env node
/**
 * npm run bench:db — reconciliation speed of the index, SQLite against PostgreSQL.
 *
 * A memory storage of 1,000,000 entries (10,000 directories × 99 files, no network) is
 * scanned into a fresh database of each dialect: first scan, unchanged rescan, then the
 * same tree with 10% of files changed, 5% deleted and 5% new. Each dialect runs in a child
 * process of its own so that its peak RSS is its own. Needs `npm run build` first (the
 * script does it) and PostgreSQL at $TRAWL_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres).
 *
 * Flags: --dirs N (default 10000), --files N per directory (default 99),
 *        --only sqlite|postgres, --batch N (entries per transaction, default 5000),
 *        --old-space MB (V8's old-generation limit in the children; default 1024, the limit
 *        `bin/trawl.js` runs with: with none, V8 sizes the heap from the machine's memory
 *        and peak RSS shows garbage it has not collected yet rather than live data).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const ADMIN = process.env.TRAWL_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const DIRS = Number(flag('dirs', 10_000));
const FILES = Number(flag('files', 99));
const BATCH = Number(flag('batch', 5000));
const mb = (bytes) => Math.round(bytes / 2 ** 20);

async function parent() {
  const dialects = flag('only') ? [flag('only')] : ['sqlite', 'postgres'];
  console.log(
    `bench:db — ${DIRS} directories × ${FILES} files = ${(DIRS * (FILES + 1) + Math.ceil(DIRS / 100)).toLocaleString('en')} entries, batch ${BATCH}, node ${process.version}`,
  );
  const rows = [];
  for (const dialect of dialects) {
    const target = await createDatabase(dialect);
    try {
      const out = execFileSync(
        process.execPath,
        [
          `--max-old-space-size=${flag('old-space', 1024)}`,
          fileURLToPath(import.meta.url),
          '--child',
          JSON.stringify({ dialect, url: target.url }),
          ...args,
        ],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 },
      );
      rows.push(...JSON.parse(out.trim().split('\n').pop()));
    } finally {
      await target.drop();
    }
  }
  console.table(
    rows.map((r) => ({
      dialect: r.dialect,
      phase: r.phase,
      seconds: r.seconds.toFixed(2),
      'entries/s': Math.round(r.entries / r.seconds).toLocaleString('en'),
      created: r.created,
      updated: r.updated,
      deleted: r.deleted,
      'rows written': r.rowsWritten,
      'peak RSS MB': r.peakRssMb,
      'start MB': r.treeRssMb,
    })),
  );
  console.log(
    'peak RSS: the whole child process (one per dialect); "start MB": its RSS before the first scan.',
  );
}

async function createDatabase(dialect) {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'trawl-bench-db-'));
    return {
      url: join(dir, 'index.db'),
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const name = `trawl_bench_${process.pid}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(ADMIN);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)),
  };
}

async function admin(work, url = ADMIN) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Inserts + updates + deletes on `entries` so far, once every backend has flushed its stats. */
async function pgWrites(url) {
  const read = () =>
    admin(async (c) => {
      const { rows } = await c.query(
        `SELECT n_tup_ins + n_tup_upd + n_tup_del AS n FROM pg_stat_user_tables WHERE relname = 'entries'`,
      );
      return Number(rows[0]?.n ?? 0);
    }, url);
  // Closed backends flush their counters on exit, a moment after the client sees the close.
  let last = await read();
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 150));
    const now = await read();
    if (now === last) return now;
    last = now;
  }
  return last;
}

async function child({ dialect, url }) {
  const dist = new URL('../dist/', import.meta.url);
  const { App } = await import(new URL('app.js', dist).href);
  const { registerMemoryVolume } = await import(new URL('storage/backends/memory.js', dist).href);

  const { MemoryTree } = await import(new URL('storage/backends/memory-tree.js', dist).href);
  const volume = new (gridVolume(MemoryTree))();
  registerMemoryVolume('bench', volume);
  const treeRssMb = mb(process.memoryUsage().rss);

  const results = [];
  const phase = async (name) => {
    const app = await App.open({ database: url, tenant: 'default' });
    const storage = await app.index.storages.upsert({
      tenantId: app.tenantId,
      name: 'bench',
      kind: 'memory',
      location: 'memory://bench',
      options: { volume: 'bench' },
    });
    const changes = app.index.entries.database?.prepare('SELECT total_changes()').pluck();
    const changesBefore = changes?.get();
    const t0 = performance.now();
    const r = await app.scan(storage, { batchEntries: BATCH });
    const seconds = (performance.now() - t0) / 1000;
    if (r.status !== 'succeeded')
      throw new Error(`${name}: scan ${r.status} ${JSON.stringify(r.errorSample)}`);
    let rowsWritten;
    // total_changes() counts every row the connection wrote: the scan's two history rows out.
    if (changes) rowsWritten = changes.get() - changesBefore - 2;
    await app.close();
    if (dialect === 'postgres') {
      const now = await pgWrites(url);
      rowsWritten = now - (phase.pgBefore ?? 0);
      phase.pgBefore = now;
    }
    results.push({
      dialect,
      phase: name,
      seconds,
      entries: r.dirs + r.files,
      created: r.created,
      updated: r.updated,
      deleted: r.deleted,
      rowsWritten,
      peakRssMb: mb(process.resourceUsage().maxRSS * 1024),
      treeRssMb,
    });
  };

  await phase('first scan');
  await phase('unchanged rescan');
  volume.mutated = true;
  await phase('10% changed, 5% deleted, 5% new');
  await phase('unchanged rescan after changes');
  process.stdout.write(`${JSON.stringify(results)}\n`);
}

/**
 * A memory volume that computes its listings instead of storing a tree: the memory
 * backend's client calls only `list`, and a stored tree of 1M entries would weigh more
 * (~230 MB) than the scan being measured. `mutated` switches to the changed tree: every
 * 10th file (n % 10 = 3) has a new size, every 20th (n % 20 = 7) is gone, and a new file
 * appears for every 20th (n % 20 = 11).
 */
const gridVolume = (MemoryTree) =>
  class GridVolume extends MemoryTree {
    mutated = false;

    async list(dir) {
      const out = [];
      const entry = (path, name, isDir, size, mtime) => ({ path, name, isDir, size, mtime });
      if (dir === '/') {
        for (let t = 0; t < Math.ceil(DIRS / 100); t++)
          out.push(entry(`/top${t}`, `top${t}`, true, 0, 0));
        return out;
      }
      const top = /^\/top(\d+)$/.exec(dir);
      if (top) {
        const first = Number(top[1]) * 100;
        for (let d = first; d < Math.min(first + 100, DIRS); d++)
          out.push(entry(`${dir}/d${d}`, `d${d}`, true, 0, d));
        return out;
      }
      const d = Number(/\/d(\d+)$/.exec(dir)[1]);
      for (let f = 0; f < FILES; f++) {
        const n = d * FILES + f;
        const name = `file ${f}${f % 3 === 0 ? '.mkv' : '.txt'}`;
        if (this.mutated && n % 20 === 7) continue;
        const size = this.mutated && n % 10 === 3 ? 1 : f * 10 + d;
        out.push(entry(`${dir}/${name}`, name, false, size, 1_700_000_000_000 + f));
        if (this.mutated && n % 20 === 11)
          out.push(entry(`${dir}/new ${f}.flac`, `new ${f}.flac`, false, f, 1));
      }
      return out;
    }
  };

if (args[0] === '--child') await child(JSON.parse(args[1]));
else await parent();
