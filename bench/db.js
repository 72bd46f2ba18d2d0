#!/usr/bin/env node
/**
 * npm run bench:db — reconciliation speed of the index, SQLite against PostgreSQL, each
 * figure a ratio against the same rows written raw into the same schema in the same run.
 *
 * A memory storage of 1,000,000 entries (10,000 directories × 99 files, no network) is
 * scanned into a fresh database of each dialect: first scan, unchanged rescan, then the
 * same tree with 10% of files changed, 5% deleted and 5% new, then an unchanged rescan
 * again. The reference, measured in each run just before the scans on a fresh database of
 * its own: the first scan's rows written straight in (PostgreSQL: COPY; SQLite: prepared
 * INSERTs; bench/lib/raw-writes.js). Every run repeats both, and the table shows min–max over
 * the runs. Before each measurement PostgreSQL is checkpointed, so no run inherits the
 * previous run's dirty pages. Each scan runs in a child process of its own so that its peak
 * RSS is its own. Needs `npm run build` first (the script does it) and PostgreSQL at
 * $TRAWL_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres).
 *
 * Flags: --dirs N (default 10000), --files N per directory (default 99), --runs N (default 3),
 *        --only sqlite|postgres, --batch N (entries per transaction, default: the index's own),
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
import { gridEntries, gridStorage, gridVolume } from './lib/grid.js';
import { rawCopy, rawInsert } from './lib/raw-writes.js';

const ADMIN = process.env.TRAWL_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const DIRS = Number(flag('dirs', 10_000));
const FILES = Number(flag('files', 99));
const RUNS = Number(flag('runs', 3));
const BATCH = flag('batch') === undefined ? undefined : Number(flag('batch'));
const ENTRIES = gridEntries(DIRS, FILES);
const PAGE = 1000;
const mb = (bytes) => Math.round(bytes / 2 ** 20);
const k = (n) => `${Math.round(n / 1000)}k`;

async function parent() {
  const dialects = flag('only') ? [flag('only')] : ['sqlite', 'postgres'];
  console.log(
    `bench:db — ${DIRS} directories × ${FILES} files = ${ENTRIES.toLocaleString('en')} entries, ` +
      `batch ${BATCH ?? "the index's own"}, ${RUNS} runs, node ${process.version}`,
  );
  const summary = [];
  for (const dialect of dialects) {
    const byPhase = new Map();
    const reference = [];
    for (let run = 1; run <= RUNS; run++) {
      const ref = await measureReference(dialect);
      reference.push(ref.rows / ref.seconds);
      const rows = await measureScans(dialect);
      const line = [
        `${dialect} run ${run}: ${dialectReference(dialect)} ${k(ref.rows / ref.seconds)} rows/s`,
      ];
      for (const r of rows) {
        const rate = r.entries / r.seconds;
        const entry = byPhase.get(r.phase) ?? { rates: [], ratios: [], rows: [], rss: [] };
        entry.rates.push(rate);
        entry.ratios.push(rate / (ref.rows / ref.seconds));
        entry.rows.push(r.rowsWritten);
        entry.rss.push(r.peakRssMb);
        byPhase.set(r.phase, entry);
        line.push(`${r.phase} ${k(rate)}/s (×${(rate / (ref.rows / ref.seconds)).toFixed(2)})`);
      }
      console.log(line.join('; '));
    }
    summary.push({
      dialect,
      phase: dialectReference(dialect),
      runs: RUNS,
      'entries/s': spread(reference, k),
      '× reference': '1',
      'rows written': '',
      'peak RSS MB': '',
    });
    for (const [phase, e] of byPhase) {
      summary.push({
        dialect,
        phase,
        runs: e.rates.length,
        'entries/s': spread(e.rates, k),
        '× reference': spread(e.ratios, (x) => x.toFixed(2)),
        'rows written': spread(e.rows, (x) => String(x)),
        'peak RSS MB': spread(e.rss, (x) => String(x)),
      });
    }
  }
  console.table(summary);
  console.log(
    '× reference: entries/s of the phase ÷ rows/s of the raw writes of the same rows into the same ' +
      'schema, measured in the same run just before (min–max over the runs).',
  );
}

const dialectReference = (dialect) =>
  dialect === 'postgres' ? 'raw COPY (reference)' : 'raw INSERT (reference)';

function spread(values, show) {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return show(lo) === show(hi) ? show(lo) : `${show(lo)}–${show(hi)}`;
}

/** Checkpoints PostgreSQL so that no measurement pays for the dirty pages of the one before. */
async function settle(dialect) {
  if (dialect !== 'postgres') return;
  await admin((c) => c.query('CHECKPOINT')).catch(() => undefined);
}

async function measureReference(dialect) {
  await settle(dialect);
  const target = await createDatabase(dialect);
  try {
    return dialect === 'postgres'
      ? await rawCopy(target.url, DIRS, FILES)
      : await rawInsert(target.url, DIRS, FILES);
  } finally {
    await target.drop();
  }
}

async function measureScans(dialect) {
  await settle(dialect);
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
    return JSON.parse(out.trim().split('\n').pop());
  } finally {
    await target.drop();
  }
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
  await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
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
  const volume = new (gridVolume(MemoryTree, { dirs: DIRS, files: FILES, page: PAGE }))();
  registerMemoryVolume('bench', volume);
  const treeRssMb = mb(process.memoryUsage().rss);

  const results = [];
  const phase = async (name, expected) => {
    const app = await App.open({ database: url, tenant: 'default' });
    const storage = await gridStorage(app);
    const changes = app.index.entries.database?.prepare('SELECT total_changes()').pluck();
    const changesBefore = changes?.get();
    const t0 = performance.now();
    const r = await app.scan(storage, BATCH === undefined ? {} : { batchEntries: BATCH });
    const seconds = (performance.now() - t0) / 1000;
    if (r.status !== 'succeeded')
      throw new Error(`${name}: scan ${r.status} ${JSON.stringify(r.errorSample)}`);
    // The whole tree went through the index, or the figure measures nothing.
    if (r.dirs + r.files !== expected)
      throw new Error(`${name}: scanned ${r.dirs + r.files} entries, expected ${expected}`);
    let rowsWritten;
    // total_changes() counts every row the connection wrote: the scan's two history rows out.
    if (changes) rowsWritten = changes.get() - changesBefore - 2;
    await app.close();
    if (dialect === 'postgres') {
      const now = await pgWrites(url);
      rowsWritten = now - (phase.pgBefore ?? 0);
      phase.pgBefore = now;
    }
    const row = {
      dialect,
      phase: name,
      // Until the scan's result is recorded: what a caller waits for before the index answers.
      seconds: r.durationMs / 1000,
      entries: r.dirs + r.files,
      created: r.created,
      updated: r.updated,
      deleted: r.deleted,
      rowsWritten,
      peakRssMb: mb(process.resourceUsage().maxRSS * 1024),
      treeRssMb,
    };
    results.push(row);
    // PostgreSQL rebuilds its half-full indexes after a scan that created most of the table
    // (src/db/postgres/compact.ts), once the result is recorded: its own row, the scan and
    // the rebuild together, so neither figure hides the other.
    if (seconds - row.seconds > 0.5) {
      results.push({ ...row, phase: `${name} + index rebuild`, seconds });
    }
  };

  await phase('first scan', ENTRIES);
  await phase('unchanged rescan', ENTRIES);
  volume.mutated = true;
  // Every 20th file gone and as many new: the same count.
  await phase('10% changed, 5% deleted, 5% new', ENTRIES);
  await phase('unchanged rescan after changes', ENTRIES);
  process.stdout.write(`${JSON.stringify(results)}\n`);
}

/**
 * A memory volume that computes its listings (bench/lib/grid.js) instead of storing a tree.
 * The memory backend's client lists through `pages` (a directory as pages of at most 1,000
 * entries, as the stored tree pages them); `list` is kept for callers that read it whole.
 */
if (args[0] === '--child') await child(JSON.parse(args[1]));
else await parent();
