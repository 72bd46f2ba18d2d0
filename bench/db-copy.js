#!/usr/bin/env node
/**
 * node bench/db-copy.js — three ways to write a first load into PostgreSQL's `entries`, the
 * measurement behind the repository's choice (README, "PostgreSQL"): the repository's
 * `unnest` upsert, COPY into a temporary table and a merge (the same upsert reading the
 * staged rows), and COPY straight into `entries`. 300,000 rows (6,000 directories × 50, by
 * default) in batches of 5,000, each way on a fresh database, in alternating rounds.
 * Needs `npm run build` first and PostgreSQL at $TRAWL_TEST_PG_URL. The third way, on the
 * very rows a scan writes, is `npm run bench:db`'s reference for PostgreSQL, measured in every
 * run next to the scans (bench/lib/raw-writes.js): compare a scan with that, not with this
 * script's rows at another moment.
 *
 * Flags: --rounds N (default 2), --dirs N (default 6000).
 */
import pg from 'pg';

const ADMIN = process.env.TRAWL_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const ROUNDS = flag('rounds', 2);
const DIRS = flag('dirs', 6000);
const PER_DIR = 50;
const PER_BATCH = 100; // directories: 5,000 rows a batch
const NAME = `trawl_bench_copy_${process.pid}`;

const dist = new URL('../dist/', import.meta.url);
const { openIndex } = await import(new URL('db/open.js', dist).href);
const { copyIn, copyText } = await import(new URL('db/postgres/copy.js', dist).href);

const UPSERT_TAIL = `ON CONFLICT (storage_id, path) DO UPDATE SET
    is_dir = excluded.is_dir, size = excluded.size, mtime = excluded.mtime,
    etag = excluded.etag, media_kind = excluded.media_kind
  WHERE (e.is_dir, e.size, e.mtime, e.etag, e.media_kind)
    IS DISTINCT FROM (excluded.is_dir, excluded.size, excluded.mtime, excluded.etag, excluded.media_kind)
  RETURNING e.id, e.is_dir, (e.xmax = 0)`;

function batch(b) {
  const rows = [];
  for (let d = b * PER_BATCH; d < (b + 1) * PER_BATCH; d++) {
    const dir = `/top${Math.floor(d / 100)}/d${d}`;
    for (let f = 0; f < PER_DIR; f++) {
      const name = `file ${f}.txt`;
      rows.push({
        path: `${dir}/${name}`,
        parent: dir,
        name,
        size: f,
        mtime: 1_700_000_000_000 + f,
      });
    }
  }
  return rows;
}

async function admin(sql) {
  const c = new pg.Client({ connectionString: ADMIN });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** A fresh database with trawl's schema and one storage (id 1, tenant 1). */
async function fresh() {
  await admin(`DROP DATABASE IF EXISTS ${NAME} WITH (FORCE)`);
  await admin(`CREATE DATABASE ${NAME}`);
  const url = new URL(ADMIN);
  url.pathname = `/${NAME}`;
  const index = await openIndex(url.toString());
  const tenantId = await index.tenants.ensure('t');
  await index.storages.upsert({ tenantId, name: 's', kind: 'memory', location: 'm', options: {} });
  return { index, url: url.toString() };
}

async function viaRepository() {
  const { index } = await fresh();
  const scope = { tenantId: 1, storageId: 1 };
  const t0 = performance.now();
  for (let b = 0; b < DIRS / PER_BATCH; b++) {
    const writes = batch(b).map((r) => ({ ...r, isDir: false, etag: null, mediaKind: null }));
    const done = await index.entries.apply(scope, [], writes);
    if (done.created.length !== writes.length) throw new Error('upsert: short');
  }
  const seconds = (performance.now() - t0) / 1000;
  await index.close();
  return seconds;
}

const line = (r, id) =>
  `${id === undefined ? '' : `${id}\t1\t1\t`}${copyText(r.path)}\t${copyText(r.name)}\t0\t${r.size}\t${r.mtime}\t\\N\t\\N\n`;

async function viaStageAndMerge() {
  const { index, url } = await fresh();
  await index.close();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(
    `CREATE TEMP TABLE stage (path text COLLATE "C", name text, is_dir int2, size int8, mtime int8, etag text, media_kind text) ON COMMIT DELETE ROWS`,
  );
  const t0 = performance.now();
  for (let b = 0; b < DIRS / PER_BATCH; b++) {
    const rows = batch(b);
    await client.query('BEGIN');
    await copyIn(client, 'COPY stage FROM STDIN', Buffer.from(rows.map((r) => line(r)).join('')));
    const { rowCount } = await client.query({
      text: `INSERT INTO entries AS e (tenant_id, storage_id, path, name, is_dir, size, mtime,
          etag, media_kind) SELECT 1, 1, s.* FROM stage s ${UPSERT_TAIL}`,
      rowMode: 'array',
    });
    if (rowCount !== rows.length) throw new Error('merge: short');
    await client.query('COMMIT');
  }
  const seconds = (performance.now() - t0) / 1000;
  await client.end();
  return seconds;
}

async function viaCopy() {
  const { index, url } = await fresh();
  await index.close();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const t0 = performance.now();
  for (let b = 0; b < DIRS / PER_BATCH; b++) {
    const rows = batch(b);
    const { rows: ids } = await client.query({
      text: `SELECT nextval('entries_id_seq') FROM generate_series(1, $1)`,
      values: [rows.length],
      rowMode: 'array',
    });
    const data = rows.map((r, i) => line(r, ids[i][0])).join('');
    await copyIn(
      client,
      `COPY entries (id, tenant_id, storage_id, path, name, is_dir, size, mtime, etag, media_kind)
        FROM STDIN`,
      Buffer.from(data),
    );
  }
  const seconds = (performance.now() - t0) / 1000;
  await client.end();
  return seconds;
}

const ways = [
  ['unnest upsert (the repository, all rows)', viaRepository],
  ['COPY into a temp table + merge', viaStageAndMerge],
  ['COPY straight into entries', viaCopy],
];
const rows = DIRS * PER_DIR;
console.log(`bench:db-copy — ${rows.toLocaleString('en')} rows, 5,000 a batch, ${ROUNDS} rounds`);
const results = [];
try {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [name, run] of ways) {
      const seconds = await run();
      results.push({
        round,
        way: name,
        seconds: seconds.toFixed(2),
        'rows/s': Math.round(rows / seconds),
      });
    }
  }
} finally {
  await admin(`DROP DATABASE IF EXISTS ${NAME} WITH (FORCE)`);
}
console.table(results);
