import { sql, type Kysely, type Migration } from 'kysely';

/**
 * `entries.listing_digest`: on a directory's row, a digest of the listing its child rows
 * were last reconciled against (src/scan/listing-digest.ts), so that a rescan which lists the
 * directory again and finds the same digest reads and compares none of its file rows.
 * Nullable, and NULL means "compare in full": every row written without a digest (all of
 * them, when this runs) is compared at the next scan, which then writes the digest. The
 * repositories keep it right: a write of any child row that does not set its directory's
 * digest in the same transaction sets that digest NULL (docs/index-database.md).
 *
 * `ADD COLUMN` of a nullable column without a default is a change of the schema only in
 * both dialects: no row is rewritten, however large the index.
 */
export function listingDigest(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await sql`ALTER TABLE entries ADD COLUMN listing_digest TEXT`.execute(db);
    },
  };
}
