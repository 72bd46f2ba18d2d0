import type BetterSqlite3 from 'better-sqlite3';

/** Kysely's record of the migrations run: written at open, with the time (fresh-schema.ts). */
const MIGRATION_RECORD = 'kysely_migration';

/**
 * The statements that make `raw`'s schema and rows again in an empty file: its sqlite_master's
 * CREATE statements (tables, then indexes, views, triggers, each kind in the order it was
 * made) and an INSERT per row of every table. Left out: SQLite's own objects (sqlite_sequence
 * and the like, and automatic indexes, which have no SQL), the shadow tables of a virtual
 * table (its CREATE VIRTUAL TABLE makes them and their rows) and Kysely's record of migrations.
 * scripts/sqlite-schema.js writes schema-script.ts with it; tests compare schemas with it.
 */
export function schemaStatements(raw: BetterSqlite3.Database): string[] {
  const shadow = new Set(
    raw
      .prepare("SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'shadow'")
      .pluck()
      .all() as string[],
  );
  const objects = raw
    .prepare(
      `SELECT type, name, sql FROM sqlite_master
        WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
        ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 WHEN 'view' THEN 2 ELSE 3 END, rowid`,
    )
    .all() as { type: string; name: string; sql: string }[];
  const statements: string[] = [];
  const tables: string[] = [];
  const fts5: string[] = [];
  for (const { type, name, sql } of objects) {
    if (shadow.has(name)) continue;
    statements.push(sql);
    if (type !== 'table' || name === MIGRATION_RECORD) continue;
    if (!/^CREATE VIRTUAL/i.test(sql)) tables.push(name);
    else if (/USING\s+fts5\s*\(/i.test(sql)) fts5.push(name);
  }
  statements.push(...fts5.flatMap((table) => fts5Settings(raw, table)));
  for (const table of tables) {
    const columns = raw
      .prepare('SELECT name FROM pragma_table_xinfo(?) WHERE hidden = 0')
      .pluck()
      .all(table) as string[];
    if (columns.length === 0) continue;
    const quoted = columns.map((c) => `"${c.replaceAll('"', '""')}"`);
    const rows = raw
      .prepare(
        `SELECT 'INSERT INTO "${table}" (${quoted.join(', ').replaceAll("'", "''")}) VALUES (' || ${quoted
          .map((c) => `quote(${c})`)
          .join(" || ', ' || ")} || ')' FROM "${table}"`,
      )
      .pluck()
      .all() as string[];
    statements.push(...rows);
  }
  return statements;
}

/**
 * An FTS5 table's settings a migration made (migration 016's `hashsize`): its CREATE VIRTUAL
 * TABLE writes the `_config` shadow table's `version` row, and anything else is set through
 * the table's own command, `INSERT INTO t (t, rank) VALUES (key, value)` — FTS5 keeps its
 * configuration cached, so a row written into the shadow table itself would not be read.
 */
function fts5Settings(raw: BetterSqlite3.Database, table: string): string[] {
  const q = `"${table.replaceAll('"', '""')}"`;
  return raw
    .prepare(
      `SELECT 'INSERT INTO ' || ? || ' (' || ? || ', rank) VALUES (' || quote(k) || ', ' || quote(v) || ')'
         FROM "${`${table}_config`.replaceAll('"', '""')}" WHERE k <> 'version' ORDER BY k`,
    )
    .pluck()
    .all(q, q) as string[];
}
