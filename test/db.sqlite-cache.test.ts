/**
 * The main SQLite connection's page cache is 8 MB (src/db/sqlite/connect.ts): with the
 * writer thread's 4 MB, the peak RSS of a 1,000,000-file first scan (issue 12's 150 MB,
 * docs/benchmarks.md) at the same CPU as with 16 and 8.
 */
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { connectSqlite } from '../src/db/sqlite/connect.js';
import { tempDir } from './support/harness.js';

describe("the SQLite connection's page cache", () => {
  let tmp: ReturnType<typeof tempDir> | undefined;
  afterEach(() => tmp?.cleanup());

  it('is 8 MB (cache_size -8192, in KiB)', async () => {
    tmp = tempDir('trawl-cache-');
    const conn = await connectSqlite(join(tmp.path, 'i.db'));
    try {
      const { rows } = await sql<{ cache_size: number }>`PRAGMA cache_size`.execute(conn.db);
      expect(rows[0]?.cache_size).toBe(-8192);
    } finally {
      await conn.db.destroy();
    }
  });
});
