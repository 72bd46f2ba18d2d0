import pg from 'pg';
import type { EntryScope } from '../../src/db/entries.js';
import { openIndex, type Index } from '../../src/db/open.js';
import { createDatabase, memoryStorageScope, type TestDatabase } from './databases.js';

/** A fresh PostgreSQL index, a memory storage in it, and a plain client on its database. */
export interface PostgresIndex {
  database: TestDatabase;
  index: Index;
  scope: EntryScope;
  /** For what the tests read or change behind the repository's back. */
  sql: pg.Client;
}

export async function openPostgresIndex(): Promise<PostgresIndex> {
  const database = await createDatabase('postgres');
  const index = await openIndex(database.url);
  const scope = await memoryStorageScope(index);
  const sql = new pg.Client({ connectionString: database.url });
  await sql.connect();
  return { database, index, scope, sql };
}

/** Closes what {@link openPostgresIndex} opened (any part of it may be missing). */
export async function closePostgresIndex(t: Partial<PostgresIndex>): Promise<void> {
  await t.sql?.end();
  await t.index?.close();
  await t.database?.drop();
}
