#!/usr/bin/env node
/**
 * SQLite's writer alone, as a first scan feeds it (issue 12): the batches a first scan of
 * ROOT hands on — 1,000 rows of whole listings, breadth first, as the engine batches them —
 * packed by a build's `packBatch`, cloned as a message to the writer thread is
 * (`structuredClone`), and written by its `entryWriter` into a fresh migrated index, all on
 * one thread: no walk, no other thread, so the CPU it prints is the writer's own.
 *
 *   node bench/writer-replay.js ROOT --db FILE [--reps N] [--compare DIR] [--digests]
 *
 * The tree is read first, untimed. Timed per repetition: `pack` (packBatch and the clone:
 * the main thread's part and the message) and `write` (entryWriter: the writer thread's
 * part), CPU seconds; each build's repetitions alternate with the other's (`--compare`:
 * another worktree's build, e.g. /work/wt-base). Prints the median and the range of each.
 * `--digests`: each batch also stores the listing digest of each directory it lists, as a
 * first scan's batches do (seventh round), over the value a first scan's probe reads (null,
 * on the directory's row when an earlier batch wrote it); the probes are not timed.
 */
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import { median } from './lib/measure.js';
import { prepared } from './lib/raw-writes.js';
import { treeListings } from './lib/tree.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    db: { type: 'string' },
    reps: { type: 'string', default: '3' },
    compare: { type: 'string' },
    digests: { type: 'boolean', default: false },
  },
});
const [root] = positionals;
const reps = Number(values.reps);
if (!root || !values.db || !Number.isInteger(reps) || reps < 1) {
  console.error(
    'usage: node bench/writer-replay.js ROOT --db FILE [--reps N] [--compare DIR] [--digests]',
  );
  process.exit(1);
}

const BATCH = 1000;

/** A build's writer, by its compiled modules (dist/). */
async function load(dir) {
  const dist = pathToFileURL(join(resolve(dir), 'dist/'));
  const { mediaKindOf } = await import(new URL('scan/media.js', dist).href);
  const { packBatch, entryWriter } = await import(new URL('db/sqlite/entry-writer.js', dist).href);
  return { dist, mediaKindOf, packBatch, entryWriter };
}

/** The new rows of a first scan of `dir`, as the engine's writes, in batches of whole listings. */
function readBatches(dir, mediaKindOf) {
  const out = [];
  let batch = [];
  for (const [parent, entries] of treeListings(dir)) {
    for (const e of entries) {
      batch.push({
        path: e.path,
        parent,
        name: e.name,
        isDir: e.isDir,
        size: e.size,
        mtime: e.mtime,
        etag: null,
        mediaKind: e.isDir ? null : mediaKindOf(e.name),
        isNew: true,
      });
    }
    if (batch.length >= BATCH) {
      out.push(batch);
      batch = [];
    }
  }
  if (batch.length > 0) out.push(batch);
  return out;
}

/** A stand-in for a listing's digest: 22 base64url characters, different for each directory. */
const digestOf = (dir) => createHash('sha256').update(dir).digest('base64url').slice(0, 22);

const cpuS = (u) => (u.user + u.system) / 1e6;

async function once(build, batches) {
  rmSync(values.db, { force: true });
  rmSync(`${values.db}-wal`, { force: true });
  rmSync(`${values.db}-shm`, { force: true });
  // Migrated by the build's own open.
  const { index, tenantId, storageId } = await prepared(values.db, build.dist);
  await index.close();
  // As the writer thread opens it (writer-thread.ts).
  const db = new BetterSqlite3(values.db);
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('cache_size = -4096');
  const write = build.entryWriter(db, 100_000);
  const scope = { tenantId, storageId };
  // --digests: each listed directory's digest with its listing's rows, as a first scan
  // stores them, over the value its probe read (null, on the row its parent's batch wrote).
  const probe = db.prepare(
    `SELECT id FROM entries WHERE storage_id = ? AND path = ? AND is_dir = 1`,
  );
  probe.pluck();
  let pack = 0;
  let probing = 0;
  const c0 = process.cpuUsage();
  for (const rows of batches) {
    const p0 = process.cpuUsage();
    const digests = [];
    if (values.digests) {
      for (const dir of new Set(rows.map((r) => r.parent))) {
        if (dir === '/') continue;
        const row = probe.get(scope.storageId, dir) ?? null;
        digests.push({ dir, digest: digestOf(dir), was: null, row });
      }
    }
    const d0 = process.cpuUsage();
    probing += cpuS(process.cpuUsage(p0));
    const packed = structuredClone(build.packBatch(scope, [], rows, digests));
    pack += cpuS(process.cpuUsage(d0));
    write(packed);
  }
  const all = cpuS(process.cpuUsage(c0)) - probing;
  db.close();
  return { pack, write: all - pack };
}

const builds = [['this build', await load('.')]];
if (values.compare) builds.push([`compared: ${values.compare}`, await load(values.compare)]);
const batches = readBatches(root, builds[0][1].mediaKindOf);
const rows = batches.reduce((n, b) => n + b.length, 0);
const runs = new Map(builds.map(([name]) => [name, []]));
for (let r = 0; r < reps; r++) {
  for (const [name, build] of builds) runs.get(name).push(await once(build, batches));
}
console.log(
  `writer replay: ${rows.toLocaleString('en')} rows in ${batches.length} batches, ${reps} repetition(s), CPU seconds: median (min–max)`,
);
const show = (xs) =>
  `${median(xs).toFixed(3)} (${Math.min(...xs).toFixed(3)}–${Math.max(...xs).toFixed(3)})`;
for (const [name, list] of runs) {
  const p = list.map((x) => x.pack);
  const w = list.map((x) => x.write);
  console.log(`${name.padEnd(28)} pack+clone ${show(p)}   write ${show(w)}`);
}
