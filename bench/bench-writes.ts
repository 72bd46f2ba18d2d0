/**
 * What the write benches share: the storage they write into, and the first write of a bench
 * tree into several indexes batch by batch in turn, so that the machine's load weighs on
 * each alike (the ratios between them are what is read).
 */
import { sql } from 'kysely';
import type { EntryScope } from '../src/db/entries.js';
import type { Index } from '../src/db/open.js';
import { benchTree } from './search-tree.js';

/** Tenant `bench`'s memory storage `bench` in `index`. */
export async function benchScope(index: Index): Promise<EntryScope> {
  const tenantId = await index.tenants.ensure('bench');
  const { id: storageId } = await index.storages.upsert({
    tenantId,
    name: 'bench',
    kind: 'memory',
    location: 'memory://bench',
    options: { volume: 'bench' },
  });
  return { tenantId, storageId };
}

/** Writes `entries` of the bench tree into every index, interleaved; ms spent in each. */
export async function writeInterleaved(
  indexes: readonly Index[],
  scopes: readonly EntryScope[],
  entries: number,
): Promise<number[]> {
  const ms = indexes.map(() => 0);
  for (const batch of benchTree(entries).batches(indexes[0]!.entries.batchEntries)) {
    for (let v = 0; v < indexes.length; v++) {
      // Each index takes its own copy: a repository may sort or mark what it is given.
      const copy = batch.map((e) => ({ ...e }));
      const t0 = performance.now();
      await indexes[v]!.entries.apply(scopes[v]!, [], copy);
      ms[v]! += performance.now() - t0;
    }
  }
  return ms;
}

export async function dropIndex(index: Index, name: string): Promise<void> {
  await sql`DROP INDEX IF EXISTS ${sql.ref(name)}`.execute(index.db);
}

/**
 * The name index out of the write path: dropped (006), or on SQLite after 007 a watermark
 * above every id, so that the repository adds nothing to it.
 */
export async function dropNameIndex(index: Index): Promise<void> {
  if (index.dialect === 'postgres') return dropIndex(index, 'entries_name_trgm');
  const { rows } = await sql<{ n: number }>`SELECT count(*) AS n FROM sqlite_master
    WHERE name = 'search_watermark'`.execute(index.db);
  if (rows[0]!.n > 0) {
    // 007: the repository adds rows above the mark in bulk; a mark above every id adds none.
    await sql`UPDATE search_watermark SET upto = 9007199254740991`.execute(index.db);
    return;
  }
  for (const t of ['insert', 'delete', 'update']) {
    await sql`DROP TRIGGER IF EXISTS ${sql.ref(`entries_name_fts_${t}`)}`.execute(index.db);
  }
  await sql`DROP TABLE IF EXISTS entries_name_fts`.execute(index.db);
}
