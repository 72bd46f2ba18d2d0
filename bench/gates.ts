/**
 * What the fleet-wide gates (src/jobs/redis-semaphore.ts) cost per request, against the
 * in-process gates of embedded mode, on the machine's Redis (loopback):
 *
 * 1. admissions: acquire then release at once, 16 at a time, a cap never reached;
 * 2. a walk of a memory tree with no latency (the fastest storage there is: the gate is all
 *    the cost) through the StorageService, 16 listings in flight;
 * 3. contention: 4 gate instances (processes) × 16 requests, a cap of 4, each request held
 *    2 ms — Redis calls per admission, to show that waiters do not poll in a storm.
 *
 *   npx tsc -p bench/tsconfig.gates.json && node .bench/gates-build/bench/gates.js
 *
 * Flags: --n N admissions per case (20000), --redis URL (redis://127.0.0.1:6379).
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisSemaphore } from '../src/jobs/redis-semaphore.js';
import { MemoryTree } from '../src/storage/backends/memory-tree.js';
import { registerMemoryVolume, unregisterMemoryVolume } from '../src/storage/backends/memory.js';
import { InProcessGates, type SharedGates } from '../src/storage/limits/gates.js';
import { StorageService } from '../src/storage/service.js';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
};
const N = Number(flag('n', '20000'));
const URL = flag('redis', 'redis://127.0.0.1:6379');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A Redis client that counts the scripts it runs (every gate call is one EVALSHA). */
function countingRedis(): { redis: Redis; calls: () => number } {
  const redis = new Redis(URL);
  let calls = 0;
  const evalsha = redis.evalsha.bind(redis);
  redis.evalsha = ((...a: Parameters<typeof evalsha>) => {
    calls++;
    return evalsha(...a);
  }) as typeof redis.evalsha;
  return { redis, calls: () => calls };
}

async function drop(redis: Redis, prefix: string): Promise<void> {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
}

async function admissions(gates: SharedGates, width: number): Promise<number> {
  const slots = [
    { name: 'tenant:1', limit: 1000 },
    { name: 'key:webdav:nas', limit: 1000 },
  ];
  let left = N;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (left-- > 0) (await gates.acquire(slots))();
    }),
  );
  return performance.now() - started;
}

async function walk(gates: SharedGates | undefined): Promise<{ ms: number; listings: number }> {
  const volume = `bench-gates-${randomUUID()}`;
  const tree = new MemoryTree();
  for (let i = 0; i < 40; i++)
    for (let j = 0; j < 49; j++) tree.writeFile(`/d${i}/s${j}/f.mkv`, 1, 1);
  registerMemoryVolume(volume, tree);
  const service = new StorageService({
    lookup: async (id) => ({
      id,
      tenantId: 1,
      kind: 'memory',
      options: { volume, maxConcurrency: 16 },
      version: 1,
      enabled: true,
    }),
    limits: { perTenant: 1000 },
    ...(gates ? { gates } : {}),
  });
  try {
    const handle = await service.open(1);
    const queue = ['/'];
    let listings = 0;
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      let active = 0;
      const pump = () => {
        while (active < 16 && queue.length > 0) {
          const dir = queue.shift()!;
          active++;
          void (async () => {
            for await (const page of handle.list(dir)) {
              for (const e of page) if (e.isDir) queue.push(e.path);
            }
          })().then(() => {
            listings++;
            active--;
            if (active === 0 && queue.length === 0) resolve();
            else pump();
          }, reject);
        }
      };
      pump();
    });
    return { ms: performance.now() - started, listings };
  } finally {
    await service.closeAll();
    unregisterMemoryVolume(volume);
  }
}

async function contention(): Promise<{
  admitted: number;
  calls: number;
  most: number;
  ms: number;
}> {
  const prefix = `{bench-gates-${randomUUID()}}`;
  const members = Array.from({ length: 4 }, () => {
    const c = countingRedis();
    return { ...c, gates: new RedisSemaphore(c.redis, { prefix }) };
  });
  let inside = 0;
  let most = 0;
  let admitted = 0;
  const slots = [{ name: 'key:k', limit: 4 }];
  const started = performance.now();
  await Promise.all(
    members.flatMap((m) =>
      Array.from({ length: 16 }, async () => {
        for (let i = 0; i < 20; i++) {
          const release = await m.gates.acquire(slots);
          most = Math.max(most, ++inside);
          admitted++;
          await sleep(2);
          inside--;
          release();
        }
      }),
    ),
  );
  const ms = performance.now() - started;
  const calls = members.reduce((n, m) => n + m.calls(), 0);
  for (const m of members) {
    await m.gates.close();
    await m.redis.quit();
  }
  const admin = new Redis(URL);
  await drop(admin, prefix);
  await admin.quit();
  return { admitted, calls, most, ms };
}

const prefix = `{bench-gates-${randomUUID()}}`;
const { redis, calls } = countingRedis();
const redisGates = new RedisSemaphore(redis, { prefix });
const local = new InProcessGates();
console.log(
  `bench:gates — ${N.toLocaleString('en')} admissions per case, Redis at ${URL}, node ${process.version}`,
);

await admissions(redisGates, 16); // warm-up: scripts loaded, connection up
for (const [name, gates] of [
  ['in-process', local],
  ['Redis', redisGates],
] as const) {
  const before = calls();
  const ms = await admissions(gates, 16);
  await sleep(200); // releases land
  const perAdmission = (calls() - before) / N;
  console.log(
    `admissions, ${name.padEnd(10)} ${(N / (ms / 1000)).toFixed(0).padStart(8)}/s  ${((ms * 1000) / N).toFixed(1).padStart(6)} µs each  ` +
      `${perAdmission.toFixed(2)} Redis calls each (acquire + release)`,
  );
}
for (const [name, gates] of [
  ['in-process', undefined],
  ['Redis', redisGates],
] as const) {
  const r = await walk(gates);
  console.log(
    `walk, no latency, ${name.padEnd(10)} ${r.listings} listings in ${r.ms.toFixed(0)} ms: ` +
      `${(r.listings / (r.ms / 1000)).toFixed(0)} listings/s, ${((r.ms * 1000) / r.listings).toFixed(0)} µs each`,
  );
}
const c = await contention();
console.log(
  `contention, 4 processes × 16, cap 4, 2 ms held: ${c.admitted} admissions in ${c.ms.toFixed(0)} ms, ` +
    `most at once ${c.most}, ${(c.calls / c.admitted).toFixed(2)} Redis calls per admission`,
);
await redisGates.close();
await drop(redis, prefix);
await redis.quit();
