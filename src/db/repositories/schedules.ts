import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';

/** A storage that is scanned by itself, and when it last was. */
export interface ScheduledStorage {
  id: number;
  tenantId: number;
  /** Scan every this many ms; null when the schedule is a cron expression. */
  everyMs: number | null;
  /** A cron expression (UTC); null when the schedule is an interval. */
  cron: string | null;
  createdAt: number;
  /**
   * When the last scan that counts as a run started (epoch ms), or undefined: a scan that ran
   * or runs (succeeded, partial, failed, running). A cancelled or interrupted one does not
   * count — a worker drained or killed mid-scan owes the run — nor does a queued one.
   */
  lastStart: number | undefined;
}

const COUNTED = ['succeeded', 'partial', 'failed', 'running'];

/**
 * The schedules of every tenant's enabled storages, for the job layer: the embedded
 * scheduler computes from them when each is due, the fleet makes its job schedulers match.
 */
export class ScheduleRepository {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** Every enabled storage with a schedule, by id. */
  scheduled(): Promise<ScheduledStorage[]> {
    return this.#select();
  }

  /** The storage's schedule, or undefined when it has none, is disabled or is gone. */
  async one(storageId: number): Promise<ScheduledStorage | undefined> {
    return (await this.#select(storageId))[0];
  }

  async #select(storageId?: number): Promise<ScheduledStorage[]> {
    const rows = await this.#db
      .selectFrom('storages as s')
      .select((eb) => [
        's.id',
        's.tenant_id',
        's.schedule_every_ms',
        's.schedule_cron',
        's.created_at',
        eb
          .selectFrom('scans as c')
          .select((c) => c.fn.max('c.started_at').as('last'))
          .whereRef('c.storage_id', '=', 's.id')
          .where('c.status', 'in', COUNTED)
          .as('last_start'),
      ])
      .where('s.enabled', '=', 1)
      .where((eb) =>
        eb.or([eb('s.schedule_every_ms', 'is not', null), eb('s.schedule_cron', 'is not', null)]),
      )
      .$if(storageId !== undefined, (q) => q.where('s.id', '=', storageId!))
      .orderBy('s.id')
      .execute();
    return rows.map((r) => ({
      id: Number(r.id),
      tenantId: Number(r.tenant_id),
      everyMs: r.schedule_every_ms === null ? null : Number(r.schedule_every_ms),
      cron: r.schedule_every_ms === null ? r.schedule_cron : null,
      createdAt: Number(r.created_at),
      lastStart:
        r.last_start === null || r.last_start === undefined ? undefined : Number(r.last_start),
    }));
  }
}
