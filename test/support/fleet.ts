/**
 * What the fleet drills share: a WebDAV storage (Apache mod_dav behind a latency proxy,
 * serving a folder the test changes on disk), `trawl worker` processes on a PostgreSQL
 * database and a Redis prefix of the test's own, triggers in the database that log every
 * entry write and fence bump with the session's `application_name`, a consumer of the
 * `changes` queue, and the checks: the index equals the folder, the change events explain
 * the index.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { App } from '../../src/app.js';
import type { StorageRecord } from '../../src/db/repositories/storages.js';
import type { ScanRecord } from '../../src/db/repositories/scans.js';
import { CHANGES_QUEUE, type ChangeEventData } from '../../src/jobs/outbox-relay.js';
import { redisOptions } from '../../src/jobs/redis.js';
import { queuePrefix } from '../../src/jobs/scan-queue.js';
import { parseStorageSpec } from '../../src/storage/url.js';
import { startApache, type ApacheServer } from '../servers/apache.js';
import { startTcpProxy, type TcpProxy } from '../tools/tcp-proxy.js';
import { createDatabase, type TestDatabase } from './databases.js';
import { diskRows, tempDir } from './harness.js';
import { dropPrefix, REDIS_URL } from './redis.js';
import { startTrawl, type TrawlProcess } from './trawl-process.js';

export type Row = [string, boolean, number, number];

/** A folder served over WebDAV through a proxy that adds `latencyMs` each way. */
export interface DavFolder {
  /** The folder on disk (the storage's root). */
  root: string;
  /** trawl's URL for it, through the proxy. */
  url: string;
  apache: ApacheServer;
  proxy: TcpProxy;
  /** Every request Apache answered so far, in the order they began. */
  requests(): DavRequest[];
  stop(): Promise<void>;
}

export interface DavRequest {
  /** Epoch µs. */
  begin: number;
  end: number;
  method: string;
  depth: string;
  path: string;
  status: number;
}

export async function startDavFolder(
  options: { latencyMs: number; maxConcurrency: number },
  fill: (root: string) => void,
): Promise<DavFolder> {
  const dir = tempDir('trawl-fleet-');
  const root = join(dir.path, 'root');
  mkdirSync(root, { mode: 0o755 });
  fill(root);
  const accessLog = join(dir.path, 'access.log');
  const apache = await startApache({ root, accessLog });
  const proxy = await startTcpProxy({ targetPort: apache.port, latencyMs: options.latencyMs });
  return {
    root,
    url: `webdav://127.0.0.1:${proxy.port}/pub?maxConcurrency=${options.maxConcurrency}`,
    apache,
    proxy,
    requests() {
      let text = '';
      try {
        text = readFileSync(accessLog, 'utf8');
      } catch {
        return [];
      }
      return text
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const [begin, end, method, depth, path, status] = line.split(' ');
          return {
            begin: Number(begin),
            end: Number(end),
            method: method!,
            depth: depth!,
            path: decodeURIComponent(path!),
            status: Number(status),
          };
        })
        .sort((a, b) => a.begin - b.begin);
    },
    async stop() {
      await proxy.close();
      await apache.stop();
      dir.cleanup();
    },
  };
}

/**
 * The folder as trawl indexes it over WebDAV: Apache reports modification times in whole
 * seconds, and a directory with size 0.
 */
export function folderRows(root: string): Row[] {
  return diskRows(root).map(([path, isDir, size, mtime]) => [
    path,
    isDir,
    isDir ? 0 : size,
    Math.floor(mtime / 1000) * 1000,
  ]);
}

/** A fleet of the test's own: a PostgreSQL database, a Redis prefix, and an App on both. */
export interface Fleet {
  db: TestDatabase;
  prefix: string;
  ttlMs: number;
  app: App;
  redis: Redis;
  /**
   * The environment of a trawl process named `name` (its database sessions'
   * application_name), with more parameters of the database URL when given.
   */
  env(name: string, dbParams?: Record<string, string>): Record<string, string>;
  /** Starts `trawl worker --json` as `name`; stopped (SIGKILL) at close if still running. */
  worker(
    name: string,
    o?: { concurrency?: number; dbParams?: Record<string, string> },
  ): TrawlProcess;
  storage(url: string): Promise<StorageRecord>;
  scans(storageId: number): Promise<ScanRecord[]>;
  indexRows(storage: StorageRecord): Promise<Row[]>;
  indexIds(storage: StorageRecord): Promise<number[]>;
  /** Rows of `entries` written (any operation), per application_name, with their time. */
  writes(): Promise<Array<{ app: string; op: string; at: number }>>;
  /** Every fence bump, with who made it and when. */
  fences(): Promise<Array<{ app: string; fence: number; at: number }>>;
  /** Change events still in the outbox. */
  outbox(): Promise<number>;
  close(): Promise<void>;
}

export async function startFleet(options: { ttlMs: number }): Promise<Fleet> {
  const db = await createDatabase('postgres');
  const prefix = `drill-${Math.random().toString(36).slice(2, 10)}`;
  const baseEnv = {
    TRAWL_REDIS_URL: REDIS_URL,
    TRAWL_REDIS_PREFIX: prefix,
    TRAWL_LEASE_TTL_MS: String(options.ttlMs),
  };
  // Migrated first, as `trawl migrate` does: processes of a fleet do not migrate on their own.
  await (await App.open({ database: db.url, tenant: 'default', env: {} })).close();
  const app = await App.open({ database: db.url, tenant: 'default', env: baseEnv });
  await installWriteLog(app);
  const redis = new Redis(REDIS_URL);
  const workers: TrawlProcess[] = [];
  const env = (name: string, dbParams: Record<string, string> = {}) => ({
    ...baseEnv,
    TRAWL_DATABASE_URL: withParams(db.url, { application_name: name, ...dbParams }),
  });
  return {
    db,
    prefix,
    ttlMs: options.ttlMs,
    app,
    redis,
    env,
    worker(name, o = {}) {
      const concurrency = String(o.concurrency ?? 2);
      const w = startTrawl(
        ['worker', '--concurrency', concurrency, '--json'],
        env(name, o.dbParams),
      );
      workers.push(w);
      return w;
    },
    storage: (url) => app.ensureStorage(parseStorageSpec(url)),
    async scans(storageId) {
      const rows = await app.index.scans.list({ tenantId: app.tenantId, storageId, limit: 10_000 });
      return rows.reverse();
    },
    async indexRows(storage) {
      const out: Row[] = [];
      const scope = { tenantId: storage.tenantId, storageId: storage.id };
      for await (const e of app.index.entries.list(scope, '/', { recursive: true })) {
        out.push([e.path, e.isDir, e.size, e.mtime]);
      }
      return out;
    },
    async indexIds(storage) {
      const out: number[] = [];
      const scope = { tenantId: storage.tenantId, storageId: storage.id };
      for await (const e of app.index.entries.list(scope, '/', { recursive: true })) out.push(e.id);
      return out.sort((a, b) => a - b);
    },
    async writes() {
      const { rows } = await sql<{ app: string; op: string; at: string }>`
        SELECT app, op, (extract(epoch FROM at) * 1000000)::bigint::text AS at
        FROM drill_writes ORDER BY id`.execute(app.index.db);
      return rows.map((r) => ({ app: r.app, op: r.op, at: Number(r.at) }));
    },
    async fences() {
      const { rows } = await sql<{ app: string; fence: string; at: string }>`
        SELECT app, fence::text AS fence, (extract(epoch FROM at) * 1000000)::bigint::text AS at
        FROM drill_fences ORDER BY at`.execute(app.index.db);
      return rows.map((r) => ({ app: r.app, fence: Number(r.fence), at: Number(r.at) }));
    },
    async outbox() {
      const { rows } = await sql<{
        n: string;
      }>`SELECT count(*)::text AS n FROM change_events`.execute(app.index.db);
      return Number(rows[0]!.n);
    },
    async close() {
      for (const w of workers) w.kill('SIGKILL');
      await Promise.all(workers.map((w) => w.exit(10_000).catch(() => undefined)));
      await app.close();
      await dropPrefix(redis, `{${prefix}}`);
      await dropPrefix(redis, prefix);
      await redis.quit();
      await db.drop();
    },
  };
}

function withParams(url: string, params: Record<string, string>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

/**
 * Triggers that log, with the writing session's `application_name` and the time of the
 * write, every row change of `entries` and every bump of a storage's fence: who wrote what
 * when, as the database saw it, not as trawl reports it.
 */
async function installWriteLog(app: App): Promise<void> {
  await sql
    .raw(
      `CREATE TABLE drill_writes (id bigserial PRIMARY KEY, app text NOT NULL, op text NOT NULL,
         at timestamptz NOT NULL DEFAULT clock_timestamp());
       CREATE FUNCTION drill_log_write() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         INSERT INTO drill_writes (app, op) VALUES (current_setting('application_name'), TG_OP);
         RETURN NULL;
       END $$;
       CREATE TRIGGER drill_log_write AFTER INSERT OR UPDATE OR DELETE ON entries
         FOR EACH ROW EXECUTE FUNCTION drill_log_write();
       CREATE TABLE drill_fences (app text NOT NULL, storage_id bigint NOT NULL,
         fence bigint NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
       CREATE FUNCTION drill_log_fence() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         INSERT INTO drill_fences (app, storage_id, fence)
           VALUES (current_setting('application_name'), NEW.id, NEW.fence);
         RETURN NULL;
       END $$;
       CREATE TRIGGER drill_log_fence AFTER UPDATE ON storages
         FOR EACH ROW WHEN (OLD.fence IS DISTINCT FROM NEW.fence)
         EXECUTE FUNCTION drill_log_fence();`,
    )
    .execute(app.index.db);
}

/** Collects every event relayed to the fleet's `changes` queue. */
export interface ChangeConsumer {
  /** Events received, by eventId (a redelivery must carry the same ids). */
  readonly events: Map<number, ChangeEventData>;
  /** How many deliveries (redeliveries of an event included). */
  readonly deliveries: number;
  /** Resolves once the queue holds nothing waiting, delayed or being consumed. */
  drained(ms?: number): Promise<void>;
  close(): Promise<void>;
}

export function consumeChanges(prefix: string): ChangeConsumer {
  const events = new Map<number, ChangeEventData>();
  let deliveries = 0;
  const connection = redisOptions(REDIS_URL) as never;
  const queue = new Queue(CHANGES_QUEUE, { connection, prefix: queuePrefix(prefix) });
  const worker = new Worker(
    CHANGES_QUEUE,
    async (job) => {
      const e = job.data as ChangeEventData;
      deliveries++;
      const seen = events.get(e.eventId);
      if (seen && JSON.stringify(seen) !== JSON.stringify(e)) {
        throw new Error(`event ${e.eventId} delivered twice with different contents`);
      }
      events.set(e.eventId, e);
    },
    { connection, prefix: queuePrefix(prefix), concurrency: 1 },
  );
  return {
    events,
    get deliveries() {
      return deliveries;
    },
    async drained(ms = 20_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
        if (Object.values(c).every((n) => n === 0)) return;
        if (Date.now() > deadline) {
          throw new Error(`the changes queue still holds ${JSON.stringify(c)} after ${ms} ms`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async close() {
      await worker.close();
      await queue.close();
    },
  };
}

/**
 * Replays the events of one storage in eventId order — created adds an id, deleted removes
 * it, updated must name a live one — and returns the ids that are left: what the index must
 * hold if no event was lost. Throws on an event that does not fit what came before.
 */
export function replay(events: Iterable<ChangeEventData>, storageId: number): number[] {
  const live = new Set<number>();
  const ordered = [...events]
    .filter((e) => e.storageId === storageId)
    .sort((a, b) => a.eventId - b.eventId);
  for (const e of ordered) {
    for (const id of e.deleted) {
      if (!live.delete(id)) throw new Error(`event ${e.eventId} deletes ${id}, never created`);
    }
    for (const id of e.created) {
      if (live.has(id)) throw new Error(`event ${e.eventId} creates ${id} twice`);
      live.add(id);
    }
    for (const id of e.updated) {
      if (!live.has(id)) throw new Error(`event ${e.eventId} updates ${id}, not live`);
    }
  }
  return [...live].sort((a, b) => a - b);
}

/** The pid in a worker id (`worker@host:pid`). */
export function pidOf(workerId: string | null): number | undefined {
  const m = /:(\d+)$/.exec(workerId ?? '');
  return m ? Number(m[1]) : undefined;
}

/** JSON events a `trawl worker --json` printed so far. */
export function workerEvents(w: TrawlProcess): Array<Record<string, unknown>> {
  return w
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A folder tree a seeded PRNG builds and changes: files, directories, renames, removals. */
export class FolderMutator {
  readonly #root: string;
  readonly #rand: () => number;
  #n = 0;

  constructor(root: string, rand: () => number) {
    this.#root = root;
    this.#rand = rand;
  }

  /** `dirs` top-level directories, each with `files` files and a subdirectory of a few more. */
  fill(dirs: number, files: number): void {
    for (let d = 0; d < dirs; d++) {
      for (let f = 0; f < files; f++) this.#write(`/d${d}/f${f}.txt`);
      for (let f = 0; f < 3; f++) this.#write(`/d${d}/sub/g${f}.mkv`);
    }
  }

  /** `count` random changes; returns what was done, for a failure's message. */
  mutate(count: number): string[] {
    const done: string[] = [];
    for (let i = 0; i < count; i++) {
      const rows = diskRows(this.#root);
      const files = rows.filter((r) => !r[1]).map((r) => r[0]);
      const dirs = rows.filter((r) => r[1]).map((r) => r[0]);
      const pick = <T>(a: T[]): T | undefined => a[Math.floor(this.#rand() * a.length)];
      const op = Math.floor(this.#rand() * 7);
      const file = pick(files);
      const dir = pick(dirs);
      if (op === 0 || !file || !dir) {
        const path = `${pick(dirs) ?? ''}/new${++this.#n}.txt`;
        this.#write(path);
        done.push(`add ${path}`);
      } else if (op === 1) {
        rmSync(this.#root + file);
        done.push(`rm ${file}`);
      } else if (op === 2) {
        this.#write(file);
        done.push(`modify ${file}`);
      } else if (op === 3) {
        const to = `${dirname(file)}/renamed${++this.#n}.txt`;
        renameSync(this.#root + file, this.#root + to);
        done.push(`mv ${file} ${to}`);
      } else if (op === 4) {
        const path = `${dir}/newdir${++this.#n}`;
        for (let f = 0; f < 4; f++) this.#write(`${path}/h${f}.txt`);
        done.push(`add ${path}/`);
      } else if (op === 5 && dirs.length > 5) {
        rmSync(this.#root + dir, { recursive: true });
        done.push(`rm -r ${dir}`);
      } else {
        const to = `${dirname(dir)}/moved${++this.#n}`;
        renameSync(this.#root + dir, this.#root + to);
        done.push(`mv ${dir} ${to}`);
      }
    }
    return done;
  }

  #write(path: string): void {
    const p = this.#root + path;
    mkdirSync(dirname(p), { recursive: true, mode: 0o755 });
    // A size of its own each time: a change is always visible to a scan, whatever the clock.
    writeFileSync(p, Buffer.alloc(1 + Math.floor(this.#rand() * 5000) + ++this.#n, 0x61));
  }
}
