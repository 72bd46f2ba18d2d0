/**
 * `npm run bench:search`: browse and search over N entries (default 1,000,000) in each
 * dialect, and what migrations 006, 008, 009, 012, 014 and 017 cost the first write of them.
 *
 * Per dialect: the tree of bench/search-tree.ts is written as a first scan writes it into
 * four indexes in turn (bench/search-writes.ts): without 006 and 008, with the name index
 * only, with all of 006, and whole; the ratios of their times are what search costs a
 * first scan's writes. Then a mix of queries runs on the whole one and prints p50/p95/p99
 * per kind, and how many pages came back full. The size searches are also timed with the
 * plans of before 008's large-file index, and `stats` both counted (a fresh cache: every
 * call before 008) and kept.
 *
 *   npm run bench:search -- [--entries N] [--only sqlite|postgres] [--runs N] [--rejected]
 *     [--keep [--keep-prefix NAME]]
 *
 * `--keep` loads the whole index only (no write table) into `.bench/search-<dialect>-<N>`
 * (a SQLite file, or a PostgreSQL database of that name) and keeps it, or reuses the one a
 * previous `--keep` run left (migrated on open, as any index is): for timing queries again
 * without writing 1,000,000 entries four times.
 *
 * `--rejected` also writes into a fifth index: 006 plus an index ordering the tenant by
 * name, the kind 006 leaves out because of what it costs here.
 */
import { sql } from 'kysely';
import type { Dialect } from '../src/db/dialect.js';
import type { Index } from '../src/db/open.js';
import { createQueries, QueryError, type EntryView, type Page } from '../src/db/queries/index.js';
import { benchTree, BIG_DIR, random } from './search-tree.js';
import { loadAll, loadKept } from './search-writes.js';
import { parentOf } from '../src/storage/paths.js';

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const N = Number(arg('--entries') ?? 1_000_000);
const RUNS = Number(arg('--runs') ?? 200);
const only = arg('--only') as Dialect | undefined;
const rejected = process.argv.includes('--rejected');
const keep = process.argv.includes('--keep');
// The kept index's name is `<prefix>_<dialect>_<N>`: helpers sharing one PostgreSQL server
// each keep their own (`--keep-prefix search_pgkind`).
const keepPrefix = arg('--keep-prefix') ?? 'search';
const LIMIT = 100;

interface Sample {
  ms: number;
  full: boolean;
  items: number;
}

/**
 * Runs a query, timed; a page is full when it has `limit` rows or is the last. A query the
 * index refuses (QueryError) counts as a page that is not full.
 */
async function timed(run: () => Promise<Page<EntryView>>, limit = LIMIT): Promise<Sample> {
  const t0 = performance.now();
  try {
    const page = await run();
    const ms = performance.now() - t0;
    return {
      ms,
      full: page.items.length === limit || page.next === null,
      items: page.items.length,
    };
  } catch (error) {
    if (!(error instanceof QueryError)) throw error;
    return { ms: performance.now() - t0, full: false, items: 0 };
  }
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function report(dialect: Dialect, kind: string, samples: Sample[]): void {
  const ms = samples.map((s) => s.ms).sort((a, b) => a - b);
  const full = samples.filter((s) => s.full).length / samples.length;
  const items = samples.reduce((n, s) => n + s.items, 0) / samples.length;
  const cells = [0.5, 0.95, 0.99].map((q) => quantile(ms, q).toFixed(1).padStart(7));
  console.log(
    `${dialect.padEnd(9)} ${kind.padEnd(30)} ${String(samples.length).padStart(5)} ${cells.join(' ')} ` +
      `${ms.at(-1)!.toFixed(1).padStart(8)} ${`${Math.round(full * 100)} %`.padStart(6)} ${items.toFixed(0).padStart(6)}`,
  );
}

async function queries(index: Index, tenantId: number, storageId: number): Promise<void> {
  const q = index.queries;
  // The plans of before migration 008's large-file index, timed in the same run.
  const before = createQueries(index.db, index.dialect, { largeFiles: false });
  // And of before 009's time steps.
  const beforeTime = createQueries(index.db, index.dialect, { timeOrder: false });
  // And of before 012's tenant name order (PostgreSQL).
  const beforeName = createQueries(index.db, index.dialect, { nameOrder: false });
  const r = random(11);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  // Real names and directories to draw needles from.
  const ids = Array.from({ length: 2000 }, () => 1 + Math.floor(r() * N));
  const { rows: read } = await sql<{ name: string; path: string; is_dir: number }>`
    SELECT name, path, is_dir FROM entries WHERE id IN (${sql.join(ids)})`.execute(index.db);
  // No parent column on PostgreSQL since migration 018.
  const rows = read.map((x) => ({ ...x, parent: parentOf(x.path) }));
  const names = rows.filter((x) => x.is_dir === 0).map((x) => x.name);
  const leaves = [...new Set(rows.map((x) => x.parent))].filter((p) => p !== BIG_DIR);
  const years = [...new Set(leaves.map((p) => p.split('/').slice(0, 3).join('/')))];
  const { words } = benchTree(N);
  const substring = (s: string, min: number, max: number) => {
    const len = Math.min(s.length, min + Math.floor(r() * (max - min + 1)));
    const from = Math.floor(r() * (s.length - len + 1));
    return s.slice(from, from + len);
  };
  const sorts = ['name', 'size', 'mtime'] as const;
  const orders = ['asc', 'desc'] as const;

  const kinds: [string, number, () => Promise<Sample>][] = [
    [
      'name 6-8 chars (rare)',
      RUNS,
      () => timed(() => q.search({ tenantId, name: substring(pick(names), 6, 8) })),
    ],
    ['name = a word (~100s)', RUNS, () => timed(() => q.search({ tenantId, name: pick(words) }))],
    [
      'name 3-5 chars of a word',
      RUNS,
      () => timed(() => q.search({ tenantId, name: substring(pick(words), 3, 5) })),
    ],
    [
      'name 3-5 chars, without 012',
      RUNS / 4,
      () => timed(() => beforeName.search({ tenantId, name: substring(pick(words), 3, 5) })),
    ],
    [
      'name very common (>5 %)',
      RUNS / 4,
      () =>
        timed(() =>
          q.search({ tenantId, name: pick(['img', 'jpg', 'dsc', 'flac', 'mkv', 'pdf']) }),
        ),
    ],
    [
      'name 1-2 chars in a year dir',
      RUNS / 4,
      () =>
        timed(() =>
          q.search({
            tenantId,
            storageId,
            pathPrefix: pick(years),
            name: substring(pick(names), 1, 2),
          }),
        ),
    ],
    [
      'name 1-2 chars, all (refused)',
      RUNS / 4,
      () => timed(() => q.search({ tenantId, name: substring(pick(names), 1, 2) })),
    ],
    [
      'prefix (year) + word',
      RUNS,
      () =>
        timed(() => q.search({ tenantId, storageId, pathPrefix: pick(years), name: pick(words) })),
    ],
    [
      'prefix (year), by mtime desc',
      RUNS,
      () =>
        timed(() =>
          q.search({ tenantId, storageId, pathPrefix: pick(years), sort: 'mtime', order: 'desc' }),
        ),
    ],
    [
      'video >= 1-4 GB, by size desc',
      RUNS,
      () =>
        timed(() =>
          q.search({
            tenantId,
            mediaKind: 'video',
            minSize: Math.floor(1e9 + r() * 3e9),
            sort: 'size',
            order: 'desc',
          }),
        ),
    ],
    [
      'video >= 1-4 GB, without 008',
      RUNS / 4,
      () =>
        timed(() =>
          before.search({
            tenantId,
            mediaKind: 'video',
            minSize: Math.floor(1e9 + r() * 3e9),
            sort: 'size',
            order: 'desc',
          }),
        ),
    ],
    [
      'largest files (size desc)',
      RUNS,
      () => timed(() => q.search({ tenantId, sort: 'size', order: 'desc' })),
    ],
    [
      'largest files, without 008',
      RUNS / 4,
      () => timed(() => before.search({ tenantId, sort: 'size', order: 'desc' })),
    ],
    [
      'video, by mtime desc',
      RUNS,
      () => timed(() => q.search({ tenantId, mediaKind: 'video', sort: 'mtime', order: 'desc' })),
    ],
    [
      'video, by mtime, without 009',
      RUNS / 4,
      () =>
        timed(() =>
          beforeTime.search({ tenantId, mediaKind: 'video', sort: 'mtime', order: 'desc' }),
        ),
    ],
    [
      'mtime within a month (by name)',
      RUNS,
      () => {
        const from = Date.UTC(2010, 0, 1) + Math.floor(r() * 4e11);
        return timed(() => q.search({ tenantId, mtimeFrom: from, mtimeTo: from + 30 * 864e5 }));
      },
    ],
    [
      'mtime from a year ago, newest',
      RUNS,
      () => {
        const from = Date.UTC(2010, 0, 1) + Math.floor(r() * 4e11);
        return timed(() =>
          q.search({ tenantId, mtimeFrom: from - 365 * 864e5, sort: 'mtime', order: 'desc' }),
        );
      },
    ],
    [
      'size 1-10 MB (a scan)',
      RUNS / 4,
      () => timed(() => q.search({ tenantId, minSize: 1e6, maxSize: 1e7 })),
    ],
    [
      'video, by name (a scan)',
      RUNS / 4,
      () => timed(() => q.search({ tenantId, mediaKind: 'video' })),
    ],
    [
      'size 1-10 MB, without 012',
      RUNS / 4,
      () => timed(() => beforeName.search({ tenantId, minSize: 1e6, maxSize: 1e7 })),
    ],
    [
      'kind alone, by name',
      RUNS / 4,
      () => timed(() => q.search({ tenantId, mediaKind: pick(['video', 'audio', 'image']) })),
    ],
    [
      'browse leaf dir',
      RUNS,
      () => timed(() => q.browse({ tenantId, storageId, dir: pick(leaves), sort: pick(sorts) })),
    ],
  ];
  for (const [kind, runs, run] of kinds) {
    const samples: Sample[] = [];
    for (let i = 0; i < runs; i++) samples.push(await run());
    report(index.dialect, kind, samples);
  }
  // A big directory, page after page: every page a keyset page from the previous cursor.
  for (const sort of sorts) {
    const big: Sample[] = [];
    for (let i = 0; i < RUNS / 8; i++) {
      const query = { tenantId, storageId, dir: BIG_DIR, sort, order: pick(orders) };
      let cursor: string | undefined;
      for (let p = 0; p < 4; p++) {
        const t0 = performance.now();
        const page = await q.browse({ ...query, ...(cursor ? { cursor } : {}) });
        const ms = performance.now() - t0;
        big.push({ ms, full: page.items.length === LIMIT, items: page.items.length });
        cursor = page.next ?? undefined;
      }
    }
    report(index.dialect, `browse big dir by ${sort} (4 pages)`, big);
  }
  // Counted: a fresh cache each time (what the first call after a change costs).
  const stats: Sample[] = [];
  for (let i = 0; i < 3; i++) {
    const fresh = createQueries(index.db, index.dialect);
    const t0 = performance.now();
    await fresh.stats({ tenantId, storageId });
    stats.push({ ms: performance.now() - t0, full: true, items: 0 });
  }
  report(index.dialect, 'stats, counted (3 runs)', stats);
  const kept: Sample[] = [];
  await q.stats({ tenantId, storageId });
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await q.stats({ tenantId, storageId });
    kept.push({ ms: performance.now() - t0, full: true, items: 0 });
  }
  report(index.dialect, 'stats, kept (unchanged)', kept);
}

const writes: string[] = [];
console.log(
  `bench:search — ${N.toLocaleString('en')} entries, ${LIMIT} a page, node ${process.version}`,
);
console.log(
  `${'dialect'.padEnd(9)} ${'query'.padEnd(30)} ${'runs'.padStart(5)} ${'p50 ms'.padStart(7)} ` +
    `${'p95 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'max ms'.padStart(8)} ${'full'.padStart(6)} ${'rows'.padStart(6)}`,
);
for (const dialect of only ? [only] : (['sqlite', 'postgres'] as const)) {
  const loaded = keep
    ? await loadKept(dialect, N, keepPrefix)
    : await loadAll(dialect, N, rejected);
  try {
    const [without] = loaded.written;
    for (const w of loaded.written) {
      writes.push(
        `${dialect.padEnd(9)} ${w.variant.padEnd(13)} ${w.seconds.toFixed(1).padStart(7)} s ` +
          `${Math.round(N / w.seconds)
            .toLocaleString('en')
            .padStart(9)}/s ` +
          `${`×${(w.seconds / without!.seconds).toFixed(2)}`.padStart(6)} ` +
          `${Math.round(w.mb).toString().padStart(6)} MB ${`×${(w.mb / without!.mb).toFixed(2)}`.padStart(6)}`,
      );
    }
    if (dialect === 'postgres' && !keep) {
      // What autovacuum does after a load: GIN's pending list merged, statistics fresh.
      await sql`VACUUM ANALYZE entries`.execute(loaded.index.db);
    }
    await queries(loaded.index, loaded.tenantId, loaded.storageId);
  } finally {
    await loaded.drop();
  }
}
console.log(
  '\nfirst write of the entries as a scan writes them, with each part of migrations 006, 008, 009, 012 and 014 (PostgreSQL), 017 (SQLite):',
);
console.log('dialect   indexes         time    entries/s   ratio   size   ratio');
for (const line of writes) console.log(line);
