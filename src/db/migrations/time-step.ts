/**
 * The width of one step of `entries_mtime_step` (migration 009), in milliseconds: 30 days.
 * The queries (src/db/queries/by-time.ts) repeat it; changing it takes a migration. Apart
 * from the migration so that SQLite's name index (sqlite/name-index.ts) reads it without
 * loading Kysely.
 */
export const MTIME_STEP_MS = 2_592_000_000;
