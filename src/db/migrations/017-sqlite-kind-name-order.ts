import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * SQLite: `entries_name_order (media_kind, tenant_id, name, id)`, each media kind's entries of
 * a tenant in name order — what 014's two partial indexes give PostgreSQL — so that a page
 * by name is walked as there (queries/by-name.ts): a kind's range from its first name, or
 * the merge of one range per kind and one of no kind (`''`: a key column cannot be NULL),
 * every filter tested on the entries walked. A kind alone, or a size range, by name read
 * and sorted the whole table before: 88–106 ms p95 at 1,000,000 entries on a quiet
 * machine, 1–3 ms after (docs/search.md, "After 017"). One order for both: the kinds alone
 * would serve a kind, not a size range, whose page needs the entries of no kind in order too.
 *
 * A table of its own kept up like 013's time steps, not an index: an index's entries land at
 * random in name order, so every batch of a scan rewrote about one of its pages per entry —
 * as an index `(media_kind, tenant_id, name)` it took a first write of 300,000 entries from
 * 4.2 to 8.9 s (`npm run bench:schema -- --variants`). The rows up to
 * `search_watermark.upto` are in the table; the rows after are added in bulk with the name
 * index's (sqlite/name-index.ts: at a backlog of 100,000 rows, when the index is closed and
 * before a search), sorted, so each of its pages is written once per 100,000 rows. Removals,
 * renames and changes of kind leave it by trigger, for the rows it holds. A walk reads the
 * table and the rows above the mark (none once a search brought it up to date): the same
 * rows, in the same order, as an index.
 *
 * WITHOUT ROWID: the key is the row (~38 bytes an entry at 300,000, ~34 rebuilt). Built
 * from the table, no rescan: ~1 s at 1,000,000 entries.
 */
export function sqliteKindNameOrder(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      if (dialect !== 'sqlite') return;
      await sql`CREATE TABLE entries_name_order (
        media_kind text NOT NULL, tenant_id integer NOT NULL, name text NOT NULL,
        id integer NOT NULL, PRIMARY KEY (media_kind, tenant_id, name, id)) WITHOUT ROWID`.execute(
        db,
      );
      await sql`INSERT INTO entries_name_order (media_kind, tenant_id, name, id)
        SELECT coalesce(media_kind, ''), tenant_id, name, id FROM entries
        WHERE id <= (SELECT upto FROM search_watermark) ORDER BY 1, 2, 3, 4`.execute(db);
      const held = (row: 'old' | 'new') =>
        sql.raw(`media_kind = coalesce(${row}.media_kind, '') AND tenant_id = ${row}.tenant_id
          AND name = ${row}.name AND id = ${row}.id`);
      await sql`CREATE TRIGGER entries_name_order_delete AFTER DELETE ON entries
        WHEN old.id <= (SELECT upto FROM search_watermark) BEGIN
        DELETE FROM entries_name_order WHERE ${held('old')}; END`.execute(db);
      // A rescan sets media_kind on every changed row; the table moves only a row whose key
      // changed.
      await sql`CREATE TRIGGER entries_name_order_update
        AFTER UPDATE OF id, tenant_id, name, media_kind ON entries
        WHEN old.id <= (SELECT upto FROM search_watermark)
          AND (new.id <> old.id OR new.tenant_id <> old.tenant_id OR new.name <> old.name
            OR new.media_kind IS NOT old.media_kind) BEGIN
        DELETE FROM entries_name_order WHERE ${held('old')};
        INSERT INTO entries_name_order (media_kind, tenant_id, name, id)
        SELECT coalesce(new.media_kind, ''), new.tenant_id, new.name, new.id
        WHERE new.id <= (SELECT upto FROM search_watermark); END`.execute(db);
    },
  };
}
