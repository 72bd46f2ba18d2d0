/**
 * The references of `npm run bench:db`: the grid's rows written straight into a freshly
 * migrated index of the same schema, as fast as the driver allows, with none of a scan's
 * work (no listing, no diff, no reads). PostgreSQL: `COPY … FROM STDIN` of 5,000 rows a
 * statement (ids drawn from the sequence first, as the repository does, each COPY its own
 * transaction). SQLite: one prepared INSERT per row, 5,000 rows a transaction.
 */
import pg from 'pg';
import { gridRows } from './grid.js';

const BATCH = 5000;
const dist = new URL('../../dist/', import.meta.url);

/**
 * A freshly migrated index at `target` with one tenant and one storage to write into, by the
 * build whose compiled modules are at `from` (another worktree's dist/, for an A/B).
 */
export async function prepared(target, from = dist) {
  const { openIndex } = await import(new URL('db/open.js', from).href);
  const { mediaKindOf } = await import(new URL('scan/media.js', from).href);
  const index = await openIndex(target);
  const tenantId = await index.tenants.ensure('default');
  const storage = await index.storages.upsert({
    tenantId,
    name: 'bench',
    kind: 'memory',
    location: 'memory://bench',
    options: { volume: 'bench' },
  });
  return { index, tenantId, storageId: storage.id, mediaKindOf };
}

function* batches(dirs, files) {
  let rows = [];
  for (const r of gridRows(dirs, files)) {
    rows.push(r);
    if (rows.length === BATCH) {
      yield rows;
      rows = [];
    }
  }
  if (rows.length > 0) yield rows;
}

/** Seconds and rows of the raw COPY of the grid into a fresh PostgreSQL index at `url`. */
export async function rawCopy(url, dirs, files) {
  const { index, tenantId, storageId, mediaKindOf } = await prepared(url);
  await index.close();
  const { copyIn, copyText } = await import(new URL('db/postgres/copy.js', dist).href);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const head = `\t${tenantId}\t${storageId}\t`;
    let written = 0;
    const t0 = performance.now();
    for (const rows of batches(dirs, files)) {
      const { rows: ids } = await client.query({
        text: `SELECT nextval('entries_id_seq') FROM generate_series(1, $1)`,
        values: [rows.length],
        rowMode: 'array',
      });
      let data = '';
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i];
        const media = r.isDir ? null : mediaKindOf(r.name);
        data += `${ids[i][0]}${head}${copyText(r.path)}\t${copyText(r.name)}\t${
          r.isDir ? 1 : 0
        }\t${r.size}\t${r.mtime}\t\\N\t${copyText(media)}\n`;
      }
      await copyIn(
        client,
        // No parent: computed from path and name since migration 018.
        `COPY entries (id, tenant_id, storage_id, path, name, is_dir, size, mtime, etag,
          media_kind) FROM STDIN`,
        Buffer.from(data),
      );
      written += rows.length;
    }
    const seconds = (performance.now() - t0) / 1000;
    const { rows } = await client.query('SELECT count(*)::int AS n FROM entries');
    if (rows[0].n !== written) throw new Error(`raw COPY: ${rows[0].n} rows, expected ${written}`);
    return { seconds, rows: written };
  } finally {
    await client.end();
  }
}

/** Seconds and rows of raw prepared INSERTs of the grid into a fresh SQLite index at `file`. */
export async function rawInsert(file, dirs, files) {
  const { index, tenantId, storageId, mediaKindOf } = await prepared(file);
  try {
    const db = index.entries.database;
    // No parent: SQLite computes it from path and name since migration 007, and the name
    // from the path and its length in bytes since 019; the parent id is left NULL here.
    const insert = db.prepare(`INSERT INTO entries (tenant_id, storage_id, path, name_bytes,
      is_dir, size, mtime, etag, media_kind)
      VALUES (?, ?, ?, length(CAST(? AS BLOB)), ?, ?, ?, NULL, ?)`);
    const write = db.transaction((rows) => {
      for (const r of rows) {
        const media = r.isDir ? null : mediaKindOf(r.name);
        insert.run(tenantId, storageId, r.path, r.name, r.isDir ? 1 : 0, r.size, r.mtime, media);
      }
    });
    let written = 0;
    const t0 = performance.now();
    for (const rows of batches(dirs, files)) {
      write(rows);
      written += rows.length;
    }
    const seconds = (performance.now() - t0) / 1000;
    const n = db.prepare('SELECT count(*) FROM entries').pluck().get();
    if (n !== written) throw new Error(`raw INSERT: ${n} rows, expected ${written}`);
    return { seconds, rows: written };
  } finally {
    await index.close();
  }
}
