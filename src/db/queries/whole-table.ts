import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';
import type { Database } from '../schema.js';

/**
 * Whether a read of every entry of these storages should scan the table rather than walk
 * their path index: on SQLite, when they are every storage there is (the embedded index:
 * one tenant, a few storages). The table in rowid order is read sequentially; the path
 * index sends each row to a random page (a search by kind and size over 1,000,000 entries:
 * 135–460 ms against 460–1,300 ms, measured). PostgreSQL's planner decides this from its
 * statistics.
 */
export async function scanWholeTable(
  db: Kysely<Database>,
  dialect: Dialect,
  storageIds: readonly number[],
): Promise<boolean> {
  if (dialect !== 'sqlite') return false;
  const { rows } = await sql<{ n: number }>`SELECT count(*) AS n FROM storages`.execute(db);
  return Number(rows[0]?.n) <= new Set(storageIds).size;
}

/**
 * The bytes of the index file SQLite may map while it reads the whole table: 1 GiB (the
 * table of ~6,000,000 entries; a larger file is mapped up to it and read as usual after).
 */
export const WHOLE_TABLE_MMAP_BYTES = 2 ** 30;

/**
 * Runs `read`, a read of the whole table on SQLite, with the index file memory-mapped, and
 * unmaps it after. Through the mapping a page is read without a system call and a copy into
 * SQLite's cache. Measured over 1,000,000 entries (docs/search.md): a mapping kept open
 * across searches took a size range by name p50 124 → 84 ms, but mapped for each read, as
 * here, each page costs a fault instead, and the gain is 6–10 % (135 → 128 ms at load 7).
 * Kept to the read because the mapped pages count in the process's resident memory while
 * they are mapped (the table, ~150 MB at 1,000,000 entries), which a scan must not keep.
 */
export async function withMappedFile<T>(db: Kysely<Database>, read: () => Promise<T>): Promise<T> {
  await sql`PRAGMA mmap_size = ${sql.lit(WHOLE_TABLE_MMAP_BYTES)}`.execute(db);
  try {
    return await read();
  } finally {
    await sql`PRAGMA mmap_size = 0`.execute(db);
  }
}
