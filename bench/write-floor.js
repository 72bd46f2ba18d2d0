#!/usr/bin/env node
/**
 * The write floor of a local first scan (issue 12), run by bench/local.js as a child process:
 * the rows a first scan of ROOT writes, inserted by the plainest fast means, so a first
 * scan's time can be read against what its writes alone cost on this machine.
 *
 *   node bench/write-floor.js ROOT --db FILE [--bare]
 *
 * The tree is read first (breadth first, `lstat` per entry, as the scan lists it) and is not
 * timed. Timed: one transaction of prepared 100-row `INSERT … VALUES` (900 bound parameters,
 * as the writer's), then — in the migrated schema — the name index (FTS5 trigram), the
 * time steps and the name order by kind filled by one `INSERT … SELECT` each and the
 * watermark moved, the commit, and
 * the close (WAL checkpoint), as a scan pays them; `parts`: milliseconds of each. `--bare`: the same rows into a table of
 * the same columns with only the unique path index. Prints `{ ms, cpuS, rows, parts }` (CPU of
 * this process over the timed part: it has one thread).
 */
import { parseArgs } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import { prepared } from './lib/raw-writes.js';
import { treeListings } from './lib/tree.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { db: { type: 'string' }, bare: { type: 'boolean', default: false } },
});
const [root] = positionals;
if (!root || !values.db) {
  console.error('usage: node bench/write-floor.js ROOT --db FILE [--bare]');
  process.exit(1);
}

const CHUNK = 100;
const COLUMNS = 'tenant_id, storage_id, path, name, is_dir, size, mtime, etag, media_kind';

/** Every entry under root as `[path, name, isDir, size, mtime]`, breadth first. */
function readTree(dir) {
  const out = [];
  for (const [, entries] of treeListings(dir)) {
    for (const e of entries) out.push([e.path, e.name, e.isDir ? 1 : 0, e.size, e.mtime]);
  }
  return out;
}

async function open() {
  if (!values.bare) {
    const { index, tenantId, storageId, mediaKindOf } = await prepared(values.db);
    await index.close();
    const db = new BetterSqlite3(values.db);
    db.pragma('synchronous = NORMAL');
    return { db, tenantId, storageId, mediaKindOf };
  }
  const { mediaKindOf } = await import(new URL('../dist/scan/media.js', import.meta.url).href);
  const db = new BetterSqlite3(values.db);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(`CREATE TABLE entries (id integer PRIMARY KEY AUTOINCREMENT, tenant_id integer NOT NULL,
    storage_id integer NOT NULL, path text NOT NULL, name text NOT NULL, is_dir smallint NOT NULL,
    size integer NOT NULL, mtime integer NOT NULL, etag text, media_kind text,
    UNIQUE (storage_id, tenant_id, path))`);
  return { db, tenantId: 1, storageId: 1, mediaKindOf };
}

const rows = readTree(root);
const { db, tenantId, storageId, mediaKindOf } = await open();
const media = rows.map((r) => (r[2] === 1 ? null : mediaKindOf(r[1])));
// SQLite's schema since 019: the name as its length, and each row's parent id, which the
// writer reads once per directory; here it is known beforehand (ids follow the rows, from
// the first the table will give), untimed, as the rows themselves are: a floor.
const lean =
  !values.bare &&
  db
    .prepare(`SELECT count(*) FROM pragma_table_info('entries') WHERE name = 'name_bytes'`)
    .pluck()
    .get() > 0;
const parentIds = [];
if (lean) {
  const base = db
    .prepare(`SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'entries'`)
    .pluck()
    .get();
  const ids = new Map();
  rows.forEach((r, j) => {
    if (r[2] === 1) ids.set(r[0], base + j + 1);
    const parent = r[0].slice(0, r[0].length - r[1].length - 1);
    parentIds.push(parent === '' ? -storageId : (ids.get(parent) ?? null));
  });
}
const statement = (n) =>
  db.prepare(
    lean
      ? `INSERT INTO entries (tenant_id, storage_id, path, name_bytes, is_dir, size, mtime, etag, media_kind, parent_id)
         VALUES ${Array(n).fill('(?, ?, ?, length(CAST(? AS BLOB)), ?, ?, ?, ?, ?, ?)').join(', ')}`
      : `INSERT INTO entries (${COLUMNS}) VALUES ${Array(n).fill('(?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
  );
const full = statement(CHUNK);

const cpu0 = process.cpuUsage();
const t0 = performance.now();
/** Milliseconds by part, for reading where the floor goes. */
const parts = {};
let mark = t0;
const lap = (name) => {
  const now = performance.now();
  parts[name] = Math.round(now - mark);
  mark = now;
};
db.transaction(() => {
  for (let i = 0; i < rows.length; i += CHUNK) {
    const n = Math.min(CHUNK, rows.length - i);
    const params = [];
    for (let j = i; j < i + n; j++) {
      params.push(tenantId, storageId, ...rows[j], null, media[j]);
      if (lean) params.push(parentIds[j]);
    }
    (n === CHUNK ? full : statement(n)).run(params);
  }
  lap('insert');
  if (!values.bare) {
    const last = db.prepare('SELECT max(id) FROM entries').pluck().get();
    // By id range, as the writer's: a bare `SELECT id, name FROM entries` reads the covering
    // parent index, out of rowid order, and FTS5 flushes a segment at every id that goes back.
    db.prepare(
      `INSERT INTO entries_name_fts (rowid, name) SELECT id, name FROM entries WHERE id > 0 AND id <= ?`,
    ).run(last);
    lap('names');
    db.prepare(
      `INSERT INTO entries_time_steps (tenant_id, step, id)
       SELECT tenant_id, mtime / 2592000000, id FROM entries WHERE id > 0 AND id <= ? ORDER BY 1, 2, 3`,
    ).run(last);
    lap('steps');
    db.prepare(
      `INSERT INTO entries_name_order (media_kind, tenant_id, name, id)
       SELECT coalesce(media_kind, ''), tenant_id, name, id FROM entries WHERE id > 0 AND id <= ?
       ORDER BY 1, 2, 3, 4`,
    ).run(last);
    lap('name order');
    db.prepare('UPDATE search_watermark SET upto = ?').run(last);
  }
}).immediate();
lap('commit');
db.close();
lap('close');
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
console.log(JSON.stringify({ ms, cpuS: (cpu.user + cpu.system) / 1e6, rows: rows.length, parts }));
