import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { Dialect } from '../dialect.js';
import { initial } from './001-initial.js';
import { invalidEntries } from './002-invalid-entries.js';
import { managedStorages } from './003-storages.js';
import { fleet } from './004-fleet.js';
import { api } from './005-api.js';
import { search } from './006-search.js';
import { leanWrites } from './007-lean-writes.js';
import { statsAndLargeFiles } from './008-stats-and-large-files.js';
import { timeOrder } from './009-time-order.js';
import { pathKey } from './010-path-key.js';
import { bytewiseNameTrigrams } from './011-bytewise-name-trigrams.js';
import { tenantNameOrder } from './012-tenant-name-order.js';
import { timeSteps } from './013-time-steps.js';
import { tenantKindNameOrder } from './014-tenant-kind-name-order.js';
import { parentHash } from './015-parent-hash.js';
import { leanNameIndex } from './016-lean-name-index.js';
import { sqliteKindNameOrder } from './017-sqlite-kind-name-order.js';
import { computedParent } from './018-computed-parent.js';
import { sqliteParentId } from './019-sqlite-parent-id.js';
import { leanChildren } from './020-lean-children.js';
import { listingDigest } from './021-listing-digest.js';
import { MIGRATION_NAMES } from './names.js';

export { MIGRATION_NAMES };

/** Every migration, in order, for both dialects: one place, no files read at run time. */
function all(dialect: Dialect): Record<string, Migration> {
  return {
    '001-initial': initial(dialect),
    '002-invalid-entries': invalidEntries(),
    '003-storages': managedStorages(dialect),
    '004-fleet': fleet(dialect),
    '005-api': api(dialect),
    '006-search': search(dialect),
    '007-lean-writes': leanWrites(dialect),
    '008-stats-and-large-files': statsAndLargeFiles(dialect),
    '009-time-order': timeOrder(dialect),
    '010-path-key': pathKey(dialect),
    '011-bytewise-name-trigrams': bytewiseNameTrigrams(dialect),
    '012-tenant-name-order': tenantNameOrder(dialect),
    '013-time-steps': timeSteps(dialect),
    '014-tenant-kind-name-order': tenantKindNameOrder(dialect),
    '015-parent-hash': parentHash(dialect),
    '016-lean-name-index': leanNameIndex(dialect),
    '017-sqlite-kind-name-order': sqliteKindNameOrder(dialect),
    '018-computed-parent': computedParent(dialect),
    '019-sqlite-parent-id': sqliteParentId(dialect),
    '020-lean-children': leanChildren(dialect),
    '021-listing-digest': listingDigest(dialect),
  };
}

export function migrations(dialect: Dialect): MigrationProvider {
  const byName = all(dialect);
  const names = Object.keys(byName);
  if (names.length !== MIGRATION_NAMES.length || names.some((n, i) => n !== MIGRATION_NAMES[i])) {
    // names.ts is what an open compares the index with: a migration added here alone would
    // make every current index look behind, or one behind look current.
    throw new Error('bug: src/db/migrations/names.ts does not list the migrations of index.ts');
  }
  if (dialect === 'sqlite') {
    for (const [name, m] of Object.entries(byName)) byName[name] = underSavepoint(m);
  }
  return { getMigrations: async () => byName };
}

/**
 * On SQLite every migration of a run shares one transaction (the migration lock, see
 * sqlite/migration-lock.ts); a savepoint per migration undoes a failed one alone.
 * PostgreSQL runs migrations in a transaction of Kysely's own.
 */
function underSavepoint(m: Migration): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await sql`SAVEPOINT trawl_migration`.execute(db);
      try {
        await m.up(db);
      } catch (error) {
        await sql`ROLLBACK TO trawl_migration`.execute(db);
        throw error;
      } finally {
        await sql`RELEASE trawl_migration`.execute(db);
      }
    },
  };
}
