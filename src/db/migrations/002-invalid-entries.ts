import { type Kysely, type Migration } from 'kysely';

/** scans.invalid_entries: entries a server sent that could not be read (bad name, size, time). */
export function invalidEntries(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('scans')
        .addColumn('invalid_entries', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
    },
  };
}
