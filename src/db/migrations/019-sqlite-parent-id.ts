import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * SQLite: a row names its directory by the directory's row id (`parent_id`) instead of by
 * the parent's text, and the children index keys that id: `(parent_id, is_dir, name)` in
 * place of `(storage_id, parent, is_dir, name)`, whose parent text was most of its bytes
 * (docs/index-database.md, "Sixth round: SQLite's integer parent id"). The id implies the
 * storage. The root has no row: its children hold `-storage_id`, which no row's id can be
 * (ids are positive), so a storage's root is one key of the index like any directory. A
 * row whose directory has no row (none is written so: the engine writes a directory no
 * later than its children, but a scan of roots below `/` — `trawl watch` — may write a
 * directory's children without it) holds NULL: an orphan, kept in `entries_orphans`
 * (empty as a whole scan leaves the index, so ~0 bytes), where the scan's children read of
 * a directory without a row finds it (sqlite/entries.ts) and where the writer adopts it
 * (sets its `parent_id`) once its directory's row is written (sqlite/entry-writer.ts).
 *
 * `name` is computed from `path` and the name's length in bytes (`name_bytes`): the name was
 * the path's last part stored a second time, ~20 bytes a row. It is cut from the path's
 * UTF-8 bytes (a BLOB's `substr` and `length` count bytes and scan nothing), not its
 * characters: a search that sorts 276,323 names of `jpg` at 1,000,000 entries took 72 ms
 * so against 97 ms with `substr(path, length(path) - n + 1)` in characters and 66 ms with
 * the name stored (docs/index-database.md, "Sixth round"). Every index and trigger reading
 * `name` reads the computed column; a write names `name_bytes`, never `name`.
 *
 * The unique path key loses `tenant_id`, as PostgreSQL's did in 010: a storage has one
 * tenant, and a directory's id is looked up by (storage_id, path) alone.
 *
 * SQLite can neither drop a table constraint nor add a column to one, so the table is
 * rebuilt: the rows are copied with their ids (the FTS5 name index, the time steps and
 * 017's name order hold ids) and `parent_id` resolved by the old table's unique path
 * index, one lookup a row. The triggers are dropped first (DROP TABLE fires none, but
 * they must not name a table that is gone) and made again from their own text, and the
 * update triggers that watched `name` watch `path` and `name_bytes` instead (an UPDATE OF
 * a computed column never fires: nothing can SET it). The AUTOINCREMENT counter is carried over so that no id is ever given twice: the name
 * index's watermark counts on it. The virtual `parent` text stays: du and stats group by
 * it, and find tests it on rows read by another index. PostgreSQL is untouched (its
 * children index keys a hash of the computed parent, 018).
 */
export function sqliteParentId(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      if (dialect !== 'sqlite') return;
      const { rows: triggers } = await sql<{ name: string; sql: string }>`
        SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'entries'
        ORDER BY name`.execute(db);
      const { rows: seq } = await sql<{ seq: number }>`
        SELECT seq FROM sqlite_sequence WHERE name = 'entries'`.execute(db);
      for (const t of triggers) await sql`DROP TRIGGER ${sql.id(t.name)}`.execute(db);
      await sql`CREATE TABLE entries_019 (
        id integer PRIMARY KEY AUTOINCREMENT, tenant_id integer NOT NULL,
        storage_id integer NOT NULL, path text NOT NULL, name_bytes integer NOT NULL,
        is_dir smallint NOT NULL, size integer NOT NULL, mtime integer NOT NULL, etag text,
        media_kind text, parent_id integer,
        name text GENERATED ALWAYS AS (CAST(substr(CAST(path AS BLOB), -name_bytes) AS text))
          VIRTUAL,
        parent text GENERATED ALWAYS AS (CASE WHEN length(CAST(path AS BLOB)) = name_bytes + 1
          THEN '/' ELSE CAST(substr(CAST(path AS BLOB), 1, length(CAST(path AS BLOB)) - name_bytes - 1)
          AS text) END) VIRTUAL,
        CONSTRAINT entries_storage_path UNIQUE (storage_id, path))`.execute(db);
      await sql`INSERT INTO entries_019 (id, tenant_id, storage_id, path, name_bytes, is_dir,
          size, mtime, etag, media_kind, parent_id)
        SELECT e.id, e.tenant_id, e.storage_id, e.path, length(CAST(e.name AS BLOB)), e.is_dir, e.size, e.mtime,
          e.etag, e.media_kind,
          CASE WHEN e.parent = '/' THEN -e.storage_id ELSE (SELECT p.id FROM entries p
            WHERE p.storage_id = e.storage_id AND p.tenant_id = e.tenant_id
              AND p.path = e.parent) END
        FROM entries e ORDER BY e.id`.execute(db);
      await sql`DROP TABLE entries`.execute(db);
      await sql`ALTER TABLE entries_019 RENAME TO entries`.execute(db);
      // As it was (the copy leaves max(id), or a row of 0 when there was none).
      await sql`DELETE FROM sqlite_sequence WHERE name = 'entries'`.execute(db);
      if (seq[0]) {
        await sql`INSERT INTO sqlite_sequence (name, seq) VALUES ('entries', ${seq[0].seq})`.execute(
          db,
        );
      }
      await sql`CREATE INDEX entries_parent_name ON entries (parent_id, is_dir, name)`.execute(db);
      await sql`CREATE INDEX entries_orphans ON entries (storage_id, path)
        WHERE parent_id IS NULL`.execute(db);
      await sql`CREATE INDEX entries_large ON entries (tenant_id, size)
        WHERE size >= 100000000`.execute(db);
      for (const t of triggers) await sql.raw(nameFromPath(t.sql)).execute(db);
    },
  };
}

/** A trigger's `UPDATE OF` list with `name` as what it is computed from (see above). */
function nameFromPath(trigger: string): string {
  return trigger.replace(/UPDATE OF ([\w\s,]+?)\s+ON entries/, (_, list: string) => {
    const columns = list.split(',').map((c) => c.trim());
    const out = columns.flatMap((c) => (c === 'name' ? ['path', 'name_bytes'] : [c]));
    return `UPDATE OF ${out.join(', ')}\n        ON entries`;
  });
}
