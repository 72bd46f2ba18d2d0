/**
 * Migration 009 on PostgreSQL: `entries` unique on (storage_id, path) instead of
 * (storage_id, tenant_id, path). An index written by 008 is carried over without a rescan:
 * its rows are found, an unchanged write writes nothing, a changed one updates in place, a
 * removal removes — and the key now refuses a second row at a storage's path whatever
 * tenant it names.
 */
import { Migrator, sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { EntryWrite } from '../src/db/entries.js';
import { migrations } from '../src/db/migrations/index.js';
import { openIndex } from '../src/db/open.js';
import { connectPostgres } from '../src/db/postgres/connect.js';
import { baseName, parentOf } from '../src/storage/paths.js';
import {
  createDatabase,
  rowsWritten,
  skipDialect,
  type TestDatabase,
} from './support/databases.js';

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
    await conn.whileOpening(async () => {
      const migrator = new Migrator({ db: conn.db, provider: migrations(conn.dialect) });
      const { error } = await migrator.migrateTo('008-stats-and-large-files');
      if (error) throw error;
    });
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

describe.skipIf(await skipDialect('postgres'))('migration 009 on postgres', () => {
  let db: TestDatabase | undefined;
  afterEach(async () => {
    await db?.drop();
    db = undefined;
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
        sql`INSERT INTO entries (tenant_id, storage_id, path, parent, name, is_dir, size, mtime)
          VALUES (2, 1, '/a/y.txt', '/a', 'y.txt', 0, 1, 1)`.execute(index.db),
      ).rejects.toMatchObject({ code: '23505' });
    } finally {
      await index.close();
    }
  });
});
