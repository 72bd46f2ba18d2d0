/**
 * Where the bytes and the time of the index go (docs/index-database.md): the bench:search
 * tree written as a first scan writes it (EntryRepository.apply with new rows) into several
 * indexes at once, batch by batch in turn — the schema as migrated, and the same with one of
 * its indexes dropped — so that a machine whose load changes during the run weighs on each
 * alike. Prints each variant's write time against the whole schema's, and the bytes per
 * entry of the table and of each index of the whole schema.
 *
 *   npm run bench:schema -- [--entries 300000] [--only sqlite|postgres] [--variants | --fts] [--compact]
 *
 * `--compact` also prints the bytes once the indexes are rebuilt (PostgreSQL: REINDEX of
 * each index of `entries`; SQLite: VACUUM): what a first write leaves unused in its pages.
 */
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import type { Dialect } from '../src/db/dialect.js';
import type { EntryRepository } from '../src/db/entries.js';
import { openIndex, type Index } from '../src/db/open.js';
import { SqliteEntryRepository } from '../src/db/sqlite/entries.js';
import { NameIndexBacklog } from '../src/db/sqlite/name-index.js';
import { createDatabase, skipDialect, type TestDatabase } from '../test/support/databases.js';
import { benchScope, dropIndex, dropNameIndex, writeInterleaved } from './bench-writes.js';

interface Variant {
  name: string;
  /** What it drops from the migrated schema (absent objects are skipped). */
  drop: (index: Index) => Promise<void>;
}

const AS_IS: Variant = { name: 'as migrated', drop: async () => undefined };

/** SQLite after 007: how the FTS5 name index is filled (`--fts`). */
const FTS_VARIANTS: Variant[] = [
  AS_IS,
  {
    name: 'name index: one bulk at the end',
    drop: async (i) => {
      const raw = (i.entries as SqliteEntryRepository).database;
      (i as { entries: EntryRepository }).entries = new SqliteEntryRepository(
        raw,
        new NameIndexBacklog(raw, Number.POSITIVE_INFINITY),
      );
    },
  },
  {
    name: 'name index: a trigger per row (006)',
    drop: async (i) => {
      await sql`UPDATE search_watermark SET upto = 9007199254740991`.execute(i.db);
      await sql`CREATE TRIGGER entries_name_fts_insert AFTER INSERT ON entries BEGIN
        INSERT INTO entries_name_fts (rowid, name) VALUES (new.id, new.name); END`.execute(i.db);
    },
  },
  { name: '− name index', drop: dropNameIndex },
];
const VARIANTS: Variant[] = [
  AS_IS,
  { name: '− (storage_id, parent)', drop: (i) => dropIndex(i, 'entries_storage_parent') },
  {
    // SQLite's (parent_id, is_dir, name) since 019.
    name: '− the children index',
    drop: async (i) => {
      await dropIndex(i, 'entries_storage_parent_name');
      await dropIndex(i, 'entries_parent_name');
    },
  },
  { name: '− name index', drop: dropNameIndex },
  {
    // SQLite's 017: the name order by kind, as a heap with no key (the writer still fills it).
    name: '− name order by kind (017)',
    drop: async (i) => {
      if (i.dialect !== 'sqlite') return;
      for (const t of ['delete', 'update']) {
        await sql`DROP TRIGGER ${sql.ref(`entries_name_order_${t}`)}`.execute(i.db);
      }
      await sql`DROP TABLE entries_name_order`.execute(i.db);
      await sql`CREATE TABLE entries_name_order (media_kind, tenant_id, name, id)`.execute(i.db);
    },
  },
  {
    name: 'table + unique path only',
    drop: async (i) => {
      await dropIndex(i, 'entries_storage_parent');
      await dropIndex(i, 'entries_storage_parent_name');
      await dropIndex(i, 'entries_parent_name');
      await dropNameIndex(i);
    },
  },
];

/** Bytes on disk of the entries table and each of its indexes, by name. */
async function objectSizes(index: Index): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (index.dialect === 'postgres') {
    await sql`VACUUM ANALYZE entries`.execute(index.db);
    const { rows } = await sql<{ name: string; bytes: string }>`
      SELECT c.relname AS name, pg_relation_size(c.oid)::bigint AS bytes FROM pg_class c
      WHERE c.oid = 'entries'::regclass
         OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'entries'::regclass)
      UNION ALL
      SELECT 'entries (toast)', COALESCE(pg_total_relation_size(reltoastrelid), 0)::bigint
      FROM pg_class WHERE oid = 'entries'::regclass`.execute(index.db);
    for (const r of rows) out.set(r.name, Number(r.bytes));
    return out;
  }
  const { rows } = await sql<{ name: string; bytes: number }>`
    SELECT CASE WHEN name LIKE 'entries_name_fts%' THEN 'entries_name_fts (FTS5 tables)'
      ELSE name END AS name, sum(pgsize) AS bytes
    FROM dbstat WHERE name LIKE 'entries%' OR name = 'sqlite_autoindex_entries_1'
    GROUP BY 1`.execute(index.db);
  for (const r of rows) out.set(r.name, Number(r.bytes));
  return out;
}

/** Bytes per entry once every index is rebuilt, against `before` (as the first write left them). */
async function printCompacted(
  index: Index,
  entries: number,
  before: Map<string, number>,
): Promise<void> {
  if (index.dialect === 'postgres') {
    for (const name of before.keys()) {
      if (name.startsWith('entries_')) await sql`REINDEX INDEX ${sql.ref(name)}`.execute(index.db);
    }
  } else await sql`VACUUM`.execute(index.db);
  const after = await objectSizes(index);
  let was = 0;
  let now = 0;
  console.log('  bytes per entry, as written → rebuilt:');
  for (const [name, bytes] of [...before].sort((a, b) => b[1] - a[1])) {
    const rebuilt = after.get(name) ?? 0;
    was += bytes;
    now += rebuilt;
    const show = (n: number) => (n / entries).toFixed(1).padStart(7);
    console.log(`    ${name.padEnd(38)} ${show(bytes)} → ${show(rebuilt)}`);
  }
  console.log(
    `    ${'total'.padEnd(38)} ${(was / entries).toFixed(1).padStart(7)} → ${(now / entries).toFixed(1).padStart(7)}`,
  );
}

async function run(dialect: Dialect, entries: number, variants: Variant[]): Promise<void> {
  const dbs: TestDatabase[] = [];
  const indexes: Index[] = [];
  const scopes: { tenantId: number; storageId: number }[] = [];
  try {
    for (const v of variants) {
      const db = await createDatabase(dialect);
      dbs.push(db);
      const index = await openIndex(db.url);
      indexes.push(index);
      await v.drop(index);
      scopes.push(await benchScope(index));
    }
    const ms = await writeInterleaved(indexes, scopes, entries);
    // A search brings a name index kept up in bulk (SQLite, 007) up to date: its last
    // backlog is part of the write.
    for (let v = 0; v < variants.length; v++) {
      const t0 = performance.now();
      await indexes[v]!.queries.search({ tenantId: scopes[v]!.tenantId, name: 'zzzzzz' });
      ms[v]! += performance.now() - t0;
    }
    // The end of a first scan: what the repository tidies up then (PostgreSQL rebuilds the
    // B-trees the load left half full), timed apart from the write.
    const settled = [];
    for (let v = 0; v < variants.length; v++) {
      const t0 = performance.now();
      await indexes[v]!.entries.afterScan?.(entries);
      settled.push(performance.now() - t0);
    }
    console.log(`\n${dialect}, ${entries.toLocaleString('en')} entries, first write`);
    for (let v = 0; v < variants.length; v++) {
      const s = ms[v]! / 1000;
      console.log(
        `  ${variants[v]!.name.padEnd(38)} ${s.toFixed(1).padStart(6)} s  ` +
          `${Math.round(entries / s)
            .toLocaleString('en')
            .padStart(8)} entries/s  ` +
          `×${(ms[v]! / ms[0]!).toFixed(2)}`,
      );
      if (settled[v]! >= 1) {
        console.log(
          `    then at the scan's end (afterScan)       ${(settled[v]! / 1000).toFixed(1).padStart(6)} s`,
        );
      }
    }
    const sizes = await objectSizes(indexes[0]!);
    let total = 0;
    console.log(`  bytes per entry (${variants[0]!.name}):`);
    for (const [name, bytes] of [...sizes].sort((a, b) => b[1] - a[1])) {
      total += bytes;
      console.log(`    ${name.padEnd(38)} ${(bytes / entries).toFixed(1).padStart(7)}`);
    }
    console.log(`    ${'total'.padEnd(38)} ${(total / entries).toFixed(1).padStart(7)}`);
    if (compact) await printCompacted(indexes[0]!, entries, sizes);
  } finally {
    for (const index of indexes) await index.close().catch(() => undefined);
    for (const db of dbs) await db.drop().catch(() => undefined);
  }
}

const { values } = parseArgs({
  options: {
    entries: { type: 'string', default: '300000' },
    only: { type: 'string' },
    variants: { type: 'boolean', default: false },
    fts: { type: 'boolean', default: false },
    compact: { type: 'boolean', default: false },
  },
});
const compact = values.compact;
const entries = Number(values.entries);
const dialects: Dialect[] = values.only ? [values.only as Dialect] : ['sqlite', 'postgres'];
for (const dialect of dialects) {
  if (await skipDialect(dialect)) {
    console.log(`${dialect}: not available, skipped`);
    continue;
  }
  const fts = values.fts && dialect === 'sqlite';
  await run(dialect, entries, fts ? FTS_VARIANTS : values.variants ? VARIANTS : [AS_IS]);
}
