import type { Kysely, Selectable } from 'kysely';
import type { Database, ScansTable } from '../schema.js';

export type ScanStatus = 'running' | 'succeeded' | 'partial' | 'failed' | 'cancelled';

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
  };
}

export class ScanRepository {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async start(scope: { tenantId: number; storageId: number }, options: unknown): Promise<number> {
    const row = await this.#db
      .insertInto('scans')
      .values({
        tenant_id: scope.tenantId,
        storage_id: scope.storageId,
        status: 'running',
        started_at: Date.now(),
        options: JSON.stringify(options ?? {}),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return Number(row.id);
  }

  async finish(id: number, status: ScanStatus, c: ScanCounters): Promise<void> {
    await this.#db
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

  /** Newest first. */
  async list(filter: {
    tenantId: number;
    storageId?: number;
    limit?: number;
  }): Promise<ScanRecord[]> {
    let q = this.#db.selectFrom('scans').selectAll().where('tenant_id', '=', filter.tenantId);
    if (filter.storageId !== undefined) q = q.where('storage_id', '=', filter.storageId);
    const rows = await q
      .orderBy('id', 'desc')
      .limit(filter.limit ?? 50)
      .execute();
    return rows.map(toRecord);
  }
}
