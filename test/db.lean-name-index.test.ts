import { Migrator, sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { migrations } from '../src/db/migrations/index.js';
import { openIndex, type Index } from '../src/db/open.js';
import { connectSqlite } from '../src/db/sqlite/connect.js';
import { fts5Folds } from '../src/db/sqlite/name-index.js';
import { createDatabase, skipDialect, type TestDatabase } from './support/databases.js';
import { seedStorage } from './support/older-index.js';

// Names whose trigrams a needle's all hold out of order (`abcd` in `bcd-abc`), cased beyond
// ASCII, alike but for one character, and one FTS5 folds into ASCII (K, the Kelvin sign).
const NAMES = [
  'abcd.txt',
  'bcd-abc.txt',
  'ÉTÉ INDIEN.mp3',
  'été indien.flac',
  'Été.mp3',
  'x.mp3',
  '\u212Aelvin.log',
];

/** An index as 015 left it: the first four rows in the name index, the rest a backlog. */
async function index015(url: string): Promise<void> {
  const conn = await connectSqlite(url, { prebuilt: false });
  try {
    await conn.whileOpening(async () => {
      const migrator = new Migrator({ db: conn.db, provider: migrations('sqlite') });
      const { error } = await migrator.migrateTo('015-parent-hash');
      if (error) throw error;
    });
    await seedStorage(conn.db);
    for (const name of NAMES) {
      await sql`INSERT INTO entries (tenant_id, storage_id, path, name, is_dir, size, mtime)
        VALUES (1, 1, ${`/${name}`}, ${name}, 0, 1, 1)`.execute(conn.db);
    }
    await sql`INSERT INTO entries_name_fts (rowid, name) SELECT id, name FROM entries
      WHERE id <= 4`.execute(conn.db);
    await sql`INSERT INTO entries_time_steps (tenant_id, step, id)
      SELECT tenant_id, 0, id FROM entries WHERE id <= 4`.execute(conn.db);
    await sql`UPDATE search_watermark SET upto = 4`.execute(conn.db);
  } finally {
    await conn.close();
  }
}

async function found(index: Index, name: string): Promise<string[]> {
  const page = await index.queries.search({ tenantId: 1, name, sort: 'name' });
  return page.items.map((e) => e.name);
}

/** The rows the FTS table holds every trigram of `needle` for (no backlog, no test). */
async function indexed(index: Index, match: string): Promise<number[]> {
  const { rows } = await sql<{ id: number }>`SELECT rowid AS id FROM entries_name_fts
    WHERE entries_name_fts MATCH ${match} ORDER BY 1`.execute(index.db);
  return rows.map((r) => r.id);
}

describe.skipIf(await skipDialect('sqlite'))(
  'migration 016 (the name index without positions)',
  () => {
    let db: TestDatabase | undefined;
    afterEach(async () => {
      await db?.drop();
      db = undefined;
    });

    it('carries a 015 index over without a rescan: the same rows, the same watermark', async () => {
      db = await createDatabase('sqlite');
      await index015(db.url);
      const index = await openIndex(db.url);
      try {
        const { rows } = await sql<{ sql: string }>`SELECT sql FROM sqlite_master
        WHERE name = 'entries_name_fts'`.execute(index.db);
        expect(rows[0]!.sql).toMatch(/detail=none, columnsize=0/);
        const { rows: config } = await sql<{ v: number }>`SELECT v FROM entries_name_fts_config
        WHERE k = 'hashsize'`.execute(index.db);
        expect(config[0]!.v).toBe(16 * 1024 * 1024);
        // The rows 015 held, and not the backlog: the watermark still tells them apart.
        expect(await indexed(index, '"txt" OR "mp3" OR "fla"')).toEqual([1, 2, 3, 4]);
        const { rows: mark } = await sql<{
          upto: number;
        }>`SELECT upto FROM search_watermark`.execute(index.db);
        expect(mark[0]!.upto).toBe(4);
      } finally {
        await index.close();
      }
    });

    it('finds exactly the names that contain a needle, folded as FTS5 folds', async () => {
      db = await createDatabase('sqlite');
      await index015(db.url);
      const index = await openIndex(db.url);
      try {
        // Both rows hold `abc` and `bcd`; only one holds `abcd`.
        expect(await indexed(index, '"abc" AND "bcd"')).toEqual([1, 2]);
        expect(await found(index, 'abcd')).toEqual(['abcd.txt']);
        expect(await found(index, 'BCD-A')).toEqual(['bcd-abc.txt']);
        expect(await found(index, 'été in')).toEqual(['ÉTÉ INDIEN.mp3', 'été indien.flac']);
        expect(await found(index, 'ÉTÉ.')).toEqual(['Été.mp3']);
        expect(await found(index, 'tÉ.mp')).toEqual(['Été.mp3']);
        expect(await found(index, '.mp3')).toEqual(['x.mp3', 'ÉTÉ INDIEN.mp3', 'Été.mp3']);
        expect(await found(index, 'mp3')).toEqual(['x.mp3', 'ÉTÉ INDIEN.mp3', 'Été.mp3']);
        expect(await found(index, 'kelv')).toEqual(['\u212Aelvin.log']);
        // find: its name's plain text and its extensions, each tested on the rows found.
        const names = [];
        for await (const e of index.queries.find({
          tenantId: 1,
          storageId: 1,
          name: '*tÉ i*',
          extensions: ['mp3', 'flac'],
        })) {
          names.push(e.name);
        }
        expect(names.sort()).toEqual(['ÉTÉ INDIEN.mp3', 'été indien.flac']);
      } finally {
        await index.close();
      }
    });

    it('takes removed and renamed rows out by their old name', async () => {
      db = await createDatabase('sqlite');
      await index015(db.url);
      const index = await openIndex(db.url);
      try {
        await sql`DELETE FROM entries WHERE id = 1`.execute(index.db);
        // The name is computed from the path since 019.
        await sql`UPDATE entries SET name_bytes = 11, path = '/renamed.txt' WHERE id = 2`.execute(
          index.db,
        );
        expect(await indexed(index, '"abc"')).toEqual([]);
        expect(await indexed(index, '"ren" AND "ame"')).toEqual([2]);
        expect(await found(index, 'abcd')).toEqual([]);
        expect(await found(index, 'renamed')).toEqual(['renamed.txt']);
        // The segments still agree with each other (a 'delete' of another name would not).
        await sql`INSERT INTO entries_name_fts (entries_name_fts) VALUES ('integrity-check')`.execute(
          index.db,
        );
        await sql`INSERT INTO entries_name_fts (entries_name_fts) VALUES ('optimize')`.execute(
          index.db,
        );
        expect(await indexed(index, '"txt"')).toEqual([2]);
      } finally {
        await index.close();
      }
    });
  },
);

describe('the fold table of trawl_name_has', () => {
  it('reads from the characters with a case what it reads from all of them', () => {
    const cased = fts5Folds();
    expect(cased.get('Σ')).toBe('σ');
    expect(cased.get('\u212A')).toBe('k');
    expect(cased).toEqual(fts5Folds(true));
  });
});
