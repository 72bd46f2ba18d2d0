/**
 * The names of every migration, in order: what a migrated index records. Apart from the
 * migrations themselves (index.ts checks that they agree), so that opening a current index
 * reads them without loading Kysely and evaluating 18 migrations (bench:startup).
 */
export const MIGRATION_NAMES: readonly string[] = [
  '001-initial',
  '002-invalid-entries',
  '003-storages',
  '004-fleet',
  '005-api',
  '006-search',
  '007-lean-writes',
  '008-stats-and-large-files',
  '009-time-order',
  '010-path-key',
  '011-bytewise-name-trigrams',
  '012-tenant-name-order',
  '013-time-steps',
  '014-tenant-kind-name-order',
  '015-parent-hash',
  '016-lean-name-index',
  '017-sqlite-kind-name-order',
  '018-computed-parent',
  '019-sqlite-parent-id',
  '020-lean-children',
  '021-listing-digest',
];
