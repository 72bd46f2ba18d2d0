import type BetterSqlite3 from 'better-sqlite3';
import { openSqliteFile } from './driver.js';
import { MTIME_STEP_MS } from '../migrations/time-step.js';
import { preparedOnUse } from './statements.js';

/**
 * Adds the rows of ids in (?, ?] to the time steps (migration 013), sorted: each step's
 * rows are appended to its last page, one page write per step for the whole backlog
 * instead of one per step per batch. entry-writer.ts holds a copy (it runs in the writer
 * thread as source text, with nothing imported).
 */
export const ADD_STEPS_SQL = `INSERT INTO entries_time_steps (tenant_id, step, id)
  SELECT tenant_id, mtime / ${MTIME_STEP_MS}, id FROM entries WHERE id > ? AND id <= ?
  ORDER BY 1, 2, 3`;

/**
 * Adds the rows of ids in (?, ?] to the name order by kind (migration 017), sorted: each of
 * its pages is written once for the whole backlog instead of once per entry. entry-writer.ts
 * holds a copy, as of ADD_STEPS_SQL.
 */
export const ADD_NAME_ORDER_SQL = `INSERT INTO entries_name_order (media_kind, tenant_id, name, id)
  SELECT coalesce(media_kind, ''), tenant_id, name, id FROM entries WHERE id > ? AND id <= ?
  ORDER BY 1, 2, 3, 4`;

/**
 * Rows a batch may leave out of the name index before the writer adds them (the backlog a
 * search may have to add first, or test one by one on a read-only index). Adding rows to
 * FTS5 costs per segment written and merged, so fewer and larger additions cost less:
 * 300,000 rows added 1,000 at a time took 8.4 s here, 50,000 at a time 5.6 s, all at once
 * 2.1 s (docs/index-database.md).
 */
export const BACKLOG_ROWS = 100_000;

/**
 * The SQLite name index (FTS5 trigram, migration 006) kept up in bulk (migration 007), and
 * the time steps (013) and the name order by kind (017) with it: the rows with an id above
 * `search_watermark.upto` are in none of them yet. Ids only grow
 * (AUTOINCREMENT, one writer at a time), so "not yet indexed" is exactly that id range.
 */
export class NameIndexBacklog {
  readonly #db: BetterSqlite3.Database;
  readonly #limit: number;
  // Prepared at first use (statements.ts): an index opened for a scan that writes nothing
  // never needs them.
  readonly #state = preparedOnUse(() =>
    // max(id) of a rowid table reads one path down its b-tree.
    this.#db
      .prepare(`SELECT upto, COALESCE((SELECT max(id) FROM entries), 0) FROM search_watermark`)
      .raw(),
  );
  readonly #catchUp = preparedOnUse(() => {
    const add = this.#db.prepare(
      `INSERT INTO entries_name_fts (rowid, name) SELECT id, name FROM entries WHERE id > ? AND id <= ?`,
    );
    const addSteps = this.#db.prepare(ADD_STEPS_SQL);
    const addNameOrder = this.#db.prepare(ADD_NAME_ORDER_SQL);
    const mark = this.#db.prepare(`UPDATE search_watermark SET upto = ?`);
    return this.#db.transaction(() => {
      const [upto, last] = this.#state().get() as [number, number];
      if (last <= upto) return 0;
      add.run(upto, last);
      addSteps.run(upto, last);
      addNameOrder.run(upto, last);
      mark.run(last);
      return last - upto;
    });
  });

  /** `limit`: the backlog a writer leaves (entry-writer.ts adds it once it reaches this). */
  constructor(db: BetterSqlite3.Database, limit = BACKLOG_ROWS) {
    this.#db = db;
    this.#limit = limit;
  }

  /** Rows written and not yet in the name index. */
  pending(): number {
    const [upto, last] = this.#state().get() as [number, number];
    return Math.max(0, last - upto);
  }

  /** The backlog a writer leaves before adding it. */
  get limit(): number {
    return this.#limit;
  }

  /**
   * Adds every row not yet in the name index; the number of ids covered. Inside a running
   * transaction it joins it (a savepoint); else it takes the write lock for its own.
   */
  catchUp(): number {
    // Nothing pending (a scan that wrote nothing): no write lock, nothing more prepared.
    if (this.pending() === 0) return 0;
    const catchUp = this.#catchUp();
    return this.#db.inTransaction ? catchUp() : catchUp.immediate();
  }
}

/**
 * `trawl_name_has(name, needle)`: the name contains the needle, both folded exactly as
 * FTS5's trigram tokenizer folds them. Tests the rows above the watermark when they could
 * not be added first (a read-only index, a lock held too long), so that a search finds
 * what it would find once they are added.
 */
export function registerNameTest(db: BetterSqlite3.Database): void {
  db.function('trawl_name_has', { deterministic: true }, (name: unknown, needle: unknown) =>
    typeof name === 'string' && typeof needle === 'string' && has(name, needle) ? 1 : 0,
  );
}

const ASCII = /^[\x00-\x7f]*$/;

/**
 * FTS5 folds ASCII as JavaScript's lower case does (A–Z only), and the table of every other
 * character costs ~0.3–0.6 s to read: the rows a search tests are mostly ASCII (since 016
 * every row its trigrams found, queries/filters.ts), and need no table. Both must be ASCII:
 * a character beyond it may fold into it (K, U+212A, to k).
 */
function has(name: string, needle: string): boolean {
  if (ASCII.test(name) && ASCII.test(needle)) {
    return name.toLowerCase().includes(needle.toLowerCase());
  }
  return fold(name).includes(fold(needle));
}

let folds: Map<string, string> | undefined;

function fold(s: string): string {
  folds ??= fts5Folds();
  let out = '';
  for (const ch of s) out += folds.get(ch) ?? ch;
  return out;
}

/**
 * Every character FTS5's trigram tokenizer folds, and what to: read from SQLite itself, not
 * from JavaScript's lower case, which differs on about 450 characters (FTS5's tables are of
 * an older Unicode, and fold ς to σ but not İ). One row of the characters up to U+1FFFF
 * (no character above has a case), each token's first character read back with its
 * offset, once per process: the characters JavaScript gives a case and the two SQLite reads
 * as U+FFFD, 25 ms (`every`: all of them, 0.3–0.6 s, the same table with this SQLite —
 * test/db.lean-name-index.test.ts keeps it so).
 */
export function fts5Folds(every = false): Map<string, string> {
  const mem = openSqliteFile(':memory:');
  try {
    mem.exec(`CREATE VIRTUAL TABLE t USING fts5(s, tokenize='trigram');
      CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance');`);
    const chars: string[] = [];
    for (let c = 1; c < 0x20000; c++) {
      if (c >= 0xd800 && c <= 0xdfff) continue;
      const ch = String.fromCodePoint(c);
      if (
        every ||
        c === 0xfffe ||
        c === 0xffff ||
        ch.toLowerCase() !== ch ||
        ch.toUpperCase() !== ch
      ) {
        chars.push(ch);
      }
    }
    mem.prepare(`INSERT INTO t (rowid, s) VALUES (1, ?)`).run(chars.join(''));
    const out = new Map<string, string>();
    for (const [term, offset] of mem
      .prepare(`SELECT term, offset FROM v`)
      .raw()
      .iterate() as Iterable<[string, number]>) {
      const folded = String.fromCodePoint(term.codePointAt(0)!);
      const ch = chars[offset]!;
      if (folded !== ch) out.set(ch, folded);
    }
    return out;
  } finally {
    mem.close();
  }
}
