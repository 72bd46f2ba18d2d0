#!/usr/bin/env node
/**
 * npm run bench:startup — how long the command line takes to start, against `node -e 0`.
 *
 * Runs, interleaved (one of each per round, so that a burst of load on a shared machine hits
 * every command alike): `node -e 0`, `trawl --version`, `trawl --help`, `trawl scan <empty
 * folder>` into a fresh SQLite file, and the same scan into an existing index (every
 * migration applied, the tenant and storage known). Each is a child process started the way
 * a shell starts `./bin/trawl.js` (with the node flags of its first line); the time is wall
 * clock from spawn to exit. Prints the median, the spread (min–max) and the median's ratio
 * to `node -e 0`'s. Needs `npm run build` first (the script does it).
 *
 * Flags: --runs N (rounds, default 20), --bin PATH (the CLI to time, default bin/trawl.js),
 * --compare PATH (another build's bin/trawl.js: its two scans join every round, so that both
 * builds meet the same load; their rows end in "[compare]"). The "× node -e 0" columns divide
 * the median by `node -e 0`'s median and the minimum by its minimum: on a shared machine the
 * minimums, the runs no other process slowed, tell builds apart when the medians cannot.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const RUNS = Number(flag('runs', 20));
const BIN = flag('bin', fileURLToPath(new URL('../bin/trawl.js', import.meta.url)));
const COMPARE = flag('compare', undefined);
// The flags of the CLI's shebang: timed as the shell runs it, not as `node bin/trawl.js` (its
// code cache, scripts/bundle.js, is made under these flags and refused under others).
const flagsOf = (bin) =>
  readFileSync(bin, 'utf8')
    .split('\n')[0]
    .split(/\s+/)
    .filter((word) => word.startsWith('--'));
const NODE_FLAGS = flagsOf(BIN);

const work = mkdtempSync(join(tmpdir(), 'trawl-bench-startup-'));
const empty = join(work, 'empty');
mkdirSync(empty);
const existing = join(work, 'existing.db');
const fresh = join(work, 'fresh.db');
// Nothing from the caller's environment changes what is timed (no fleet, no log level).
const env = { PATH: process.env.PATH, HOME: work };

/** One child process, timed from spawn to exit; a failure stops the bench. */
function time(argv) {
  const start = process.hrtime.bigint();
  const run = spawnSync(process.execPath, argv, { env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (run.status !== 0) {
    throw new Error(`${argv.join(' ')} exited ${run.status}: ${run.stderr || run.stdout}`);
  }
  return ms;
}

const trawl = (...rest) => [...NODE_FLAGS, BIN, ...rest];
const CASES = [
  { name: 'node -e 0', argv: () => ['-e', '0'] },
  { name: 'trawl --version', argv: () => trawl('--version') },
  { name: 'trawl --help', argv: () => trawl('--help') },
  {
    name: 'trawl scan <empty> (fresh db)',
    argv: () => {
      rmSync(fresh, { force: true });
      rmSync(`${fresh}-wal`, { force: true });
      rmSync(`${fresh}-shm`, { force: true });
      return trawl('scan', empty, '--db', fresh);
    },
  },
  { name: 'trawl scan <empty> (existing db)', argv: () => trawl('scan', empty, '--db', existing) },
];
if (COMPARE !== undefined) {
  const flags = flagsOf(COMPARE);
  const other = (...rest) => [...flags, COMPARE, ...rest];
  const otherFresh = join(work, 'fresh-compare.db');
  const otherExisting = join(work, 'existing-compare.db');
  CASES.push(
    {
      name: 'trawl scan <empty> (fresh db) [compare]',
      argv: () => {
        for (const end of ['', '-wal', '-shm']) rmSync(`${otherFresh}${end}`, { force: true });
        return other('scan', empty, '--db', otherFresh);
      },
    },
    {
      name: 'trawl scan <empty> (existing db) [compare]',
      argv: () => other('scan', empty, '--db', otherExisting),
      setup: () => time(other('scan', empty, '--db', otherExisting)),
    },
  );
}

try {
  console.log(
    `bench:startup — ${RUNS} rounds, ${BIN}${COMPARE ? ` against ${COMPARE}` : ''}, node ${process.version}`,
  );
  time(trawl('scan', empty, '--db', existing)); // makes the existing index (and warms the disk cache)
  for (const c of CASES) c.setup?.();
  for (const c of CASES) time(c.argv()); // one warm-up round, not counted
  const samples = CASES.map(() => []);
  for (let r = 0; r < RUNS; r++) {
    CASES.forEach((c, i) => samples[i].push(time(c.argv())));
  }
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  };
  const base = median(samples[0]);
  const baseMin = Math.min(...samples[0]);
  console.table(
    CASES.map((c, i) => ({
      command: c.name,
      'median ms': median(samples[i]).toFixed(0),
      'min–max ms': `${Math.min(...samples[i]).toFixed(0)}–${Math.max(...samples[i]).toFixed(0)}`,
      '× node -e 0': (median(samples[i]) / base).toFixed(2),
      '× (min)': (Math.min(...samples[i]) / baseMin).toFixed(2),
    })),
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
