import { sql, type Kysely, type Selectable } from 'kysely';
import type { Dialect } from '../dialect.js';
import { fencedError } from '../errors.js';
import type { Database, ScansTable } from '../schema.js';

/**
 * A scan's life: `queued` (a job waits for a worker) → `running` (a worker holds the
 * storage's lease; its heartbeat moves) → `succeeded` | `partial` | `failed` | `cancelled`,
 * or `interrupted` when its worker died or lost the lease before it could say how it ended.
 */
export type ScanStatus =
  'queued' | 'running' | 'succeeded' | 'partial' | 'failed' | 'cancelled' | 'interrupted';

/** Who runs a scan, and under which lease. */
export interface ScanClaim {
  /** The storage's fence granted with the lease: every write of the scan checks it. */
  fence: number;
  workerId: string;
  jobId?: string | undefined;
}

export interface ScanErrorSample {
  path: string;
  code: string;
  message: string;
}

/** Counters of a finished (or running) scan. */
export interface ScanCounters {
  dirs: number;
  files: number;
  mediaFiles: number;
  bytes: number;
  created: number;
  updated: number;
  deleted: number;
  unchanged: number;
  skipped: number;
  errors: number;
  /** Entries servers sent that could not be read (bad name, size or time), left out. */
  invalidEntries: number;
  errorSample: ScanErrorSample[];
  retries: number;
  rateLimitWaits: number;
  durationMs: number;
}

export interface ScanRecord extends ScanCounters {
  id: number;
  tenantId: number;
  storageId: number;
  status: ScanStatus;
  startedAt: number;
  finishedAt: number | null;
  workerId: string | null;
  jobId: string | null;
  heartbeatAt: number | null;
  /** The running scan's latest progress, as its process last wrote it; null before. */
  progress: Record<string, number> | null;
  /** A cancel was asked through the API. */
  cancelRequested: boolean;
}

/** A scan asked for, not yet taken by a process: what the embedded worker runs. */
export interface QueuedScan {
  id: number;
  tenantId: number;
  storageId: number;
  jobId: string;
}

function toRecord(r: Selectable<ScansTable>): ScanRecord {
  return {
    id: Number(r.id),
    tenantId: Number(r.tenant_id),
    storageId: Number(r.storage_id),
    status: r.status as ScanStatus,
    startedAt: Number(r.started_at),
    finishedAt: r.finished_at === null ? null : Number(r.finished_at),
    dirs: Number(r.dirs),
    files: Number(r.files),
    mediaFiles: Number(r.media_files),
    bytes: Number(r.bytes),
    created: Number(r.created),
    updated: Number(r.updated),
    deleted: Number(r.deleted),
    unchanged: Number(r.unchanged),
    skipped: Number(r.skipped),
    errors: Number(r.errors),
    invalidEntries: Number(r.invalid_entries),
    errorSample: JSON.parse(r.error_sample) as ScanErrorSample[],
    retries: Number(r.retries),
    rateLimitWaits: Number(r.rate_limit_waits),
    durationMs: Number(r.duration_ms),
    workerId: r.worker_id,
    jobId: r.job_id,
    heartbeatAt: r.heartbeat_at === null ? null : Number(r.heartbeat_at),
    progress: r.progress ? (JSON.parse(r.progress) as Record<string, number>) : null,
    cancelRequested: Number(r.cancel_requested) === 1,
  };
}

type Scope = { tenantId: number; storageId: number };

export class ScanRepository {
  readonly #db: Kysely<Database>;
  readonly #dialect: Dialect;

  constructor(db: Kysely<Database>, dialect: Dialect = 'sqlite') {
    this.#db = db;
    this.#dialect = dialect;
  }

  /** A `queued` row for a scan a job will run; its id travels in the job. */
  async enqueue(scope: Scope, jobId: string, options: unknown = {}): Promise<number> {
    const row = await this.#db
      .insertInto('scans')
      .values({
        tenant_id: scope.tenantId,
        storage_id: scope.storageId,
        status: 'queued',
        started_at: Date.now(),
        job_id: jobId,
        options: JSON.stringify(options ?? {}),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return Number(row.id);
  }

  /**
   * The scan starts: a `running` row (so a crashed scan is visible), or the job's `queued`
   * row turned `running`. With a claim, in one transaction that checks the fence and marks
   * `interrupted` every other `running` scan of the storage — their workers lost the lease
   * this claim holds.
   */
  async start(
    scope: Scope,
    options: unknown,
    claim?: ScanClaim,
    queuedId?: number,
  ): Promise<number> {
    const now = Date.now();
    const values = {
      status: 'running' as const,
      started_at: now,
      options: JSON.stringify(options ?? {}),
      ...(claim
        ? {
            worker_id: claim.workerId,
            job_id: claim.jobId ?? null,
            fence: claim.fence,
            heartbeat_at: now,
          }
        : {}),
    };
    if (!claim) {
      const row = await this.#db
        .insertInto('scans')
        .values({ tenant_id: scope.tenantId, storage_id: scope.storageId, ...values })
        .returning('id')
        .executeTakeFirstOrThrow();
      return Number(row.id);
    }
    return this.#fenced(scope.storageId, claim.fence, async (trx) => {
      await trx
        .updateTable('scans')
        .set({ status: 'interrupted', finished_at: now })
        .where('storage_id', '=', scope.storageId)
        .where('status', '=', 'running')
        .execute();
      if (queuedId !== undefined) {
        const updated = await trx
          .updateTable('scans')
          .set(values)
          .where('id', '=', queuedId)
          .where('status', '=', 'queued')
          .executeTakeFirst();
        if (Number(updated.numUpdatedRows) === 1) return queuedId;
      }
      const row = await trx
        .insertInto('scans')
        .values({ tenant_id: scope.tenantId, storage_id: scope.storageId, ...values })
        .returning('id')
        .executeTakeFirstOrThrow();
      return Number(row.id);
    });
  }

  /** The scan is alive. Fenced: a scan that lost its lease gets INDEX_FENCED here first. */
  async heartbeat(id: number, storageId: number, fence: number): Promise<void> {
    await this.#fenced(storageId, fence, (trx) =>
      trx.updateTable('scans').set({ heartbeat_at: Date.now() }).where('id', '=', id).execute(),
    );
  }

  /**
   * Marks `interrupted` the `running` scans whose heartbeat is older than `staleBefore` and
   * whose storage `isHeld` says no lease covers: their workers are gone. Returns their ids.
   */
  async interruptStale(
    staleBefore: number,
    isHeld: (storageId: number) => Promise<boolean>,
  ): Promise<number[]> {
    const rows = await this.#db
      .selectFrom('scans')
      .select(['id', 'storage_id'])
      .where('status', '=', 'running')
      .where((eb) => eb.or([eb('heartbeat_at', '<', staleBefore), eb('heartbeat_at', 'is', null)]))
      .where('started_at', '<', staleBefore)
      .execute();
    const done: number[] = [];
    for (const r of rows) {
      if (await isHeld(Number(r.storage_id))) continue;
      const result = await this.#db
        .updateTable('scans')
        .set({ status: 'interrupted', finished_at: Date.now() })
        .where('id', '=', r.id)
        .where('status', '=', 'running')
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 1) done.push(Number(r.id));
    }
    return done;
  }

  /**
   * The running scan's latest progress (about once a second, from whichever process runs
   * it, so that any API node can stream it). Resolves to whether a cancel was asked.
   */
  async writeProgress(id: number, progress: Record<string, number>): Promise<boolean> {
    await this.#db
      .updateTable('scans')
      .set({ progress: JSON.stringify(progress) })
      .where('id', '=', id)
      .where('status', '=', 'running')
      .execute();
    const row = await this.#db
      .selectFrom('scans')
      .select('cancel_requested')
      .where('id', '=', id)
      .executeTakeFirst();
    return row !== undefined && Number(row.cancel_requested) === 1;
  }

  /**
   * Asks the tenant's scan to stop: a `queued` one is `cancelled` at once (its job, if it
   * still starts, finds it so and runs nothing); a `running` one is flagged, and the process
   * running it stops it at its next progress write. `asked`: false when the scan had ended
   * already. undefined: no such scan of this tenant.
   */
  async requestCancel(
    tenantId: number,
    id: number,
  ): Promise<{ scan: ScanRecord; asked: boolean } | undefined> {
    const queued = await this.#db
      .updateTable('scans')
      .set({ status: 'cancelled', finished_at: Date.now(), cancel_requested: 1 })
      .where('id', '=', id)
      .where('tenant_id', '=', tenantId)
      .where('status', '=', 'queued')
      .executeTakeFirst();
    const running = await this.#db
      .updateTable('scans')
      .set({ cancel_requested: 1 })
      .where('id', '=', id)
      .where('tenant_id', '=', tenantId)
      .where('status', '=', 'running')
      .executeTakeFirst();
    const row = await this.#db
      .selectFrom('scans')
      .selectAll()
      .where('id', '=', id)
      .where('tenant_id', '=', tenantId)
      .executeTakeFirst();
    if (!row) return undefined;
    const asked = Number(queued.numUpdatedRows) + Number(running.numUpdatedRows) > 0;
    return { scan: toRecord(row), asked };
  }

  /** Whether the scan a job was queued for was cancelled before it started. */
  async jobCancelled(jobId: string): Promise<boolean> {
    const row = await this.#db
      .selectFrom('scans')
      .select('id')
      .where('job_id', '=', jobId)
      .where('status', '=', 'cancelled')
      .where('cancel_requested', '=', 1)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Every `queued` scan, oldest first: the embedded worker's queue. */
  async queued(): Promise<QueuedScan[]> {
    const rows = await this.#db
      .selectFrom('scans')
      .select(['id', 'tenant_id', 'storage_id', 'job_id'])
      .where('status', '=', 'queued')
      .orderBy('id')
      .execute();
    return rows.map((r) => ({
      id: Number(r.id),
      tenantId: Number(r.tenant_id),
      storageId: Number(r.storage_id),
      jobId: r.job_id ?? '',
    }));
  }

  /** Removes a `queued` row whose trigger joined another job instead. */
  async dropQueued(id: number): Promise<void> {
    await this.#db
      .deleteFrom('scans')
      .where('id', '=', id)
      .where('status', '=', 'queued')
      .execute();
  }

  /**
   * Finishes as `failed` the `queued` row of a job that failed before its scan started (a
   * job is tried once): without it, the history would show that scan waiting forever.
   */
  async failQueued(jobId: string, code: string, message: string): Promise<void> {
    await this.#db
      .updateTable('scans')
      .set({
        status: 'failed',
        finished_at: Date.now(),
        errors: 1,
        error_sample: JSON.stringify([{ path: '/', code, message }]),
      })
      .where('job_id', '=', jobId)
      .where('status', '=', 'queued')
      .execute();
  }

  /** The `queued` row a job's enqueue left, if any. */
  async queuedFor(jobId: string): Promise<number | undefined> {
    const row = await this.#db
      .selectFrom('scans')
      .select('id')
      .where('job_id', '=', jobId)
      .where('status', '=', 'queued')
      .executeTakeFirst();
    return row === undefined ? undefined : Number(row.id);
  }

  /** Scans of a storage in this state, newest first. */
  async inState(storageId: number, status: ScanStatus): Promise<ScanRecord[]> {
    const rows = await this.#db
      .selectFrom('scans')
      .selectAll()
      .where('storage_id', '=', storageId)
      .where('status', '=', status)
      .orderBy('id', 'desc')
      .execute();
    return rows.map(toRecord);
  }

  /**
   * `work` in a transaction that first checks the storage's fence, so no lease grant can
   * move it before commit: on PostgreSQL the storage row is locked `FOR SHARE`; on SQLite the
   * transaction takes the write lock at `BEGIN IMMEDIATE` (a deferred one that reads first
   * would fail at once with SQLITE_BUSY_SNAPSHOT when another process wrote meanwhile,
   * instead of waiting its turn).
   */
  async #fenced<T>(
    storageId: number,
    fence: number,
    work: (db: Kysely<Database>) => Promise<T>,
  ): Promise<T> {
    const check = async (db: Kysely<Database>) => {
      let q = db.selectFrom('storages').select('fence').where('id', '=', storageId);
      if (this.#dialect === 'postgres') q = q.forShare();
      const row = await q.executeTakeFirst();
      const current = row === undefined ? undefined : Number(row.fence);
      if (current !== fence) throw fencedError(storageId, fence, current);
    };
    if (this.#dialect === 'postgres') {
      return this.#db.transaction().execute(async (trx) => {
        await check(trx);
        return work(trx);
      });
    }
    return this.#db.connection().execute(async (conn) => {
      await sql`BEGIN IMMEDIATE`.execute(conn);
      try {
        await check(conn);
        const result = await work(conn);
        await sql`COMMIT`.execute(conn);
        return result;
      } catch (error) {
        await sql`ROLLBACK`.execute(conn).catch(() => undefined);
        throw error;
      }
    });
  }

  /** The scan's end: status and counters. With a fence, refused once the fence moved on. */
  async finish(
    id: number,
    status: ScanStatus,
    c: ScanCounters,
    claim?: { storageId: number; fence: number },
  ): Promise<void> {
    if (claim) {
      await this.#fenced(claim.storageId, claim.fence, (trx) => this.#finish(trx, id, status, c));
      return;
    }
    await this.#finish(this.#db, id, status, c);
  }

  async #finish(
    db: Kysely<Database>,
    id: number,
    status: ScanStatus,
    c: ScanCounters,
  ): Promise<void> {
    await db
      .updateTable('scans')
      .set({
        status,
        finished_at: Date.now(),
        dirs: c.dirs,
        files: c.files,
        media_files: c.mediaFiles,
        bytes: c.bytes,
        created: c.created,
        updated: c.updated,
        deleted: c.deleted,
        unchanged: c.unchanged,
        skipped: c.skipped,
        errors: c.errors,
        invalid_entries: c.invalidEntries,
        error_sample: JSON.stringify(c.errorSample),
        retries: c.retries,
        rate_limit_waits: c.rateLimitWaits,
        duration_ms: c.durationMs,
      })
      .where('id', '=', id)
      .execute();
  }

  async get(id: number): Promise<ScanRecord | undefined> {
    const row = await this.#db
      .selectFrom('scans')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toRecord(row);
  }

  /** The tenant's scan with this id; undefined when there is none, or it is another's. */
  async ofTenant(tenantId: number, id: number): Promise<ScanRecord | undefined> {
    const row = await this.#db
      .selectFrom('scans')
      .selectAll()
      .where('id', '=', id)
      .where('tenant_id', '=', tenantId)
      .executeTakeFirst();
    return row && toRecord(row);
  }

  /** Newest first; `beforeId` pages back through the history. */
  async list(filter: {
    tenantId: number;
    storageId?: number;
    status?: ScanStatus;
    limit?: number;
    beforeId?: number;
  }): Promise<ScanRecord[]> {
    let q = this.#db.selectFrom('scans').selectAll().where('tenant_id', '=', filter.tenantId);
    if (filter.storageId !== undefined) q = q.where('storage_id', '=', filter.storageId);
    if (filter.beforeId !== undefined) q = q.where('id', '<', filter.beforeId);
    if (filter.status !== undefined) q = q.where('status', '=', filter.status);
    const rows = await q
      .orderBy('id', 'desc')
      .limit(filter.limit ?? 50)
      .execute();
    return rows.map(toRecord);
  }
}
