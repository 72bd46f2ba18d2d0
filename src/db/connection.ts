import type { Kysely } from 'kysely';
import type { Dialect } from './dialect.js';
import type { EntryRepository } from './entries.js';
import type { Database } from './schema.js';

/** What each dialect folder provides: the same shape for SQLite and PostgreSQL. */
export interface DialectConnection {
  dialect: Dialect;
  db: Kysely<Database>;
  /** Builds the entries repository; called once migrations have run. */
  entries(): EntryRepository;
  close(): Promise<void>;
}
