/**
 * What the indexes of migration 006 (and 008's triggers) cost a first scan's writes: the bench tree written, as
 * a scan writes it (EntryRepository.apply with new rows: COPY on PostgreSQL, multi-row
 * INSERTs on SQLite), into three indexes at once, batch by batch in turn — one without
 * 006's indexes, one with the name index only, one whole — so that a machine whose load
 * changes during the run weighs on the three alike. Each variant's time is the sum of its
 * own batches.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { sql } from 'kysely';
import type { Dialect } from '../src/db/dialect.js';
import { openIndex, type Index } from '../src/db/open.js';
import {
  createDatabase,
  PG_ADMIN_URL,
  withPg,
  type TestDatabase,
} from '../test/support/databases.js';
import { benchScope, dropNameIndex, writeInterleaved } from './bench-writes.js';

export type Variant =
  | 'without'
  | 'name index'
  | 'all of 006'
  | '+ 008'
  | '+ 009'
  | '+ 012'
  | '012 → 014'
  | '+ 017'
  | '+ tenant name';
/**
 * `+ 008`: 006 and migration 008: the partial index of files of 100 MB and more by size,
 * and on PostgreSQL the statement triggers counting each storage's writes (what tells a
 * cached `stats` to count again). The variants before it are without 008. `+ 009`: and
 * 009's index of the tenant's entries by 30-day step of mtime (the whole index; on SQLite
 * 013's table of the same keys, filled with the name index's backlog).
 * `+ 012` (PostgreSQL): and 012's index of the tenant's entries by name (the whole index).
 * `012 → 014` (PostgreSQL): 012's index split in two by 014 (each media kind's entries by name,
 * and the rest's): the whole index as migrated.
 * `+ 017` (SQLite): and 017's table of each media kind's entries by name, filled with the
 * name index's backlog: the whole index as migrated.
 * `+ tenant name` (with `--rejected`): 006 plus the index it does not keep, one ordering
 * the tenant's entries by name, to show what such an index costs.
 */
const VARIANTS: Variant[] = [
  'without',
  'name index',
  'all of 006',
  '+ 008',
  '+ 009',
  '+ 012',
  '012 → 014',
  '+ 017',
];
const REJECTED: Variant = '+ tenant name';

export interface Written {
  variant: Variant;
  seconds: number;
  mb: number;
}

export interface Loaded {
  /** The whole index, loaded, for the queries; drop() when done. */
  index: Index;
  drop: () => Promise<void>;
  tenantId: number;
  storageId: number;
  written: Written[];
}

/** Drops what 006 made beyond the variant's (or adds what it rejected). */
async function strip(index: Index, variant: Variant): Promise<void> {
  if (variant === '012 → 014' || variant === '+ 017') return;
  if (index.dialect === 'sqlite') {
    // 017: a table the catch-up fills, left as a heap without its key or triggers, as 013's.
    for (const t of ['delete', 'update']) {
      await sql`DROP TRIGGER ${sql.ref(`entries_name_order_${t}`)}`.execute(index.db);
    }
    await sql`DROP TABLE entries_name_order`.execute(index.db);
    await sql`CREATE TABLE entries_name_order (media_kind, tenant_id, name, id)`.execute(index.db);
  }
  // 012's and 014's name orders are PostgreSQL's only: SQLite's '+ 012' and '012 → 014' are its
  // '+ 009'. 014 replaced 012's index with its two: '+ 012' builds 012's back.
  if (index.dialect === 'postgres') {
    await sql`DROP INDEX entries_tenant_kind_name`.execute(index.db);
    await sql`DROP INDEX entries_tenant_plain_name`.execute(index.db);
    if (variant === '+ 012') {
      await sql`CREATE INDEX entries_tenant_name
        ON entries (tenant_id, name COLLATE "C", id)`.execute(index.db);
      return;
    }
  }
  if (variant === '+ 009') return;
  if (index.dialect === 'sqlite') {
    // 013: the steps are a table the name index's catch-up fills. Left without its key or
    // triggers (a heap the catch-up appends to: a few ms per 100,000 rows), not dropped:
    // the catch-up's statement names it.
    for (const t of ['delete', 'update']) {
      await sql`DROP TRIGGER ${sql.ref(`entries_time_steps_${t}`)}`.execute(index.db);
    }
    await sql`DROP TABLE entries_time_steps`.execute(index.db);
    await sql`CREATE TABLE entries_time_steps (tenant_id, step, id)`.execute(index.db);
  } else await sql`DROP INDEX entries_mtime_step`.execute(index.db);
  if (variant === '+ 008') return;
  await sql`DROP INDEX entries_large`.execute(index.db);
  if (index.dialect === 'postgres') {
    for (const t of ['insert', 'update', 'delete']) {
      await sql`DROP TRIGGER ${sql.ref(`entries_writes_${t}`)} ON entries`.execute(index.db);
    }
  }
  if (variant === 'all of 006') return;
  if (variant === REJECTED) {
    const name = index.dialect === 'postgres' ? sql`name COLLATE "C"` : sql`name`;
    await sql`CREATE INDEX entries_tenant_name ON entries (tenant_id, ${name}, id)`.execute(
      index.db,
    );
    return;
  }
  // SQLite's children index is entries_parent_name since 019.
  await sql`DROP INDEX ${sql.id(
    index.dialect === 'sqlite' ? 'entries_parent_name' : 'entries_storage_parent_name',
  )}`.execute(index.db);
  if (variant === 'name index') return;
  await dropNameIndex(index);
}

async function sizeMb(index: Index): Promise<number> {
  const size =
    index.dialect === 'postgres'
      ? sql<{ b: number }>`SELECT pg_total_relation_size('entries')::bigint AS b`
      : sql<{ b: number }>`SELECT page_count * page_size AS b
          FROM pragma_page_count(), pragma_page_size()`;
  const { rows } = await size.execute(index.db);
  return Number(rows[0]!.b) / 2 ** 20;
}

export async function loadAll(
  dialect: Dialect,
  entries: number,
  rejected = false,
): Promise<Loaded> {
  // The whole index (the one the queries run on) last.
  const all =
    dialect === 'postgres'
      ? VARIANTS.filter((v) => v !== '+ 017')
      : VARIANTS.filter((v) => v !== '+ 012' && v !== '012 → 014');
  const variants: Variant[] = rejected ? [...all.slice(0, 2), REJECTED, ...all.slice(2)] : all;
  const dbs: TestDatabase[] = [];
  const indexes: Index[] = [];
  const scopes: { tenantId: number; storageId: number }[] = [];
  try {
    for (const variant of variants) {
      const db = await createDatabase(dialect);
      dbs.push(db);
      const index = await openIndex(db.url);
      indexes.push(index);
      await strip(index, variant);
      scopes.push(await benchScope(index));
    }
    const ms = await writeInterleaved(indexes, scopes, entries);
    const written: Written[] = [];
    for (let v = 0; v < variants.length; v++) {
      written.push({
        variant: variants[v]!,
        seconds: ms[v]! / 1000,
        mb: await sizeMb(indexes[v]!),
      });
    }
    const last = variants.length - 1;
    for (let v = 0; v < last; v++) {
      await indexes[v]!.close();
      await dbs[v]!.drop();
    }
    return {
      index: indexes[last]!,
      drop: async () => {
        await indexes[last]!.close();
        await dbs[last]!.drop();
      },
      ...scopes[last]!,
      written,
    };
  } catch (error) {
    for (const index of indexes) await index.close().catch(() => undefined);
    for (const db of dbs) await db.drop().catch(() => undefined);
    throw error;
  }
}

/**
 * The whole index of `entries` bench entries, kept between runs (`--keep`): loaded once
 * into `.bench/search-<dialect>-<N>` (then VACUUM ANALYZE on PostgreSQL, as bench:search does after its load), reused after. No
 * write table: `written` is empty, and drop() only closes it.
 */
export async function loadKept(
  dialect: Dialect,
  entries: number,
  prefix = 'search',
): Promise<Loaded> {
  const name = `${prefix}_${dialect}_${entries}`;
  let url: string;
  let fresh: boolean;
  if (dialect === 'sqlite') {
    mkdirSync('.bench', { recursive: true });
    url = `.bench/${name}.db`;
    fresh = !existsSync(url);
  } else {
    const admin = new URL(PG_ADMIN_URL);
    fresh = await withPg(admin.toString(), async (c) => {
      const { rowCount } = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      if (rowCount) return false;
      await c.query(`CREATE DATABASE ${name}`);
      return true;
    });
    admin.pathname = `/${name}`;
    url = admin.toString();
  }
  const t0 = performance.now();
  const index = await openIndex(url);
  if (!fresh)
    console.log(
      `opened ${url} (migrated if it had to be) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
  const scope = await benchScope(index);
  if (fresh) {
    await writeInterleaved([index], [scope], entries);
    if (dialect === 'postgres') await sql`VACUUM ANALYZE entries`.execute(index.db);
  }
  return { index, drop: () => index.close(), ...scope, written: [] };
}
