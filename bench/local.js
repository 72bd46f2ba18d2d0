#!/usr/bin/env node
/**
 * `npm run bench:local [-- --files N --reps N --threads N --rss-base N]`: trawl against
 * `find ROOT -printf '%s %T@ %p\n'` on the same tree in the same run, each a child process.
 * Each repetition times find and then each trawl run, so every ratio is against the find of
 * its own repetition; rows print the median and the spread (min–max) of those ratios, not one
 * lucky run. Targets are issue 12's: dry run ≤ 1.2×, first scan ≤ 2×, unchanged rescan
 * ≤ 1.5× (0 rows written), and at 1,000,000 files peak RSS ≤ 150 MB with RSS(files) /
 * RSS(--rss-base files, default 100,000) ≤ 1.3 (first scans, one each).
 * Trees are generated once under `.bench/` and reused. `--only dry,rescan` runs only those
 * rows (of startup, dry, first, rescan, floor); a rescan needs its first scan, which then runs
 * unprinted.
 *
 * Two reference rows, measured in each repetition: the **write floor** (bench/write-floor.js,
 * a child process) — the rows a first scan writes, inserted in one transaction by prepared
 * 100-row INSERTs into the same migrated schema with the name index and time steps filled
 * in one statement each, and the same rows into a bare table with the unique path index
 * only. Their time is the write's alone (the tree read first, untimed): what a first scan
 * into this schema cannot beat on this machine unless its writes overlap its walk.
 *
 * `--compare DIR`: another build's `bin/trawl.js` (e.g. /work/wt-base) also runs its dry run,
 * first scan and rescan in each repetition, right after this build's, on the same tree: an
 * A/B in one run, each ratio against the same find.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { availableParallelism, loadavg } from 'node:os';
import { canMeasureRss, measure, median } from './lib/measure.js';
import { ensureTree } from './lib/tree.js';
import { installWriteCounter, readWriteCounter } from './lib/writes.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    files: { type: 'string', default: '200000' },
    reps: { type: 'string', default: '3' },
    threads: { type: 'string' },
    'rss-base': { type: 'string', default: '100000' },
    compare: { type: 'string' },
    only: { type: 'string' },
  },
});
/** `--only dry,rescan`: run only these rows (find always runs: every ratio is against it). */
const ROWS = ['startup', 'dry', 'first', 'rescan', 'floor'];
const only = new Set(values.only ? values.only.split(',').map((s) => s.trim()) : ROWS);
for (const r of only) {
  if (!ROWS.includes(r)) {
    console.error(
      `bench:local: expected --only to list some of ${ROWS.join(',')}, got ${JSON.stringify(r)}`,
    );
    process.exit(1);
  }
}
const files = Number(values.files);
const reps = Number(values.reps);
const rssBase = Number(values['rss-base']);
/** At this size the RSS targets apply (and the smaller tree is scanned for the ratio). */
const RSS_FILES = 1_000_000;
for (const [name, v] of [
  ['--files', files],
  ['--reps', reps],
  ['--rss-base', rssBase],
]) {
  if (!Number.isInteger(v) || v < 1) {
    console.error(
      `bench:local: expected ${name} to be an integer from 1 and up, got ${JSON.stringify(v)}`,
    );
    process.exit(1);
  }
}

const benchDir = join(repo, '.bench');
const log = (s) => process.stderr.write(s + '\n');
const tree = ensureTree(benchDir, files, log);
const baseTree = files >= RSS_FILES && rssBase < files ? ensureTree(benchDir, rssBase, log) : null;
const runDir = join(benchDir, `run-${process.pid}`);
mkdirSync(runDir, { recursive: true });

async function find() {
  const r = await measure('find', [tree.root, '-printf', '%s %T@ %p\n'], { discardStdout: true });
  if (r.code !== 0) throw new Error(`find exited with ${r.code}`);
  return r;
}

function targetOf(t) {
  return values.threads
    ? `file://${encodeURI(t.root)}?threads=${encodeURIComponent(values.threads)}`
    : t.root;
}

async function trawl(db, flags = [], t = tree, build = repo) {
  // Run through the shebang, as a user does, so its node flags apply.
  const r = await measure(join(build, 'bin/trawl.js'), [
    'scan',
    targetOf(t),
    '--db',
    db,
    '--json',
    ...flags,
  ]);
  if (r.code !== 0) throw new Error(`trawl ${flags.join(' ')} exited with ${r.code}: ${r.stdout}`);
  const result = JSON.parse(r.stdout);
  if (result.files !== t.files || result.dirs !== t.dirs) {
    throw new Error(
      `trawl counted ${result.files} files / ${result.dirs} dirs, the tree has ${t.files} / ${t.dirs}`,
    );
  }
  return { ...r, result };
}

function removeDb(f) {
  for (const s of ['', '-wal', '-shm']) rmSync(f + s, { force: true });
}

function expect(ok, what) {
  if (!ok) throw new Error(`bench:local: ${what}`);
}

async function startup() {
  const r = await measure(join(repo, 'bin/trawl.js'), ['--version']);
  if (r.code !== 0) throw new Error(`trawl --version exited with ${r.code}`);
  return r;
}

async function writeFloor(db, bare) {
  const r = await measure(process.execPath, [
    join(repo, 'bench/write-floor.js'),
    tree.root,
    '--db',
    db,
    ...(bare ? ['--bare'] : []),
  ]);
  if (r.code !== 0) throw new Error(`write-floor exited with ${r.code}`);
  const floor = JSON.parse(r.stdout);
  expect(floor.rows === tree.files + tree.dirs, `write floor wrote ${floor.rows} rows`);
  removeDb(db);
  // The timed part only (the tree's read and the schema's migrations are not the floor);
  // no RSS: the process holds the whole tree's rows, which a scan never does.
  return { ms: floor.ms, cpuS: floor.cpuS, rssMb: null };
}

/** Dry run, first scan and unchanged rescan of one build into `runs`; its rescan's writes. */
async function scans(rep, runs, build = repo) {
  const dryDb = join(runDir, `dry-${rep}.db`);
  if (only.has('dry')) {
    const dry = await trawl(dryDb, ['--dry-run'], tree, build);
    expect(
      dry.result.created === tree.files,
      `dry run would create ${dry.result.created}, expected ${tree.files}`,
    );
    runs.dry.push(dry);
  }
  const db = join(runDir, `index-${rep}.db`);
  if (only.has('first') || only.has('rescan')) {
    const first = await trawl(db, [], tree, build);
    expect(first.result.created === tree.files, `first scan created ${first.result.created}`);
    if (only.has('first')) runs.first.push(first);
  }
  let writes = 0;
  if (only.has('rescan')) {
    installWriteCounter(db);
    const again = await trawl(db, [], tree, build);
    expect(
      again.result.unchanged === tree.files,
      `rescan found ${again.result.unchanged} unchanged`,
    );
    runs.rescan.push(again);
    writes = readWriteCounter(db);
  }
  for (const f of [dryDb, db]) removeDb(f);
  return writes;
}

const runs = { find: [], startup: [], dry: [], first: [], rescan: [], floor: [], bare: [] };
const other = { dry: [], first: [], rescan: [] };
const compare = values.compare ? resolve(values.compare) : null;
let rescanWrites = 0;
let baseRun = null;
try {
  log(
    `tree: ${tree.files.toLocaleString('en')} files in ${tree.dirs.toLocaleString('en')} directories at ${tree.root}`,
  );
  await find(); // warm the page cache so every contender reads the same cached metadata
  for (let rep = 1; rep <= reps; rep++) {
    log(`repetition ${rep}/${reps}`);
    runs.find.push(await find());
    if (only.has('startup')) runs.startup.push(await startup());
    rescanWrites = Math.max(rescanWrites, await scans(rep, runs));
    if (compare) await scans(rep, other, compare);
    if (only.has('floor')) {
      runs.floor.push(await writeFloor(join(runDir, `floor-${rep}.db`), false));
      runs.bare.push(await writeFloor(join(runDir, `bare-${rep}.db`), true));
    }
  }
  if (baseTree && only.has('first')) {
    log(`first scan of ${baseTree.files.toLocaleString('en')} files, for the RSS ratio`);
    const db = join(runDir, 'base.db');
    baseRun = await trawl(db, [], baseTree);
    removeDb(db);
  }
} finally {
  rmSync(runDir, { recursive: true, force: true });
}

const fmtMb = (mb) => (mb === null ? 'n/a' : `${mb.toFixed(0)} MB`);
const peak = (rs) =>
  canMeasureRss && rs.some((r) => r.rssMb !== null)
    ? Math.max(...rs.map((r) => r.rssMb ?? 0))
    : null;
const rows = [
  ['find -printf', runs.find, null],
  ['trawl --version', runs.startup, null],
  ['trawl --dry-run', runs.dry, 1.2],
  ['trawl first scan', runs.first, 2],
  ['trawl unchanged rescan', runs.rescan, 1.5],
  ...(compare
    ? [
        ['compared: --dry-run', other.dry, 1.2],
        ['compared: first scan', other.first, 2],
        ['compared: rescan', other.rescan, 1.5],
      ]
    : []),
  ['write floor: schema', runs.floor, null],
  ['write floor: bare table', runs.bare, null],
];
const out = [];
out.push(
  `bench:local: ${tree.files.toLocaleString('en')} files in ${tree.dirs.toLocaleString('en')} directories, ` +
    `${reps} repetition(s): median and (min–max) of each repetition's ratio to its own find` +
    (values.threads ? `, threads=${values.threads}` : '') +
    (compare ? `; compared: ${compare}` : ''),
);
out.push(
  `${'run'.padEnd(24)}${'time'.padStart(9)}${'× find'.padStart(9)}${'(min–max)'.padStart(14)}` +
    `${'CPU'.padStart(9)}${'peak RSS'.padStart(10)}   target`,
);
for (const [label, rs, limit] of rows) {
  if (rs.length === 0) continue; // left out by --only
  const ms = median(rs.map((r) => r.ms));
  const ratios = rs.map((r, i) => r.ms / runs.find[i].ms);
  const ratio = median(ratios);
  const spread = `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`;
  const cpu = canMeasureRss ? `${median(rs.map((r) => r.cpuS ?? 0)).toFixed(2)} s` : 'n/a';
  const verdict = limit === null ? '' : `≤ ${limit}× ${ratio <= limit ? 'met' : 'MISSED'}`;
  out.push(
    `${label.padEnd(24)}${(ms / 1000).toFixed(2).padStart(7)} s${ratio.toFixed(2).padStart(9)}` +
      `${spread.padStart(14)}${cpu.padStart(9)}${fmtMb(peak(rs)).padStart(10)}   ${verdict}`,
  );
}
out.push(
  `load average at the end: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} (${availableParallelism()} cores)`,
);
if (runs.rescan.length > 0) {
  out.push(
    `rows written by the unchanged rescan: ${rescanWrites} (target 0 ${rescanWrites === 0 ? 'met' : 'MISSED'})`,
  );
}
const allTrawl = [...runs.dry, ...runs.first, ...runs.rescan];
const peakMb = peak(allTrawl);
out.push(
  `peak RSS of trawl: ${fmtMb(peakMb)}` +
    (files >= RSS_FILES && peakMb !== null
      ? ` (target ≤ 150 MB at ${RSS_FILES.toLocaleString('en')} files ${peakMb <= 150 ? 'met' : 'MISSED'})`
      : ''),
);
if (baseRun && baseRun.rssMb !== null) {
  const big = peak(runs.first);
  const ratio = big / baseRun.rssMb;
  out.push(
    `RSS of a first scan, ${tree.files.toLocaleString('en')} / ${baseTree.files.toLocaleString('en')} files: ` +
      `${fmtMb(big)} / ${fmtMb(baseRun.rssMb)} = ${ratio.toFixed(2)} (target ≤ 1.3 ${ratio <= 1.3 ? 'met' : 'MISSED'})`,
  );
}
console.log(out.join('\n'));
