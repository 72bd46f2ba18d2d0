import type { Migration, MigrationProvider } from 'kysely';
import type { Dialect } from '../dialect.js';
import { initial } from './001-initial.js';

/** Every migration, in order, for both dialects: one place, no files read at run time. */
export function migrations(dialect: Dialect): MigrationProvider {
  const all: Record<string, Migration> = {
    '001-initial': initial(dialect),
  };
  return { getMigrations: async () => all };
}
