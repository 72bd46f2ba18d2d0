/**
 * How the PostgreSQL repository packs a batch into few round trips (BEGIN with the fence,
 * the ids and the savepoint in one message; the COPY's rows sent behind its statement; the
 * children of many directories read packed, one row per directory) — and that none of it
 * weakens a guarantee: a batch that fails anywhere leaves nothing of itself, a stale fence
 * writes nothing, and every value reads back byte for byte.
 */
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closePostgresIndex, openPostgresIndex } from './support/pg-index.js';
import type { EntryScope, EntryWrite } from '../src/db/entries.js';
import type { Index } from '../src/db/open.js';
import { baseName, parentOf } from '../src/storage/paths.js';
import { skipDialect, type TestDatabase } from './support/databases.js';

function write(path: string, size = 1, extra: Partial<EntryWrite> = {}): EntryWrite {
  return {
    path,
    parent: parentOf(path),
    name: baseName(path),
    isDir: false,
    size,
    mtime: 1000,
    etag: null,
    mediaKind: null,
    ...extra,
  };
}

/** More new rows than the repository's COPY threshold, under `dir`. */
const many = (dir: string, n = 600) =>
  Array.from({ length: n }, (_, i) => write(`${dir}/f${i}`, i, { isNew: true }));

describe.skipIf(await skipDialect('postgres'))('PostgreSQL batches in few round trips', () => {
  let database: TestDatabase;
  let index: Index;
  let scope: EntryScope;
  let sql: pg.Client;

  beforeEach(async () => {
    ({ database, index, scope, sql } = await openPostgresIndex());
  });

  afterEach(() => closePostgresIndex({ database, index, sql }));

  const paths = async () =>
    (await sql.query<{ path: string }>('SELECT path FROM entries ORDER BY path')).rows.map(
      (r) => r.path,
    );

  it('leaves nothing of a batch that fails after its COPY: deletions, new rows, updates', async () => {
    await index.entries.apply(scope, [], [write('/old'), write('/keep', 1)]);
    const before = await paths();
    // Fails the batch's last statement, after the delete and the COPY have run.
    await sql.query(`CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN RAISE EXCEPTION 'refused %', NEW.path; END $$`);
    await sql.query(`CREATE TRIGGER refuse BEFORE UPDATE ON entries
      FOR EACH ROW WHEN (NEW.path = '/keep') EXECUTE FUNCTION refuse()`);
    await expect(
      index.entries.apply(
        scope,
        [{ path: '/old', isDir: false }],
        [...many('/new'), write('/keep', 2)],
      ),
    ).rejects.toThrow(/refused \/keep/);
    expect(await paths()).toEqual(before);
    const { rows } = await sql.query(`SELECT size FROM entries WHERE path = '/keep'`);
    expect(Number(rows[0].size)).toBe(1);
    // The connection went back to the pool clean: the next batch writes.
    await sql.query('DROP TRIGGER refuse ON entries');
    const done = await index.entries.apply(scope, [], many('/new'));
    expect(done.created).toHaveLength(600);
  });

  it('leaves nothing of a batch whose COPY fails on a value, and reports the error', async () => {
    await sql.query(`ALTER TABLE entries ADD CONSTRAINT small CHECK (size < 500)`);
    await expect(index.entries.apply(scope, [], many('/big'))).rejects.toThrow(/small/);
    expect(await paths()).toEqual([]);
    const done = await index.entries.apply(scope, [], many('/ok', 400));
    expect(done.created).toHaveLength(400);
    expect(await paths()).toHaveLength(400);
  });

  it('refuses a stale fence on the COPY path and on the upsert path, writing nothing', async () => {
    await sql.query('UPDATE storages SET fence = 7 WHERE id = $1', [scope.storageId]);
    const stale = { ...scope, fence: 6 };
    await expect(index.entries.apply(stale, [], many('/copy'))).rejects.toMatchObject({
      code: 'INDEX_FENCED',
    });
    await expect(index.entries.apply(stale, [], [write('/one')])).rejects.toMatchObject({
      code: 'INDEX_FENCED',
    });
    expect(await paths()).toEqual([]);
    const current = { ...scope, fence: 7 };
    expect((await index.entries.apply(current, [], many('/copy'))).created).toHaveLength(600);
    expect((await index.entries.apply(current, [], [write('/one')])).created).toHaveLength(1);
  });

  it('holds the fence until commit: a lease grant waits for the batch in flight', async () => {
    await sql.query('UPDATE storages SET fence = 3 WHERE id = $1', [scope.storageId]);
    const granting = new pg.Client({ connectionString: database.url });
    await granting.connect();
    try {
      // The batch's COPY takes a second, its fence row locked since BEGIN.
      await sql.query(`CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN PERFORM pg_sleep(1); RETURN NULL; END $$`);
      await sql.query(`CREATE TRIGGER slow BEFORE INSERT ON entries
        FOR EACH STATEMENT EXECUTE FUNCTION slow()`);
      const batch = index.entries.apply({ ...scope, fence: 3 }, [], many('/a'));
      await until(async () => (await activity('COPY entries%')) === 'active');
      const grantPid = (await granting.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
      const grant = granting.query('UPDATE storages SET fence = fence + 1 WHERE id = $1', [
        scope.storageId,
      ]);
      // The grant blocks on the batch's lock rather than slipping in before its commit.
      await until(async () => (await waitOf(grantPid)) === 'Lock');
      expect((await batch).created).toHaveLength(600);
      await grant;
      await expect(
        index.entries.apply({ ...scope, fence: 3 }, [], many('/b')),
      ).rejects.toMatchObject({ code: 'INDEX_FENCED' });
    } finally {
      await granting.end();
    }
  });

  /** The state of the backend running a statement like `pattern`, if any. */
  const activity = async (pattern: string) =>
    (
      await sql.query<{ state: string }>(
        `SELECT state FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()`,
        [pattern],
      )
    ).rows[0]?.state;

  const waitOf = async (pid: number) =>
    (
      await sql.query<{ w: string | null }>(
        `SELECT wait_event_type AS w FROM pg_stat_activity WHERE pid = $1`,
        [pid],
      )
    ).rows[0]?.w;

  async function until(check: () => Promise<boolean>): Promise<void> {
    for (let i = 0; i < 400; i++) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('condition never held');
  }

  it('reads every field of many directories back exactly, awkward values included', async () => {
    const odd = ['tab\there', 'new\nline', 'back\\slash', '\\N', '\\', 'cr\rx', 'plain'];
    const writes: EntryWrite[] = [];
    for (const d of odd) {
      writes.push(write(`/${d}`, 0, { isDir: true }));
      for (const [i, n] of odd.entries()) {
        writes.push(
          write(`/${d}/${n}`, 2 ** 40 + i, {
            mtime: -5 + i,
            etag: [null, '', '\\N', 'e\tt\na\\g', '"W/1"', 'x', null][i]!,
            mediaKind: i % 2 ? 'video' : null,
          }),
        );
      }
    }
    await index.entries.apply(scope, [], writes);
    const dirs = odd.map((d) => `/${d}`);
    const children = await index.entries.childrenOf(scope, [...dirs, '/absent']);
    expect([...children.keys()].sort()).toEqual([...dirs].sort());
    const byRow = await index.entries.lookup(
      scope,
      writes.filter((w) => w.parent !== '/').map((w) => w.path),
    );
    for (const d of dirs) {
      const got = children.get(d)!;
      expect(got).toHaveLength(odd.length);
      for (const e of got) expect(e).toEqual(byRow.get(e.path));
    }
    for (const w of writes.filter((x) => x.parent !== '/')) {
      expect(byRow.get(w.path)).toMatchObject({
        size: w.size,
        mtime: w.mtime,
        etag: w.etag,
        mediaKind: w.mediaKind,
        isDir: false,
      });
    }
  });
});
