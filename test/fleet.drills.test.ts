/**
 * Fleet drills: `trawl worker` processes on the real PostgreSQL and Redis, scanning a WebDAV
 * folder (Apache mod_dav behind a latency proxy) that the test changes on disk.
 *   - 1,000 triggers for one storage from 4 processes, 4 workers: one scan at a time (by
 *     the scan rows and by Apache's own log), no row written twice, exact counts;
 *   - kill -9 of the worker running a scan, 20 rounds with the folder changed between them:
 *     each round ends with the index equal to the folder, no `running` row, and the change
 *     events explaining the index;
 *   - a worker SIGSTOPped past its lease, another takes over, SIGCONT: it writes nothing;
 *     paused inside a batch (holding the storage row), its successor's job is delayed, not
 *     failed, and runs once the paused session is gone.
 * What the database saw comes from triggers (test/support/fleet.ts), not from trawl's counters.
 * Results and what they found: docs/fleet.md.
 */
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { seededRandom } from '../src/util/random.js';
import { skipDialect } from './support/databases.js';
import {
  consumeChanges,
  folderRows,
  FolderMutator,
  pidOf,
  workerEvents,
  replay,
  startDavFolder,
  startFleet,
  type DavFolder,
  type Fleet,
} from './support/fleet.js';
import { requireRedis } from './support/redis.js';
import { until, type TrawlProcess } from './support/trawl-process.js';
import type { ScanRecord } from '../src/db/repositories/scans.js';
import { enqueueScan } from '../src/jobs/enqueue.js';
import { apacheBinary } from './servers/apache.js';

const REPO = resolve(import.meta.dirname, '..');
const available =
  (await requireRedis()) &&
  !(await skipDialect('postgres')) &&
  (apacheBinary() !== undefined || fail('apache2 is not installed'));

function fail(why: string): false {
  if (process.env.TRAWL_REQUIRE_SERVICES)
    throw new Error(`${why}, and TRAWL_REQUIRE_SERVICES is set`);
  return false;
}

interface Trigger {
  at: number;
  jobId: string;
  created: boolean;
  /** The running job this trigger was kept to run after. */
  after?: string;
}

/** Runs test/fixtures/fleet-trigger.mjs: `count` triggers, a random gap of up to `gapMs` before each. */
function triggers(fleet: Fleet, name: string, storageId: number, count: number, gapMs: number) {
  return new Promise<Trigger[]>((done, reject) => {
    const child = spawn(
      process.execPath,
      [
        join(REPO, 'test/fixtures/fleet-trigger.mjs'),
        String(storageId),
        String(count),
        String(gapMs),
      ],
      { cwd: REPO, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...fleet.env(name) } },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${name} exited ${code}: ${err}`));
      done(
        out
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as Trigger),
      );
    });
  });
}

/** Rounds of the kill -9 drill. */
const ROUNDS = 20;

describe.skipIf(!available)('fleet drills: worker processes on PostgreSQL and Redis', () => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function setUp(
    o: { ttlMs: number; latencyMs: number; maxConcurrency: number },
    fill: (m: FolderMutator) => void,
  ) {
    const fleet = await startFleet({ ttlMs: o.ttlMs });
    cleanup.push(() => fleet.close());
    let mutator: FolderMutator | undefined;
    const dav: DavFolder = await startDavFolder(o, (root) => {
      mutator = new FolderMutator(root, seededRandom(7));
      fill(mutator);
    });
    cleanup.push(() => dav.stop());
    const storage = await fleet.storage(dav.url);
    const changes = consumeChanges(fleet.prefix);
    cleanup.push(() => changes.close());
    return { fleet, dav, storage, changes, mutator: mutator! };
  }

  it('1,000 triggers for one storage from 4 processes: one scan at a time, no row twice, exact counts', async () => {
    const { fleet, dav, storage, changes } = await setUp(
      { ttlMs: 1500, latencyMs: 10, maxConcurrency: 4 },
      (m) => m.fill(40, 10),
    );
    const truth = folderRows(dav.root);
    const files = truth.filter((r) => !r[1]).length;
    for (let i = 0; i < 4; i++) fleet.worker(`w${i}`);
    const sent = (
      await Promise.all([0, 1, 2, 3].map((i) => triggers(fleet, `t${i}`, storage.id, 250, 40)))
    ).flat();
    expect(sent).toHaveLength(1000);

    const queue = fleet.app.scanQueue!;
    const settled = async () => {
      const c = await queue.counts();
      const busy = (await fleet.scans(storage.id)).some(
        (s) => s.status === 'queued' || s.status === 'running',
      );
      return c.waiting + c.active + c.delayed === 0 && !busy;
    };
    await until(async () => (await settled()) && (await fleet.outbox()) === 0, 60_000);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await settled()).toBe(true);

    const scans = await fleet.scans(storage.id);
    const counts = await queue.counts();
    // One scan per job, every job succeeded. Each trigger made a job, joined a waiting one,
    // or was kept to run after the running one (where a later trigger may take its place):
    // every scan ran a triggered job, every job made or joined ran, and so did every job a
    // kept trigger waited for.
    expect(scans.map((s) => s.status)).toEqual(scans.map(() => 'succeeded'));
    expect(counts.failed).toBe(0);
    expect(scans).toHaveLength(counts.completed);
    const jobIds = new Set(scans.map((s) => s.jobId));
    expect(jobIds.size).toBe(scans.length);
    const made = new Set(sent.filter((t) => t.created).map((t) => t.jobId));
    expect(scans.filter((s) => !made.has(s.jobId!))).toEqual([]);
    expect(sent.filter((t) => !t.after && !jobIds.has(t.jobId))).toEqual([]);
    expect(sent.filter((t) => t.after && !jobIds.has(t.after))).toEqual([]);
    // No trigger is left for later: a scan began after each (the last after the last).
    expect(sent.filter((t) => !scans.some((s) => s.startedAt >= t.at))).toEqual([]);

    // One at a time, by the scan rows: each ended before the next began, under a new fence.
    for (let i = 1; i < scans.length; i++) {
      expect(scans[i]!.startedAt).toBeGreaterThanOrEqual(scans[i - 1]!.finishedAt!);
    }
    // … and by Apache's log: each scan lists the root, then every directory once, and all of
    // its requests are answered before the next scan's first listing begins.
    const listings = dav.requests().filter((r) => r.method === 'PROPFIND' && r.depth === '1');
    const dirs = truth.filter((r) => r[1]).map((r) => r[0]);
    const runs: Array<typeof listings> = [];
    for (const l of listings) {
      if (l.path === '/pub/' || l.path === '/pub') runs.push([l]);
      else runs.at(-1)!.push(l);
    }
    expect(runs).toHaveLength(scans.length);
    for (let i = 0; i < runs.length; i++) {
      const listed = runs[i]!.slice(1).map((l) => l.path.replace(/^\/pub/, '').replace(/\/$/, ''));
      expect(listed.sort()).toEqual([...dirs].sort());
      if (i > 0) {
        const lastEnd = Math.max(...runs[i - 1]!.map((l) => l.end));
        expect(runs[i]![0]!.begin).toBeGreaterThanOrEqual(lastEnd);
      }
    }

    // Exact rows, each written once: the first scan inserted them, the rest wrote nothing.
    expect(await fleet.indexRows(storage)).toEqual(truth);
    const writes = await fleet.writes();
    expect(writes).toHaveLength(truth.length);
    expect(new Set(writes.map((w) => w.op))).toEqual(new Set(['INSERT']));
    expect(scans[0]).toMatchObject({ created: files, updated: 0, deleted: 0, files });
    for (const s of scans.slice(1)) {
      expect(s).toMatchObject({ created: 0, updated: 0, deleted: 0, unchanged: files, files });
    }
    // The change events explain the index: every row's creation, nothing else.
    await changes.drained();
    expect(replay(changes.events.values(), storage.id)).toEqual(await fleet.indexIds(storage));
    console.log(
      `drill 1: of 1000 triggers, ${sent.filter((t) => t.created && !t.after).length} made a ` +
        `job, ${sent.filter((t) => t.after).length} were kept to run after a running scan; ` +
        `${scans.length} scans, one at a time`,
    );
  }, 120_000);

  it('kill -9 of the worker running a scan, 20 rounds with the folder changed between them: every index exact, no running row, no event lost', async () => {
    const { fleet, dav, storage, changes, mutator } = await setUp(
      { ttlMs: 1500, latencyMs: 10, maxConcurrency: 4 },
      (m) => m.fill(60, 10),
    );
    const rand = seededRandom(20);
    let named = 0;
    const workers = new Map<number, TrawlProcess>();
    const startWorker = () => {
      const w = fleet.worker(`k${named++}`);
      workers.set(w.pid, w);
    };
    startWorker();
    startWorker();
    const lastId = async () => Math.max(0, ...(await fleet.scans(storage.id)).map((s) => s.id));
    /** Waits for the round's scans to end with one that succeeded, everything relayed and consumed. */
    const settle = async (after: number, what: string) => {
      const queue = fleet.app.scanQueue!;
      await until(async () => {
        const scans = (await fleet.scans(storage.id)).filter((s) => s.id > after);
        const c = await queue.counts();
        return (
          scans.some((s) => s.status === 'succeeded') &&
          !scans.some((s) => s.status === 'running' || s.status === 'queued') &&
          c.waiting + c.active + c.delayed === 0 &&
          (await fleet.outbox()) === 0
        );
      }, 60_000).catch((e: Error) => {
        throw new Error(`${what}: ${e.message}`);
      });
      await changes.drained();
    };

    await enqueueScan(fleet.app, storage);
    await settle(0, 'first scan');
    const cleanMs = (await fleet.scans(storage.id)).at(-1)!.durationMs;
    const exact: number[] = [];
    const failures: string[] = [];
    const log: string[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const changed = mutator.mutate(2 + Math.floor(rand() * 6));
      const mark = await lastId();
      const t0 = Date.now();
      await enqueueScan(fleet.app, storage);
      const ofRound = async () => (await fleet.scans(storage.id)).filter((s) => s.id > mark);
      await until(async () => (await ofRound()).some((s) => s.status !== 'queued'), 30_000);
      // A random moment of the scan (it may have ended: the kill then lands between its
      // commits and their relay, or in an idle worker).
      const wait = Math.floor(rand() * 0.9 * cleanMs);
      await new Promise((r) => setTimeout(r, wait));
      const scans = await ofRound();
      const victim = scans.find((s) => s.status === 'running') ?? scans.at(-1)!;
      const pid = pidOf(victim.workerId)!;
      const w = workers.get(pid);
      if (!w) throw new Error(`round ${round}: no worker with pid ${pid} (${victim.workerId})`);
      const pending = await fleet.outbox();
      w.kill('SIGKILL');
      workers.delete(pid);
      await w.exit(10_000);
      startWorker();
      try {
        await settle(mark, `round ${round}`);
      } catch (error) {
        failures.push((error as Error).message);
        break;
      }
      const problems: string[] = [];
      if (JSON.stringify(await fleet.indexRows(storage)) !== JSON.stringify(folderRows(dav.root))) {
        problems.push(`the index differs from the folder after ${changed.join(', ')}`);
      }
      const running = (await fleet.scans(storage.id)).filter((s) => s.status === 'running');
      if (running.length)
        problems.push(`scans ${running.map((s) => s.id).join(', ')} still running`);
      try {
        const live = replay(changes.events.values(), storage.id);
        if (JSON.stringify(live) !== JSON.stringify(await fleet.indexIds(storage))) {
          problems.push('the change events do not explain the index');
        }
      } catch (error) {
        problems.push((error as Error).message);
      }
      if (problems.length) failures.push(`round ${round}: ${problems.join('; ')}`);
      else exact.push(round);
      const killed = (await fleet.app.index.scans.get(victim.id))!;
      log.push(
        `round ${round}: ${changed.length} changes; kill ${wait} ms in, ` +
          (victim.status === 'running'
            ? `mid-scan (scan ${victim.id} ended ${killed.status})`
            : 'after the scan') +
          `, ${pending} events in the outbox; scans ${(await ofRound()).map((s) => `${s.id} ${s.status}`).join(', ')}; ` +
          `exact again ${Date.now() - t0} ms after the trigger`,
      );
    }
    console.log(
      `kill -9 drill: ${exact.length}/${ROUNDS} rounds exact after recovery\n${log.join('\n')}`,
    );
    expect(failures).toEqual([]);
    expect(exact).toHaveLength(ROUNDS);
    // Every delivery of an event carried the same ids (checked as they came); some came twice.
    expect(changes.deliveries).toBeGreaterThanOrEqual(changes.events.size);
  }, 600_000);

  it('a worker SIGSTOPped past its lease, another takes over, SIGCONT: the zombie writes no row after the takeover', async () => {
    const { fleet, dav, storage, changes } = await setUp(
      { ttlMs: 1500, latencyMs: 10, maxConcurrency: 2 },
      (m) => m.fill(60, 10),
    );
    const w1 = fleet.worker('w1');
    await enqueueScan(fleet.app, storage);
    // W1 scans, and has committed some of the storage's rows.
    await until(async () => (await fleet.writes()).some((w) => w.app === 'w1'), 30_000);
    const zombieScan = (await fleet.scans(storage.id)).find((s) => s.status === 'running')!;
    expect(pidOf(zombieScan.workerId)).toBe(w1.pid);
    // Paused between two transactions: one paused inside a batch holds the storage row's
    // lock, and the successor's grant waits for it (see the next test).
    const inTransaction = async () =>
      (
        await sql<{ n: string }>`SELECT count(*)::text AS n FROM pg_stat_activity
          WHERE application_name = 'w1' AND state <> 'idle'`.execute(fleet.app.index.db)
      ).rows[0]!.n !== '0';
    for (let attempt = 0; ; attempt++) {
      process.kill(w1.pid, 'SIGSTOP');
      await new Promise((r) => setTimeout(r, 100));
      if (!(await inTransaction())) break;
      if (attempt > 50) throw new Error('w1 never paused outside a transaction');
      process.kill(w1.pid, 'SIGCONT');
      await new Promise((r) => setTimeout(r, 10 + Math.random() * 40));
    }
    const stoppedAt = Date.now();
    const w2 = fleet.worker('w2');
    let successor: ScanRecord | undefined;
    try {
      // W1's BullMQ lock and lease lapse; W2 takes the stalled job, and its grant bumps the fence.
      await until(async () => {
        successor = (await fleet.scans(storage.id)).find(
          (s) => s.status === 'running' && pidOf(s.workerId) === w2.pid,
        );
        return successor !== undefined;
      }, 30_000);
    } finally {
      process.kill(w1.pid, 'SIGCONT');
    }
    const pausedMs = Date.now() - stoppedAt;
    // W1 hears it lost its lease and ends its scan; W2 completes the index.
    await until(() => workerEvents(w1).some((e) => e.kind === 'scanned'), 30_000);
    await until(async () => {
      const c = await fleet.app.scanQueue!.counts();
      const rows = await fleet.scans(storage.id);
      return (
        c.waiting + c.active + c.delayed === 0 &&
        rows.some((s) => s.id === successor!.id && s.status === 'succeeded') &&
        !rows.some((s) => s.status === 'running') &&
        (await fleet.outbox()) === 0
      );
    }, 30_000);
    await changes.drained();

    // Two grants: W1's, then W2's, which moved the fence on.
    const fences = await fleet.fences();
    expect(fences.map((f) => [f.app, f.fence])).toEqual([
      ['w1', 1],
      ['w2', 2],
    ]);
    const grant = fences[1]!;
    const writes = await fleet.writes();
    const before = writes.filter((w) => w.app === 'w1' && w.at < grant.at).length;
    const after = writes.filter((w) => w.app === 'w1' && w.at >= grant.at).length;
    expect(before).toBeGreaterThan(0);
    expect(after).toBe(0);
    expect((await fleet.app.index.scans.get(zombieScan.id))?.status).toBe('interrupted');
    const ended = workerEvents(w1).find((e) => e.kind === 'scanned') as {
      result: { status: string; errorSample: Array<{ code: string; message: string }> };
    };
    expect(ended.result.errorSample.map((e) => e.code)).toContain('INDEX_FENCED');
    expect(await fleet.indexRows(storage)).toEqual(folderRows(dav.root));
    expect(replay(changes.events.values(), storage.id)).toEqual(await fleet.indexIds(storage));
    console.log(
      `drill 3: w1 wrote ${before} rows, was paused ${pausedMs} ms, then wrote ${after}; ` +
        `its scan ended ${ended.result.status}: ${ended.result.errorSample.map((e) => e.message).join('; ')}`,
    );
  }, 120_000);

  it('a worker SIGSTOPped inside a batch: the successor is not held up by its lock for long, and its batch is rolled back', async () => {
    const { fleet, dav, storage, changes } = await setUp(
      { ttlMs: 1500, latencyMs: 10, maxConcurrency: 2 },
      (m) => m.fill(60, 10),
    );
    // W1's writes take 0.3 s a statement (a slow disk), so it can be paused inside one.
    await sql
      .raw(
        `CREATE FUNCTION drill_slow() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF current_setting('application_name') = 'w1' THEN PERFORM pg_sleep(0.3); END IF;
           RETURN NULL;
         END $$;
         CREATE TRIGGER drill_slow AFTER INSERT OR UPDATE OR DELETE ON entries
           FOR EACH STATEMENT EXECUTE FUNCTION drill_slow();`,
      )
      .execute(fleet.app.index.db);
    const w1 = fleet.worker('w1');
    await enqueueScan(fleet.app, storage);
    await until(async () => (await fleet.writes()).some((w) => w.app === 'w1'), 30_000);
    const zombieScan = (await fleet.scans(storage.id)).find((s) => s.status === 'running')!;
    const w1Sessions = async (where: string) =>
      Number(
        (
          await sql<{ n: string }>`SELECT count(*)::text AS n FROM pg_stat_activity
            WHERE application_name = 'w1' AND ${sql.raw(where)}`.execute(fleet.app.index.db)
        ).rows[0]!.n,
      );
    // Paused while its batch sleeps: the batch's transaction holds the storage row (FOR SHARE).
    await until(async () => (await w1Sessions(`wait_event = 'PgSleep'`)) > 0, 20_000);
    process.kill(w1.pid, 'SIGSTOP');
    const w2 = fleet.worker('w2');
    let successor: ScanRecord | undefined;
    try {
      // W2 takes the stalled job; its grant cannot bump the fence past W1's lock, so the job
      // is delayed as held — not left waiting out a statement timeout, then failed.
      await w2.waitFor('"kind":"held"', 30_000);
      expect(await w1Sessions(`state = 'idle in transaction'`)).toBe(1);
      // What idle_in_transaction_session_timeout does to a session paused this long: ended,
      // its transaction rolled back, the row free.
      await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE application_name = 'w1' AND state = 'idle in transaction'`.execute(
        fleet.app.index.db,
      );
      await until(async () => {
        successor = (await fleet.scans(storage.id)).find(
          (s) => s.status === 'running' && pidOf(s.workerId) === w2.pid,
        );
        return successor !== undefined;
      }, 30_000);
    } finally {
      process.kill(w1.pid, 'SIGCONT');
    }
    await until(() => workerEvents(w1).some((e) => e.kind === 'scanned'), 30_000);
    await until(async () => {
      const c = await fleet.app.scanQueue!.counts();
      const rows = await fleet.scans(storage.id);
      return (
        c.waiting + c.active + c.delayed === 0 &&
        rows.some((s) => s.id === successor!.id && s.status === 'succeeded') &&
        !rows.some((s) => s.status === 'running') &&
        (await fleet.outbox()) === 0
      );
    }, 30_000);
    await changes.drained();
    expect((await fleet.app.scanQueue!.counts()).failed).toBe(0);
    const grant = (await fleet.fences()).find((f) => f.app === 'w2')!;
    expect((await fleet.writes()).filter((w) => w.app === 'w1' && w.at >= grant.at)).toEqual([]);
    expect((await fleet.app.index.scans.get(zombieScan.id))?.status).toBe('interrupted');
    expect(await fleet.indexRows(storage)).toEqual(folderRows(dav.root));
    expect(replay(changes.events.values(), storage.id)).toEqual(await fleet.indexIds(storage));
  }, 120_000);
});
