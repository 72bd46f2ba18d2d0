/**
 * npm run bench:fleet — how scanning many storages scales with `trawl worker` processes.
 *
 * 200 memory storages (each 10 directories × 5 subdirectories × 5 files: 61 listings, 310
 * entries; 10 ms per listing; 2 listings in flight per storage, `?maxConcurrency=2`) live in
 * every worker process (bench/fleet-worker.mjs builds the same trees in each). A fresh
 * PostgreSQL database and a Redis prefix of the run's own; for 1, 2 and 4 workers, each with
 * the same `--concurrency`, the bench enqueues one scan of every storage and times from the
 * first enqueue to the last scan's end — first scans, the index emptied before each run —
 * then prints scans per minute, entries per second, the ratio to one worker, and where the
 * CPU went: the workers (/proc of each process), the run's PostgreSQL backends (by
 * pg_stat_activity), Redis and the whole machine (both shared with anything else running).
 *
 * Bound: a scan lists its tree level by level (1, 10, 50 listings) 2 at a time, ≥ 31 rounds
 * of 10 ms; N workers × C scans at a time finish 200 scans in ≥ 200 × 0.31 s ÷ (N × C).
 *
 * Flags: --workers 1,2,4  --concurrency 2  --runs 3 (median)  --storages 200  --latency 10.
 * Services: TRAWL_TEST_PG_URL (maintenance database, default postgres://postgres@127.0.0.1:5432/postgres);
 * a redis-server of the bench's own on a free port (its CPU and commands are the fleet's
 * alone), or the one at --redis URL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import pg from 'pg';
import { App } from '../src/app.js';
import { enqueueScan } from '../src/jobs/enqueue.js';
import { parseStorageSpec } from '../src/storage/url.js';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
};
const WORKERS = flag('workers', '1,2,4').split(',').map(Number);
const CONCURRENCY = Number(flag('concurrency', '2'));
const RUNS = Number(flag('runs', '3'));
const STORAGES = Number(flag('storages', '200'));
const LATENCY = Number(flag('latency', '10'));
const TOP = 10;
const SUB = 5;
const FILES = 5;
const LISTINGS = 1 + TOP + TOP * SUB;
const ENTRIES = TOP + TOP * SUB + TOP * SUB * FILES;
const SLOTS = 2;
/** Rounds of listings a scan needs at SLOTS in flight: level by level. */
const ROUNDS = 1 + Math.ceil(TOP / SLOTS) + Math.ceil((TOP * SUB) / SLOTS);

const REPO = resolve(import.meta.dirname, '../../..');
const PG_ADMIN = process.env.TRAWL_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const EXTERNAL_REDIS = args.includes('--redis') ? flag('redis', '') : undefined;
const TICK = 100; // clock ticks per second in /proc (CLK_TCK on Linux)

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** CPU seconds a process has used (user + system), or 0 once it is gone. */
function cpuOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICK;
  } catch {
    return 0;
  }
}

/** CPU seconds of every process whose command name is `comm`. */
function cpuOfAll(comm: string): number {
  let sum = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/comm`, 'utf8').trim() === comm) sum += cpuOf(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return sum;
}

/** Busy and total CPU seconds of the whole machine. */
function machine(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = v[3]! + v[4]!;
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / TICK, total: total / TICK };
}

/** The Redis of the runs: its URL, its CPU so far, commands it has processed, memory it holds. */
interface RedisUnderTest {
  url: string;
  cpu(): number;
  commands(): Promise<number>;
  memory(): Promise<number>;
  stop(): Promise<void>;
}

async function startRedis(): Promise<RedisUnderTest> {
  if (EXTERNAL_REDIS) {
    const client = new Redis(EXTERNAL_REDIS);
    return {
      url: EXTERNAL_REDIS,
      // Shared with whatever else uses that Redis.
      cpu: () => cpuOfAll('redis-server'),
      commands: async () => commandsOf(client),
      memory: async () => memoryOf(client),
      stop: async () => void (await client.quit()),
    };
  }
  const port = await new Promise<number>((done) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const a = probe.address();
      probe.close(() => done(typeof a === 'object' && a ? a.port : 0));
    });
  });
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const url = `redis://127.0.0.1:${port}`;
  const client = new Redis(url, { retryStrategy: (n) => (n > 50 ? null : 100) });
  client.on('error', () => {}); // refused until the server listens: retried
  await client.ping();
  return {
    url,
    cpu: () => cpuOf(child.pid!),
    commands: async () => commandsOf(client),
    memory: async () => memoryOf(client),
    async stop() {
      await client.quit();
      child.kill('SIGTERM');
    },
  };
}

async function commandsOf(client: Redis): Promise<number> {
  const info = await client.info('stats');
  return Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? 0);
}

async function memoryOf(client: Redis): Promise<number> {
  const info = await client.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
}

interface Worker {
  child: ChildProcess;
  stderr: () => string;
}

function startWorker(env: Record<string, string>): Promise<Worker> {
  const child = spawn(
    process.execPath,
    [join(REPO, 'bench', 'fleet-worker.mjs'), 'worker', '--concurrency', String(CONCURRENCY)],
    { cwd: REPO, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } },
  );
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.resume();
  return new Promise((done, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`worker not ready after 60 s: ${err}`)),
      60_000,
    );
    const check = () => {
      if (!err.includes('takes scan jobs')) return;
      clearTimeout(timer);
      child.stderr!.off('data', check);
      done({ child, stderr: () => err });
    };
    child.stderr!.on('data', check);
    child.on('exit', (code) => reject(new Error(`worker exited ${code}: ${err}`)));
  });
}

async function stopWorker(w: Worker): Promise<void> {
  if (w.child.exitCode !== null) return;
  const exited = new Promise((r) => w.child.once('exit', r));
  w.child.kill('SIGTERM');
  const timer = setTimeout(() => w.child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

interface Run {
  workers: number;
  ms: number;
  entries: number;
  workerCpu: number;
  pgCpu: number;
  redisCpu: number;
  redisCommands: number;
  /** Bytes Redis holds more after the pass (the change events no one consumed, mostly). */
  redisBytes: number;
  machineBusy: number;
  machineTotal: number;
  /** Median of the scans' own durations (from the lease grant to the end). */
  scanMs: number;
  /** Share of the run's scan slots (workers × concurrency × time) that a scan held. */
  slotsBusy: number;
}

async function admin(text: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_ADMIN });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

async function main(): Promise<void> {
  const name = `trawl_bench_fleet_${Math.random().toString(36).slice(2, 10)}`;
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(PG_ADMIN);
  url.pathname = `/${name}`;
  const dbUrl = url.toString();
  const redisUnderTest = await startRedis();
  const redis = new Redis(redisUnderTest.url);
  try {
    // Migrated as `trawl migrate` does, then the storages registered once.
    const setup = await App.open({ database: dbUrl, tenant: 'default', env: {} });
    for (let s = 0; s < STORAGES; s++) {
      await setup.ensureStorage(
        parseStorageSpec(`memory://fleet-${s}?maxConcurrency=${SLOTS}&limitKey=fleet-${s}`),
      );
    }
    await setup.close();
    console.log(
      `bench:fleet: ${STORAGES} storages × ${LISTINGS} listings (${LATENCY} ms each, ${SLOTS} in flight) ` +
        `and ${ENTRIES} entries; workers ${WORKERS.join(', ')} × --concurrency ${CONCURRENCY}; ` +
        `${RUNS} run(s) each; ${cpus().length} cores`,
    );
    const runs: Run[] = [];
    for (const n of WORKERS) {
      await withFleet(dbUrl, redis, redisUnderTest, n, async (pass) => {
        // A first pass warms the workers up (JIT, connection pools): a fleet runs for days.
        await pass();
        for (let r = 0; r < RUNS; r++) {
          const run = await pass();
          runs.push(run);
          const ours = run.workerCpu + run.pgCpu + run.redisCpu;
          console.log(
            `  ${n} worker(s), run ${r + 1}: ${(run.ms / 1000).toFixed(2)} s, ` +
              `${Math.round(run.entries / (run.ms / 1000)).toLocaleString('en')} entries/s; CPU s: ` +
              `workers ${run.workerCpu.toFixed(1)}, PostgreSQL ${run.pgCpu.toFixed(1)}, ` +
              `Redis ${run.redisCpu.toFixed(1)}, everything else ${(run.machineBusy - ours).toFixed(1)}, ` +
              `idle ${(run.machineTotal - run.machineBusy).toFixed(1)}; scans ${run.scanMs} ms ` +
              `(median), slots busy ${(100 * run.slotsBusy).toFixed(0)} %; ` +
              `${Math.round(run.redisCommands / STORAGES)} Redis commands a scan, ` +
              `Redis memory +${(run.redisBytes / 2 ** 20).toFixed(1)} MiB`,
          );
        }
      });
    }
    report(runs);
  } finally {
    await redis.quit();
    await redisUnderTest.stop();
    await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}

/** Starts `n` workers and hands `work` a pass: one first scan of every storage, measured. */
async function withFleet(
  dbUrl: string,
  redis: Redis,
  redisUnderTest: RedisUnderTest,
  n: number,
  work: (pass: () => Promise<Run>) => Promise<void>,
): Promise<void> {
  const prefix = `bench-fleet-${process.pid}-${n}`;
  const fleetEnv = {
    TRAWL_REDIS_URL: redisUnderTest.url,
    TRAWL_REDIS_PREFIX: prefix,
    // One tenant owns every storage here: its cap on running scans must not be what binds.
    TRAWL_TENANT_MAX_SCANS: '100000',
  };
  const app = await App.open({ database: dbUrl, tenant: 'default', env: fleetEnv });
  const workers: Worker[] = [];
  try {
    const env = (i: number) => {
      const u = new URL(dbUrl);
      u.searchParams.set('application_name', `bench-fleet-w${i}`);
      return {
        ...fleetEnv,
        TRAWL_DATABASE_URL: u.toString(),
        FLEET_STORAGES: String(STORAGES),
        FLEET_LATENCY_MS: String(LATENCY),
      };
    };
    workers.push(...(await Promise.all(Array.from({ length: n }, (_, i) => startWorker(env(i))))));
    await work(() => pass(app, workers, redisUnderTest));
  } finally {
    await Promise.all(workers.map(stopWorker));
    await app.close();
    for (const p of [`{${prefix}}`, prefix]) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${p}*`, 'COUNT', 1000);
        if (keys.length) await redis.del(...keys);
        cursor = next;
      } while (cursor !== '0');
    }
  }
}

async function pass(app: App, workers: Worker[], redis: RedisUnderTest): Promise<Run> {
  const n = workers.length;
  // Every pass is a first scan of every storage: the index emptied, its statistics fresh.
  await sql`TRUNCATE entries, scans, change_events`.execute(app.index.db);
  await sql`VACUUM ANALYZE entries`.execute(app.index.db);
  const storages = await app.index.storages.list(app.tenantId);
  const pgPids = async () =>
    (
      await sql<{ pid: number }>`SELECT pid FROM pg_stat_activity
        WHERE datname = current_database() AND application_name LIKE 'bench-fleet-w%'`.execute(
        app.index.db,
      )
    ).rows.map((r) => r.pid);
  const pgBefore = new Map((await pgPids()).map((p) => [p, cpuOf(p)]));
  const workersBefore = workers.map((w) => cpuOf(w.child.pid!));
  const redisBefore = redis.cpu();
  const commandsBefore = await redis.commands();
  const memoryBefore = await redis.memory();
  const machineBefore = machine();
  const started = Date.now();
  await Promise.all(storages.map((s) => enqueueScan(app, s)));
  let last = 0;
  for (;;) {
    const { rows } = await sql<{ done: string; failed: string; last: string | null }>`
      SELECT count(*) FILTER (WHERE status = 'succeeded')::text AS done,
             count(*) FILTER (WHERE status IN ('failed', 'partial', 'cancelled', 'interrupted'))::text AS failed,
             max(finished_at)::text AS last
      FROM scans`.execute(app.index.db);
    const row = rows[0]!;
    if (Number(row.failed) > 0) throw new Error(`${row.failed} scans did not succeed`);
    if (Number(row.done) === storages.length) {
      last = Number(row.last);
      break;
    }
    if (Date.now() - started > 600_000) throw new Error('not done after 10 minutes');
    await new Promise((r) => setTimeout(r, 50));
  }
  const machineAfter = machine();
  const pgCpu = (await pgPids()).reduce((sum, p) => sum + cpuOf(p) - (pgBefore.get(p) ?? 0), 0);
  const workerCpu = workers.reduce((sum, w, i) => sum + cpuOf(w.child.pid!) - workersBefore[i]!, 0);
  const { rows } = await sql<{ n: string }>`SELECT count(*)::text AS n FROM entries`.execute(
    app.index.db,
  );
  const durations = (
    await sql<{ d: string }>`SELECT (finished_at - started_at)::text AS d FROM scans`.execute(
      app.index.db,
    )
  ).rows.map((r) => Number(r.d));
  return {
    scanMs: median(durations),
    slotsBusy: durations.reduce((a, b) => a + b, 0) / ((last - started) * n * CONCURRENCY),
    workers: n,
    ms: last - started,
    entries: Number(rows[0]!.n),
    workerCpu,
    pgCpu,
    redisCpu: redis.cpu() - redisBefore,
    redisCommands: (await redis.commands()) - commandsBefore,
    redisBytes: (await redis.memory()) - memoryBefore,
    machineBusy: machineAfter.busy - machineBefore.busy,
    machineTotal: machineAfter.total - machineBefore.total,
  };
}

function report(runs: Run[]): void {
  const base = median(runs.filter((r) => r.workers === WORKERS[0]).map((r) => r.ms));
  const rows = WORKERS.map((n) => {
    const mine = runs.filter((r) => r.workers === n);
    const ms = median(mine.map((r) => r.ms));
    const entries = mine[0]!.entries;
    const bound = (STORAGES * ROUNDS * LATENCY) / (n * CONCURRENCY);
    const pick = (f: (r: Run) => number) => median(mine.map(f)).toFixed(1);
    return [
      `${n}`,
      mine.map((r) => (r.ms / 1000).toFixed(2)).join(' / ') + ' s',
      `${((STORAGES / ms) * 60_000).toFixed(0)}`,
      `${Math.round(entries / (ms / 1000)).toLocaleString('en')}`,
      `${(base / ms).toFixed(2)}×`,
      `${(bound / 1000).toFixed(2)} s (${(ms / bound).toFixed(2)}×)`,
      `${median(mine.map((r) => r.scanMs))} ms`,
      [
        pick((r) => r.workerCpu),
        pick((r) => r.pgCpu),
        pick((r) => r.redisCpu),
        pick((r) => r.machineBusy - r.workerCpu - r.pgCpu - r.redisCpu),
        pick((r) => r.machineTotal - r.machineBusy),
      ].join(' / '),
    ];
  });
  const head = [
    'workers',
    'time (runs)',
    'scans/min',
    'entries/s',
    'vs 1',
    'latency bound',
    'scan (median)',
    'CPU s: workers / PostgreSQL / Redis / others / idle',
  ];
  const table = [head, head.map(() => '---'), ...rows];
  console.log('\n' + table.map((r) => `| ${r.join(' | ')} |`).join('\n'));
}

await main();
