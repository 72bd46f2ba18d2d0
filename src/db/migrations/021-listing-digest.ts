import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * `entries.listing_digest`: on a directory's row, a digest of the listing its child rows
 * were last reconciled against (src/scan/listing-digest.ts), so that a rescan which lists the
 * directory again and finds the same digest reads and compares none of its file rows.
 * Nullable, and NULL means "compare in full": every row written without a digest (all of
 * them, when this runs) is compared at the next scan, which then writes the digest. The
 * repositories keep it right: a write of any child row that does not set its directory's
 * digest in the same transaction sets that digest NULL (docs/index-database.md).
 *
 * `ADD COLUMN` of a nullable column without a default changes only the schema: no row is
 * rewritten, however large the index.
 *
 * SQLite only. On PostgreSQL a rescan is bound by the client's CPU and already reads a
 * batch's children in one statement (531k entries/s), while storing a digest rewrites the
 * directory's row with all its index entries (no HOT update there): a local first scan
 * into PostgreSQL took 7–18 % longer with digests, and its rescan between 25 % less and
 * no change (seventh round, docs/benchmarks.md). Its repository has no `childrenUnlessSame`, so no scan asks it for one.
 */
export function listingDigest(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      if (dialect !== 'sqlite') return;
      await sql`ALTER TABLE entries ADD COLUMN listing_digest TEXT`.execute(db);
    },
  };
}
