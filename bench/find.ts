/**
 * `npm run bench:find`: `trawl find`, `trawl du` and `trawl ls` over N entries (default
 * 1,000,000) in each dialect, run in process as a user runs them (the index opened, the
 * storage resolved, every line formatted), into a sink that counts lines.
 *
 * The tree is bench/search-tree.ts's (a media library: a 100,000-file camera dump and leaf
 * directories of 20-200 files), written as a first scan writes it. Each command runs once
 * to warm up, then `--runs` times; the median is compared with the targets: a name
 * glob answered in 1 s, `du` of the top level in 2 s. Memory: the peak RSS of a process that
 * finds 1,000 entries, a tenth of them, all of them (flat memory levels off).
 *
 *   npm run bench:find -- [--entries N] [--only sqlite|postgres] [--runs N] [--keep] [--short]
 *
 * `--short` runs the glob rows, `du` of the top level and the memory only (a shorter run). `cpu`: the median CPU of this
 * process per run, steadier than the time when other work shares the machine.
 *
 * `--process` runs each command as a user does instead, as a process of its own
 * (`bin/trawl.js`, node start-up included; its output read through a pipe and counted): the
 * wall time, and the process's CPU (user + system, from /usr/bin/time) and peak RSS. With
 * `--bin A,B` (paths of bin/trawl.js of other builds, this one's by default) each run goes
 * through every build in turn, A then B, so that an A/B shares the machine's load alike.
 *
 *   npm run bench:find -- --keep --process [--bin /other/bin/trawl.js,bin/trawl.js]
 *
 * `--keep` keeps the loaded index (.bench/find/index-N.db, PostgreSQL database
 * trawl_bench_find_N, or the name `--pg-db` gives: a helper's own) and uses it again next time
 * instead of writing the tree anew.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { main } from '../src/cli/main.js';
import type { Dialect } from '../src/db/dialect.js';
import { openIndex } from '../src/db/open.js';
import { PG_ADMIN_URL, createDatabase } from '../test/support/databases.js';
import { benchScope } from './bench-writes.js';
import { benchTree, random } from './search-tree.js';

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const N = Number(arg('--entries') ?? 1_000_000);
const RUNS = Number(arg('--runs') ?? 5);
const only = arg('--only') as Dialect | undefined;
const keep = process.argv.includes('--keep');
const short = process.argv.includes('--short');
const asProcess = process.argv.includes('--process');
const bins = (arg('--bin') ?? resolve(import.meta.dirname, '../../../bin/trawl.js'))
  .split(',')
  .map((b) => resolve(b));
const TARGET = { glob: 1000, du: 2000 };

/** An index holding the tree, loaded now or kept from an earlier `--keep` run. */
async function indexFor(dialect: Dialect): Promise<{ url: string; drop: () => Promise<void> }> {
  let url: string;
  let drop = async () => {};
  if (keep && dialect === 'sqlite') {
    const dir = resolve(import.meta.dirname, '../../find');
    mkdirSync(dir, { recursive: true });
    url = join(dir, `index-${N}.db`);
  } else if (keep) {
    const name = arg('--pg-db') ?? `trawl_bench_find_${N}`;
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const u = new URL(PG_ADMIN_URL);
    u.pathname = `/${name}`;
    url = u.toString();
  } else {
    const db = await createDatabase(dialect);
    url = db.url;
    drop = db.drop;
  }
  const index = await openIndex(url);
  try {
    const { tenantId, storageId } = await benchScope(index);
    if ((await index.storages.countEntries(storageId)) === N) {
      console.log(`${dialect}: using the ${N.toLocaleString('en')} entries kept in ${url}`);
    } else {
      const t0 = performance.now();
      for (const batch of benchTree(N).batches(index.entries.batchEntries)) {
        await index.entries.apply({ tenantId, storageId }, [], batch);
      }
      const s = ((performance.now() - t0) / 1000).toFixed(1);
      console.log(`${dialect}: wrote ${N.toLocaleString('en')} entries in ${s} s`);
    }
  } finally {
    await index.close();
  }
  return { url, drop };
}

interface Run {
  ms: number;
  /** CPU of this process (user + system): steadier than the time on a shared machine; the PostgreSQL server's is not in it. */
  cpuMs: number;
  /** Until the first line was written. */
  firstMs: number;
  lines: number;
  code: number;
}

/** The CLI in process, its output counted and dropped. */
async function cli(args: string[]): Promise<Run> {
  let lines = 0;
  let first = 0;
  const t0 = performance.now();
  const sink = {
    write(s: string) {
      if (first === 0) first = performance.now();
      for (let i = s.indexOf('\n'); i >= 0; i = s.indexOf('\n', i + 1)) lines++;
      for (let i = s.indexOf('\0'); i >= 0; i = s.indexOf('\0', i + 1)) lines++;
      return true;
    },
  };
  let err = '';
  const cpu0 = process.cpuUsage();
  const code = await main(['node', 'trawl', ...args], {
    stdout: sink,
    stderr: { write: (s: string) => (err += s) },
    env: { TRAWL_TENANT: 'bench', HOME: process.env.HOME ?? '/tmp' },
  });
  if (code !== 0) throw new Error(`trawl ${args.join(' ')}: exit ${code}: ${err}`);
  const end = performance.now();
  const cpu = process.cpuUsage(cpu0);
  return {
    ms: end - t0,
    cpuMs: (cpu.user + cpu.system) / 1000,
    firstMs: (first || end) - t0,
    lines,
    code,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Median and fastest run (on a shared machine the fastest says most about the work itself). */
function row(dialect: Dialect, label: string, runs: Run[], target?: number): void {
  const ms = median(runs.map((r) => r.ms));
  const min = Math.min(...runs.map((r) => r.ms));
  const first = median(runs.map((r) => r.firstMs));
  const cpu = median(runs.map((r) => r.cpuMs));
  const lines = Math.round(runs.reduce((n, r) => n + r.lines, 0) / runs.length);
  const ratio = target === undefined ? '' : `${(ms / target).toFixed(2)} of target`;
  console.log(
    `${dialect.padEnd(9)}${label.padEnd(42)}${ms.toFixed(0).padStart(7)} ms${min.toFixed(0).padStart(7)} ms` +
      `${cpu.toFixed(0).padStart(7)} ms${first.toFixed(0).padStart(7)} ms${lines.toLocaleString('en').padStart(10)}  ${ratio}`,
  );
}

async function measure(dialect: Dialect, url: string): Promise<void> {
  const db = ['--db', url];
  const { words } = benchTree(N);
  const r = random(13);
  const word = () => words[Math.floor(r() * words.length)]!;
  const timed = async (label: string, args: () => string[], target?: number) => {
    if (short && target === undefined && !label.includes('-0') && !label.includes('--json')) return;
    await cli([...args(), ...db]);
    const runs: Run[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(await cli([...args(), ...db]));
    row(dialect, label, runs, target);
  };
  await timed(
    'find --name "*WORD*" (a word)',
    () => ['find', 'bench', '--name', `*${word()}*`],
    TARGET.glob,
  );
  await timed(
    'find --name "IMG_*_WORD.jpg"',
    () => ['find', 'bench', '--name', `IMG_*_${word()}.jpg`],
    TARGET.glob,
  );
  await timed(
    'find --name "*.mkv" (a tenth)',
    () => ['find', 'bench', '--name', '*.mkv'],
    TARGET.glob,
  );
  await timed(
    'find --name "*.jpg" --limit 100',
    () => ['find', 'bench', '--name', '*.jpg', '--limit', '100'],
    TARGET.glob,
  );
  await timed('find --name "*.jpg" -0 (a quarter)', () => [
    'find',
    'bench',
    '--name',
    '*.jpg',
    '-0',
  ]);
  await timed('find --ext mkv,mp4 --json', () => ['find', 'bench', '--ext', 'mkv,mp4', '--json']);
  await timed('find --size +4G', () => ['find', 'bench', '--size', '+4G']);
  await timed('find --kind audio --newer 2020-01-01', () => [
    'find',
    'bench',
    '--kind',
    'audio',
    '--newer',
    '2020-01-01',
  ]);
  await timed('find --sort size --limit 100', () => [
    'find',
    'bench',
    '--sort',
    'size',
    '--limit',
    '100',
  ]);
  await timed('find --name "*WORD*" --sort mtime', () => [
    'find',
    'bench',
    '--name',
    `*${word()}*`,
    '--sort',
    'mtime',
  ]);
  await timed('du (top level)', () => ['du', 'bench'], TARGET.du);
  await timed('du --depth 3', () => ['du', 'bench', '--depth', '3']);
  await timed('du /Photos/2010', () => ['du', 'bench', '/Photos/2010']);
  await timed('ls / (6 entries)', () => ['ls', 'bench']);
  await timed('ls camera-dump --sort size (100,000)', () => [
    'ls',
    'bench',
    '/Backups/camera-dump',
    '--sort',
    'size',
  ]);

  if (!short) await timed('find (everything)', () => ['find', 'bench']);
  // Memory: the peak RSS of a process of its own (with bin/trawl.js's heap flag) finding a
  // thousand entries, a tenth of them, all of them: flat memory levels off, whatever the count.
  const peaks = [1000, Math.floor(N / 10), N].map(
    (n) =>
      `${n.toLocaleString('en')}: ${peakRss(['find', 'bench', '--limit', String(n), ...db])} MB`,
  );
  console.log(`${dialect.padEnd(9)}peak RSS of a process finding ${peaks.join(', ')}`);
}

/** The CLI in a child process, its output dropped; its peak RSS in MB. */
function peakRss(args: string[]): number {
  const main = pathToFileURL(resolve(import.meta.dirname, '../src/cli/main.js')).href;
  const script = `const { main } = await import(${JSON.stringify(main)});
    const code = await main(['node', 'trawl', ...${JSON.stringify(args)}], {
      stdout: { write: () => true }, stderr: process.stderr, env: process.env });
    process.stderr.write('maxrss ' + process.resourceUsage().maxRSS + '\\n');
    process.exit(code);`;
  const child = spawnSync(
    process.execPath,
    ['--max-old-space-size=1024', '--input-type=module', '-e', script],
    { env: { ...process.env, TRAWL_TENANT: 'bench' }, encoding: 'utf8' },
  );
  const kb = /maxrss (\d+)/.exec(child.stderr)?.[1];
  if (child.status !== 0 || kb === undefined) {
    throw new Error(`trawl ${args.join(' ')}: exit ${child.status}: ${child.stderr}`);
  }
  return Math.round(Number(kb) / 1024);
}

interface ProcessRun {
  ms: number;
  /** The child's user + system CPU (its PostgreSQL server's is not in it). */
  cpuMs: number;
  rssMb: number;
  bytes: number;
}

/** `bin/trawl.js args` as a process of its own, its stdout read through a pipe and counted. */
async function processRun(bin: string, args: string[]): Promise<ProcessRun> {
  const timeFile = join(tmpdir(), `trawl-bench-find-${process.pid}.time`);
  const t0 = performance.now();
  const child = spawn('/usr/bin/time', ['-o', timeFile, '-f', '%U %S %M', bin, ...args], {
    env: { ...process.env, TRAWL_TENANT: 'bench' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let bytes = 0;
  let err = '';
  child.stdout.on('data', (b: Buffer) => (bytes += b.length));
  child.stderr.on('data', (b: Buffer) => (err += b));
  const code = await new Promise<number | null>((done) => child.on('close', done));
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`${bin} ${args.join(' ')}: exit ${code}: ${err}`);
  const [user, system, rss] = readFileSync(timeFile, 'utf8').trim().split(/\s+/).map(Number);
  rmSync(timeFile, { force: true });
  return { ms, cpuMs: (user! + system!) * 1000, rssMb: Math.round(rss! / 1024), bytes };
}

/** The commands of issue 11 as processes, every build of `--bin` in turn per run. */
async function measureProcesses(dialect: Dialect, url: string): Promise<void> {
  const commands: [string, string[]][] = [
    ['find --name "*.jpg" -0', ['find', 'bench', '--name', '*.jpg', '-0']],
    ['find --name "*.mkv"', ['find', 'bench', '--name', '*.mkv']],
    ['find --name "*.jpg" --json', ['find', 'bench', '--name', '*.jpg', '--json']],
    ['find --name "*.jpg" (table)', ['find', 'bench', '--name', '*.jpg']],
    ['du (top level)', ['du', 'bench']],
  ];
  for (const [label, args] of commands) {
    const all = [...args, '--db', url];
    const runs = bins.map(() => [] as ProcessRun[]);
    for (const bin of bins) await processRun(bin, all); // warm up
    for (let i = 0; i < RUNS; i++) {
      for (const [b, bin] of bins.entries()) runs[b]!.push(await processRun(bin, all));
    }
    for (const [b, bin] of bins.entries()) {
      const rs = runs[b]!;
      const ms = median(rs.map((r) => r.ms));
      const min = Math.min(...rs.map((r) => r.ms));
      const cpu = median(rs.map((r) => r.cpuMs));
      const rss = Math.max(...rs.map((r) => r.rssMb));
      const bytes = rs[0]!.bytes;
      const target = label.startsWith('du') ? TARGET.du : TARGET.glob;
      const name = bins.length > 1 ? ` [${bin}]` : '';
      console.log(
        `${dialect.padEnd(9)}${label.padEnd(32)}${ms.toFixed(0).padStart(7)} ms${min.toFixed(0).padStart(7)} ms` +
          `${cpu.toFixed(0).padStart(7)} ms${String(rss).padStart(6)} MB${bytes.toLocaleString('en').padStart(13)} B` +
          `  ${(ms / target).toFixed(2)} of target${name}`,
      );
    }
  }
  console.log(
    `load average after ${dialect}: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
}

if (asProcess) {
  console.log(
    `${N.toLocaleString('en')} entries, as processes (bin/trawl.js), median of ${RUNS} runs after one to warm up`,
  );
  console.log(
    `${'dialect'.padEnd(9)}${'command'.padEnd(32)}${'median'.padStart(10)}${'fastest'.padStart(10)}` +
      `${'cpu'.padStart(10)}${'rss'.padStart(9)}${'output'.padStart(15)}`,
  );
} else {
  console.log(`${N.toLocaleString('en')} entries, median of ${RUNS} runs after one to warm up`);
  console.log(
    `${'dialect'.padEnd(9)}${'command'.padEnd(42)}${'median'.padStart(10)}${'fastest'.padStart(10)}` +
      `${'cpu'.padStart(10)}${'1st line'.padStart(10)}${'lines'.padStart(10)}`,
  );
}
console.log(
  `load average at the start: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
for (const dialect of ['sqlite', 'postgres'] as const) {
  if (only && only !== dialect) continue;
  const { url, drop } = await indexFor(dialect);
  try {
    await (asProcess ? measureProcesses(dialect, url) : measure(dialect, url));
  } finally {
    await drop();
  }
}
