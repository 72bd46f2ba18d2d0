import type BetterSqlite3 from 'better-sqlite3';
import { SCRIPT_MIGRATIONS, SCRIPT_STATEMENTS } from './schema-script.js';

/** A schema made in one go, and the migrations it stands for (schema-script.ts). */
export interface SchemaScript {
  migrations: readonly string[];
  statements: readonly string[];
}

const SCRIPT: SchemaScript = { migrations: SCRIPT_MIGRATIONS, statements: SCRIPT_STATEMENTS };

/**
 * Makes an empty index file's schema from one script, as running `script.migrations` would
 * (scripts/sqlite-schema.js), and records them as run; returns their names, or undefined
 * when the file is not empty (an older index, or another process made it first): that is
 * the migrator's work. Why: Kysely's migrator ran 15 migrations one by one, each compiled
 * by the query builder under a savepoint, ~10 ms of a first `trawl scan` (docs/benchmarks.md).
 *
 * Under the write lock like the migrator (`BEGIN IMMEDIATE`, migration-lock.ts): a process
 * that finds it held gets SQLITE_BUSY and its open tries again (busy.ts), to find the schema
 * made. One transaction: the schema is made whole or not at all.
 */
export function createFromScript(
  raw: BetterSqlite3.Database,
  script: SchemaScript = SCRIPT,
): string[] | undefined {
  raw.exec('BEGIN IMMEDIATE');
  try {
    if (raw.prepare('SELECT count(*) FROM sqlite_master').pluck().get() !== 0) {
      raw.exec('ROLLBACK');
      return undefined;
    }
    raw.exec(script.statements.join(';\n'));
    // As Kysely records a migration it ran: its name and an ISO time.
    const record = raw.prepare('INSERT INTO kysely_migration (name, timestamp) VALUES (?, ?)');
    const now = new Date().toISOString();
    for (const name of script.migrations) record.run(name, now);
    raw.exec('COMMIT');
    return [...script.migrations];
  } catch (error) {
    if (raw.inTransaction) raw.exec('ROLLBACK');
    throw error;
  }
}
