import type BetterSqlite3 from 'better-sqlite3';
import type { Bookkeeping, LeaseRow, LeaseRows } from '../bookkeeping.js';
import { fencedError } from '../errors.js';
import type { WriterThread } from './writer-thread.js';
import type { ScanClaim, ScanCounters, ScanStatus } from '../repositories/scans.js';
import type { StorageInput, StorageRecord } from '../repositories/storages.js';
import {
  storageFromRow,
  storedOptionsFromRow,
  type StoredOptionsColumns,
} from '../repositories/storage-row.js';
import type { Selectable } from 'kysely';
import type { StoragesTable } from '../schema.js';

type Statement = BetterSqlite3.Statement;
type Scope = { tenantId: number; storageId: number };

/**
 * The scan's bookkeeping ({@link Bookkeeping}) as plain statements on the connection: the
 * same SQL the repositories' query builder makes for SQLite, the same results and errors,
 * without Kysely's 259 modules and a query compiled per call — ~1/3 of what an empty
 * local scan ran (bench:startup, docs/benchmarks.md). Each statement is prepared at its
 * first use and kept.
 *
 * Every method runs to its end synchronously (better-sqlite3 blocks), so a transaction here
 * never interleaves with another statement of the process; the repositories' own
 * transactions, which span awaits, are not run while a scan's bookkeeping is (the scan's
 * steps await each other).
 */
export class SqliteBookkeeping implements Bookkeeping {
  readonly #raw: BetterSqlite3.Database;
  readonly #statements = new Map<string, Statement>();

  readonly #writer: () => Pick<WriterThread, 'writeProgress'> | undefined;

  /** `writer`: the entries' writer thread while one runs (see writeProgress). */
  constructor(
    raw: BetterSqlite3.Database,
    writer: () => Pick<WriterThread, 'writeProgress'> | undefined = () => undefined,
  ) {
    this.#raw = raw;
    this.#writer = writer;
  }

  #run<T>(work: () => T): Promise<T> {
    try {
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  #sql(text: string): Statement {
    let s = this.#statements.get(text);
    if (!s) this.#statements.set(text, (s = this.#raw.prepare(text)));
    return s;
  }

  /**
   * `work` in a transaction that holds SQLite's write lock from its start and first checks
   * the storage's fence (ScanRepository's `#fenced`: a deferred transaction that reads first
   * would fail at once with SQLITE_BUSY_SNAPSHOT when another process wrote meanwhile).
   */
  #fenced<T>(storageId: number, fence: number, work: () => T): T {
    this.#raw.exec('BEGIN IMMEDIATE');
    try {
      const row = this.#sql('SELECT fence FROM storages WHERE id = ?').get(storageId) as
        { fence: number } | undefined;
      const current = row === undefined ? undefined : Number(row.fence);
      if (current !== fence) throw fencedError(storageId, fence, current);
      const result = work();
      this.#raw.exec('COMMIT');
      return result;
    } catch (error) {
      if (this.#raw.inTransaction) this.#raw.exec('ROLLBACK');
      throw error;
    }
  }

  readonly tenants: Bookkeeping['tenants'] = {
    ensure: (name) =>
      this.#run(() => {
        const id = () => this.#sql('SELECT id FROM tenants WHERE name = ?').pluck().get(name);
        // Read first: a known tenant (every scan but an index's first) takes no write
        // transaction, which was ~1 ms of an empty scan's start.
        let found = id() as number | undefined;
        if (found === undefined) {
          this.#sql(
            'INSERT INTO tenants (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING',
          ).run(name, Date.now());
          found = id() as number | undefined;
        }
        if (found === undefined) throw new Error('no result'); // as executeTakeFirstOrThrow
        return Number(found);
      }),
    byName: (name) =>
      this.#run(() => {
        const row = this.#sql('SELECT id, name, created_at FROM tenants WHERE name = ?').get(
          name,
        ) as { id: number; name: string; created_at: number } | undefined;
        return row && { id: Number(row.id), name: row.name, createdAt: Number(row.created_at) };
      }),
  };

  readonly storages: Bookkeeping['storages'] = {
    get: (id) => this.#run(() => this.#storage('SELECT * FROM storages WHERE id = ?', id)),
    getByName: (tenantId, name) =>
      this.#run(() =>
        this.#storage('SELECT * FROM storages WHERE tenant_id = ? AND name = ?', tenantId, name),
      ),
    findByLocation: (tenantId, kind, location) =>
      this.#run(() =>
        this.#storage(
          'SELECT * FROM storages WHERE tenant_id = ? AND kind = ? AND location = ?',
          tenantId,
          kind,
          location,
        ),
      ),
    list: (tenantId) =>
      this.#run(() =>
        (
          this.#sql('SELECT * FROM storages WHERE tenant_id = ? ORDER BY id').all(
            tenantId,
          ) as Selectable<StoragesTable>[]
        ).map(storageFromRow),
      ),
    names: (tenantId) =>
      this.#run(
        () =>
          new Set(
            this.#sql('SELECT name FROM storages WHERE tenant_id = ?')
              .pluck()
              .all(tenantId) as string[],
          ),
      ),
    insert: (input: StorageInput) =>
      this.#run(() => {
        const now = Date.now();
        const row = this.#sql(
          'INSERT INTO storages (tenant_id, name, kind, location, options, version, enabled, max_concurrency, schedule_every_ms, schedule_cron, secrets_sealed, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 1, 1, ?, ?, ?, ?, ?, ?) RETURNING *',
        ).get(
          input.tenantId,
          input.name,
          input.kind,
          input.location,
          JSON.stringify(input.options),
          input.maxConcurrency ?? null,
          input.scheduleEveryMs ?? null,
          input.scheduleCron ?? null,
          input.sealed === false ? 0 : 1,
          now,
          now,
        ) as Selectable<StoragesTable> | undefined;
        if (!row) throw new Error('no result');
        return storageFromRow(row);
      }),
    fenceOf: (id) =>
      this.#run(() => {
        const row = this.#sql('SELECT fence FROM storages WHERE id = ?').get(id) as
          { fence: number } | undefined;
        return row === undefined ? undefined : Number(row.fence);
      }),
    storedOptions: (unsealedOnly) =>
      this.#run(() => {
        const rows = this.#sql(
          `SELECT id, tenant_id, name, kind, options, secrets_sealed FROM storages${unsealedOnly ? ' WHERE secrets_sealed = 0' : ''} ORDER BY id`,
        ).all() as Pick<Selectable<StoragesTable>, StoredOptionsColumns>[];
        return rows.map(storedOptionsFromRow);
      }),
  };

  #storage(text: string, ...params: unknown[]): StorageRecord | undefined {
    const row = this.#sql(text).get(...params) as Selectable<StoragesTable> | undefined;
    return row && storageFromRow(row);
  }

  readonly scans: Bookkeeping['scans'] = {
    start: (scope: Scope, options: unknown, claim?: ScanClaim, queuedId?: number) =>
      this.#run(() => {
        const now = Date.now();
        const text = JSON.stringify(options ?? {});
        if (!claim) {
          return this.#insertScan(
            'INSERT INTO scans (tenant_id, storage_id, status, started_at, options) VALUES (?, ?, ?, ?, ?) RETURNING id',
            [scope.tenantId, scope.storageId, 'running', now, text],
          );
        }
        const claimed = [claim.workerId, claim.jobId ?? null, claim.fence, now];
        return this.#fenced(scope.storageId, claim.fence, () => {
          this.#sql(
            'UPDATE scans SET status = ?, finished_at = ? WHERE storage_id = ? AND status = ?',
          ).run('interrupted', now, scope.storageId, 'running');
          if (queuedId !== undefined) {
            const updated = this.#sql(
              'UPDATE scans SET status = ?, started_at = ?, options = ?, worker_id = ?, job_id = ?, fence = ?, heartbeat_at = ? WHERE id = ? AND status = ?',
            ).run('running', now, text, ...claimed, queuedId, 'queued');
            if (updated.changes === 1) return queuedId;
          }
          return this.#insertScan(
            'INSERT INTO scans (tenant_id, storage_id, status, started_at, options, worker_id, job_id, fence, heartbeat_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id',
            [scope.tenantId, scope.storageId, 'running', now, text, ...claimed],
          );
        });
      }),
    heartbeat: (id, storageId, fence) =>
      this.#run(() =>
        this.#fenced(storageId, fence, () => {
          this.#sql('UPDATE scans SET heartbeat_at = ? WHERE id = ?').run(Date.now(), id);
        }),
      ),
    // Once a second during a scan: as a statement here, a scan's first progress write no
    // longer loads the query builder (~20 ms of the main thread, mid-walk). While the
    // entries' writer thread runs, it writes the row: here the write would wait for that
    // thread's lock with the event loop blocked (writer-thread.ts).
    writeProgress: (id, progress) =>
      this.#writer()?.writeProgress(id, JSON.stringify(progress)) ??
      this.#run(() => {
        this.#sql('UPDATE scans SET progress = ? WHERE id = ? AND status = ?').run(
          JSON.stringify(progress),
          id,
          'running',
        );
        const asked = this.#sql('SELECT cancel_requested FROM scans WHERE id = ?').get(id) as
          { cancel_requested: number } | undefined;
        return asked !== undefined && Number(asked.cancel_requested) === 1;
      }),
    finish: (id, status, c, claim) =>
      this.#run(() => {
        if (claim) this.#fenced(claim.storageId, claim.fence, () => this.#finish(id, status, c));
        else this.#finish(id, status, c);
      }),
  };

  #insertScan(text: string, params: unknown[]): number {
    const row = this.#sql(text).get(...params) as { id: number } | undefined;
    if (!row) throw new Error('no result');
    return Number(row.id);
  }

  #finish(id: number, status: ScanStatus, c: ScanCounters): void {
    this.#sql(
      'UPDATE scans SET status = ?, finished_at = ?, dirs = ?, files = ?, media_files = ?, bytes = ?, created = ?, updated = ?, deleted = ?, unchanged = ?, skipped = ?, errors = ?, invalid_entries = ?, error_sample = ?, retries = ?, rate_limit_waits = ?, duration_ms = ? WHERE id = ?',
    ).run(
      status,
      Date.now(),
      c.dirs,
      c.files,
      c.mediaFiles,
      c.bytes,
      c.created,
      c.updated,
      c.deleted,
      c.unchanged,
      c.skipped,
      c.errors,
      c.invalidEntries,
      JSON.stringify(c.errorSample),
      c.retries,
      c.rateLimitWaits,
      c.durationMs,
      id,
    );
  }

  readonly leases: LeaseRows = {
    grant: (storageId, stored, expiresAt, free) =>
      this.#run(() => {
        // As the Kysely rows' transaction: deferred, its first statement takes the write lock.
        this.#raw.exec('BEGIN');
        try {
          const bumped = this.#sql(
            'UPDATE storages SET fence = fence + 1 WHERE id = ? RETURNING fence',
          ).get(storageId) as { fence: number } | undefined;
          if (!bumped) throw new Error(`storage ${storageId} does not exist`);
          const held = this.#lease(storageId);
          if (held && !free(held)) {
            this.#raw.exec('ROLLBACK');
            return undefined;
          }
          const fence = Number(bumped.fence);
          this.#sql(
            'INSERT INTO leases (storage_id, holder, token, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT (storage_id) DO UPDATE SET holder = ?, token = ?, expires_at = ?',
          ).run(storageId, stored, fence, expiresAt, stored, fence, expiresAt);
          this.#raw.exec('COMMIT');
          return fence;
        } catch (error) {
          if (this.#raw.inTransaction) this.#raw.exec('ROLLBACK');
          throw error;
        }
      }),
    renew: (storageId, stored, fence, expiresAt) =>
      this.#run(
        () =>
          this.#sql(
            'UPDATE leases SET expires_at = ? WHERE storage_id = ? AND holder = ? AND token = ?',
          ).run(expiresAt, storageId, stored, fence).changes === 1,
      ),
    release: (storageId, stored, fence) =>
      this.#run(() => {
        this.#sql('DELETE FROM leases WHERE storage_id = ? AND holder = ? AND token = ?').run(
          storageId,
          stored,
          fence,
        );
      }),
    held: (storageId) => this.#run(() => this.#lease(storageId)),
  };

  #lease(storageId: number): LeaseRow | undefined {
    const row = this.#sql('SELECT holder, expires_at FROM leases WHERE storage_id = ?').get(
      storageId,
    ) as { holder: string; expires_at: number } | undefined;
    return row && { holder: row.holder, expiresAt: Number(row.expires_at) };
  }
}
