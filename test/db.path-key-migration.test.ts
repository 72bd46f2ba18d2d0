/**
 * Migration 010 on PostgreSQL: `entries` unique on (storage_id, path) instead of
 * (storage_id, tenant_id, path). An index written by 008 is carried over without a rescan:
 * its rows are found, an unchanged write writes nothing, a changed one updates in place, a
 * removal removes — and the key now refuses a second row at a storage's path whatever
 * tenant it names.
 */
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { EntryWrite } from '../src/db/entries.js';
import { openIndex } from '../src/db/open.js';
import { connectPostgres } from '../src/db/postgres/connect.js';
import { baseName, parentOf } from '../src/storage/paths.js';
import {
  createDatabase,
  rowsWritten,
  skipDialect,
  withPg,
  type TestDatabase,
} from './support/databases.js';
import { migrateTo } from './support/older-index.js';

const OLD = ['/a', '/a/x.mkv', '/a/y.txt', '/b'];

function write(path: string, size = 10): EntryWrite {
  const isDir = path === '/a' || path === '/b';
  return {
    path,
    parent: parentOf(path),
    name: baseName(path),
    isDir,
    size: isDir ? 0 : size,
    mtime: 1,
    etag: null,
    mediaKind: null,
  };
}

/** An index as trawl 008 left it, with the rows of OLD in storage 1 of tenant 1. */
async function index008(url: string): Promise<void> {
  const conn = connectPostgres(url, {});
  try {
    await migrateTo(conn, '008-stats-and-large-files');
    await sql`INSERT INTO tenants (name, created_at) VALUES ('default', 0), ('other', 0)`.execute(
      conn.db,
    );
    await sql`INSERT INTO storages (tenant_id, name, kind, location, options, version, enabled, created_at, updated_at)
      VALUES (1, 's', 'memory', 'memory://s', '{"volume":"s"}', 1, 1, 0, 0)`.execute(conn.db);
    for (const path of OLD) {
      const w = write(path);
      await sql`INSERT INTO entries (tenant_id, storage_id, path, parent, name, is_dir, size, mtime)
        VALUES (1, 1, ${w.path}, ${w.parent}, ${w.name}, ${w.isDir ? 1 : 0}, ${w.size}, 1)`.execute(
        conn.db,
      );
    }
  } finally {
    await conn.close();
  }
}

/** Bytes of one index of `url`'s database. */
async function indexBytes(url: string, name: string): Promise<number> {
  return withPg(url, async (c) => {
    const { rows } = await c.query<{ n: string }>('SELECT pg_relation_size($1::regclass) AS n', [
      name,
    ]);
    return Number(rows[0]!.n);
  });
}

describe.skipIf(await skipDialect('postgres'))('migration 010 on postgres', () => {
  let db: TestDatabase | undefined;
  afterEach(async () => {
    await db?.drop();
    db = undefined;
  });

  it('packs the children index a first scan left half empty', async () => {
    db = await createDatabase('postgres');
    await index008(db.url);
    // As a first scan writes: ascending runs of rows into the middle of the key space
    // (here before the children of /zz, written first: not the index's last page), batch after batch.
    await withPg(db.url, async (c) => {
      const row = `1, 1, p || '/' || n, p, n, 0, 1, 1`;
      await c.query(`INSERT INTO entries (tenant_id, storage_id, path, parent, name, is_dir, size, mtime)
        SELECT ${row} FROM (SELECT '/zz' AS p, 'file ' || f AS n FROM generate_series(1, 1000) f) x`);
      for (let batch = 0; batch < 20; batch++) {
        await c.query(
          `INSERT INTO entries (tenant_id, storage_id, path, parent, name, is_dir, size, mtime)
          SELECT ${row} FROM (SELECT '/d' || lpad(d::text, 4, '0') AS p,
            'a file name of some length ' || lpad(f::text, 4, '0') AS n
            FROM generate_series($1::int, $1::int + 4) d, generate_series(1, 200) f ORDER BY 1, 2) x`,
          [batch * 5],
        );
      }
    });
    const before = await indexBytes(db.url, 'entries_storage_parent_name');
    const index = await openIndex(db.url);
    await index.close();
    const after = await indexBytes(db.url, 'entries_storage_parent_name');
    expect(after).toBeLessThan(before * 0.75);
  });

  it('carries an 008 index over without a rescan, keyed on (storage_id, path)', async () => {
    db = await createDatabase('postgres');
    await index008(db.url);
    const index = await openIndex(db.url);
    try {
      const { rows: keys } = await sql<{ def: string }>`SELECT pg_get_constraintdef(oid) AS def
        FROM pg_constraint WHERE conrelid = 'entries'::regclass AND contype = 'u'`.execute(
        index.db,
      );
      expect(keys.map((k) => k.def)).toEqual(['UNIQUE (storage_id, path)']);
      const scope = { tenantId: 1, storageId: 1 };
      const kids = await index.entries.childrenOf(scope, ['/', '/a']);
      expect(
        kids
          .get('/')
          ?.map((e) => e.path)
          .sort(),
      ).toEqual(['/a', '/b']);
      expect(
        kids
          .get('/a')
          ?.map((e) => e.path)
          .sort(),
      ).toEqual(['/a/x.mkv', '/a/y.txt']);
      // The upsert's conflict target is the new key: unchanged rows write nothing …
      const unchanged = OLD.map((p) => ({ ...write(p), isNew: false }));
      expect(await rowsWritten(index, () => index.entries.apply(scope, [], unchanged))).toBe(0);
      // … a changed one is updated in place, a removal removes, a new row is created.
      const done = await index.entries.apply(
        scope,
        [{ path: '/b', isDir: true }],
        [write('/a/x.mkv', 11), write('/a/z.flac')],
      );
      expect(done.updated).toHaveLength(1);
      expect(done.created).toHaveLength(1);
      expect(done.deleted).toHaveLength(1);
      const after = await index.entries.lookup(scope, ['/a/x.mkv', '/a/z.flac', '/b']);
      expect(after.get('/a/x.mkv')?.size).toBe(11);
      expect(after.has('/a/z.flac')).toBe(true);
      expect(after.has('/b')).toBe(false);
      // No second row at a storage's path, whichever tenant a writer names.
      await expect(
        sql`INSERT INTO entries (tenant_id, storage_id, path, name, is_dir, size, mtime)
          VALUES (2, 1, '/a/y.txt', 'y.txt', 0, 1, 1)`.execute(index.db),
      ).rejects.toMatchObject({ code: '23505' });
    } finally {
      await index.close();
    }
  });
});
