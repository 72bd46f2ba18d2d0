import type pg from 'pg';

/** @default 50,000 */
const MIN_ROWS = 50_000;

/**
 * Keeps the planner's statistics in step with a table that a scan fills fast. Right
 * after a bulk load PostgreSQL still believes `entries` is small, and reading children by
 * parent slows from ~770k to ~30k entries/s (measured here) until autovacuum gets round
 * to it. So: ANALYZE whenever this process has inserted at least as many rows as the
 * statistics knew of (and at least 50,000) — a handful of times during a first load,
 * never on an ordinary rescan.
 *
 * The ANALYZE runs on a connection of its own while the scan goes on (one at a time): the
 * scan's batch does not wait for it, and the statistics it brings are the same a moment
 * later. Its failure costs nothing but the statistics, so it is not reported.
 */
export class AutoAnalyze {
  readonly #pool: pg.Pool;
  #known: number | undefined;
  #inserted = 0;
  #running: Promise<void> | undefined;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async afterWrite(inserted: number): Promise<void> {
    if (inserted === 0) return;
    this.#known ??= await this.#estimate();
    this.#inserted += inserted;
    if (this.#running || this.#inserted < Math.max(MIN_ROWS, this.#known)) return;
    this.#inserted = 0;
    this.#running = this.#analyze().finally(() => (this.#running = undefined));
  }

  async #analyze(): Promise<void> {
    try {
      await this.#pool.query('ANALYZE entries');
      this.#known = await this.#estimate();
    } catch {
      // The statistics stay as they were; the next threshold tries again.
    }
  }

  async #estimate(): Promise<number> {
    const { rows } = await this.#pool.query<[number]>({
      text: `SELECT greatest(reltuples, 0)::float8 FROM pg_class WHERE oid = 'entries'::regclass`,
      rowMode: 'array',
    });
    return rows[0]?.[0] ?? 0;
  }
}
