/**
 * Where SQLite's write CPU goes in a local first scan (docs/benchmarks.md, "Where a first
 * scan's writes go"): the rows `bench:local`'s tree makes (top directories, leaf
 * directories, 20 files each, in breadth-first order) written through
 * `SqliteEntryRepository.apply` in 1,000-entry batches into a fresh index file, one variant
 * at a time and the variants interleaved round by round, so that the machine's load weighs
 * on each alike. Each variant changes one thing (an index dropped, the name index left out,
 * another statement shape) and prints its median time and its ratio to "as migrated".
 *
 *   npx tsc -p bench/tsconfig.write-path.json && node .bench/write-path-build/bench/write-path.js [--files 200000] [--rounds 3] [--only NAME,…]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type BetterSqlite3 from 'better-sqlite3';
import type { EntryScope, EntryWrite } from '../src/db/entries.js';
import { openIndex, type Index } from '../src/db/open.js';
import type { SqliteEntryRepository } from '../src/db/sqlite/entries.js';
import { entryWriter, packBatch } from '../src/db/sqlite/entry-writer.js';
import { mediaKindOf } from '../src/scan/media.js';
import { benchScope } from './bench-writes.js';

const EXTENSIONS = ['mkv', 'jpg', 'txt', 'flac', 'srt', 'pdf', 'png', 'mp4', 'json', 'md'];

/** bench/lib/tree.js's shape, as rows, in batches of about `size` in breadth-first order. */
function* treeBatches(files: number, size: number): Iterable<EntryWrite[]> {
  const leaves = Math.ceil(files / 20);
  const top = Math.ceil(Math.sqrt(leaves));
  const mtime = Date.UTC(2026, 0, 1);
  const row = (parent: string, name: string, isDir: boolean, n: number): EntryWrite => ({
    path: parent === '/' ? `/${name}` : `${parent}/${name}`,
    parent,
    name,
    isDir,
    size: isDir ? 0 : n % 4096,
    mtime: mtime + n,
    etag: null,
    mediaKind: isDir ? null : mediaKindOf(name),
    isNew: true,
  });
  let batch: EntryWrite[] = [];
  const push = function* (w: EntryWrite) {
    batch.push(w);
    if (batch.length >= size) {
      yield batch;
      batch = [];
    }
  };
  const tops = Math.min(top, Math.ceil(leaves / top));
  for (let t = 0; t < tops; t++) yield* push(row('/', `t${t}`, true, t));
  let made = 0;
  for (let t = 0; t < tops; t++) {
    for (let l = 0; l < top && t * top + l < leaves; l++)
      yield* push(row(`/t${t}`, `d${l}`, true, l));
  }
  for (let t = 0; t < tops; t++) {
    for (let l = 0; l < top && t * top + l < leaves; l++) {
      for (let f = 0; f < 20 && made < files; f++, made++) {
        const ext = EXTENSIONS[made % EXTENSIONS.length];
        yield* push(row(`/t${t}/d${l}`, `file-${f} name.${ext}`, false, made));
      }
    }
  }
  if (batch.length > 0) yield batch;
}

interface Variant {
  name: string;
  /** Entries per batch (one transaction). @default 1000 */
  batch?: number;
  /** Changes the freshly migrated index before the write. */
  prepare?: (index: Index, raw: BetterSqlite3.Database) => Promise<void> | void;
  /** Writes one batch; default: the repository's apply. */
  write?: (raw: BetterSqlite3.Database, scope: EntryScope, batch: EntryWrite[]) => void;
  /** After the last batch (what closing the index does): default, the name index's catch-up. */
  finish?: (index: Index, raw: BetterSqlite3.Database) => Promise<void> | void;
}

const noNames = (_i: Index, raw: BetterSqlite3.Database) => {
  raw.exec(`UPDATE search_watermark SET upto = 9007199254740991`);
};
const nothing = () => undefined;

type Writer = NonNullable<Variant['write']>;

/** Prepared once per connection (each round opens a fresh index). */
function perConnection(make: (raw: BetterSqlite3.Database) => Writer): Writer {
  const made = new WeakMap<BetterSqlite3.Database, Writer>();
  return (raw, scope, batch) => {
    let w = made.get(raw);
    if (!w) made.set(raw, (w = make(raw)));
    w(raw, scope, batch);
  };
}

/** Before this change: multi-row VALUES of 100 rows, ON CONFLICT DO NOTHING RETURNING id, path. */
const valuesReturning = perConnection((raw) => {
  const stmts = new Map<number, BetterSqlite3.Statement>();
  const tx = raw.transaction((scope: EntryScope, batch: EntryWrite[]) => {
    const ids: number[] = [];
    for (let i = 0; i < batch.length; i += 100) {
      const chunk = batch.slice(i, i + 100);
      let s = stmts.get(chunk.length);
      if (!s) {
        s = raw
          .prepare(
            `INSERT INTO entries (tenant_id, storage_id, path, name, is_dir, size, mtime, etag, media_kind)
             VALUES ${Array.from({ length: chunk.length }, () => '(?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}
             ON CONFLICT (storage_id, tenant_id, path) DO NOTHING RETURNING id, path`,
          )
          .raw();
        stmts.set(chunk.length, s);
      }
      const params: unknown[] = [];
      for (const w of chunk) {
        params.push(scope.tenantId, scope.storageId, w.path, w.name, w.isDir ? 1 : 0);
        params.push(w.size, w.mtime, w.etag, w.mediaKind);
      }
      const inserted = new Map<string, number>();
      for (const [id, path] of s.all(params) as [number, string][]) inserted.set(path, id);
      for (const w of chunk) ids.push(inserted.get(w.path)!);
    }
    return ids;
  });
  return (_raw, scope, batch) => void tx.immediate(scope, batch);
});

/** Multi-row VALUES of 100 rows, no ON CONFLICT, no RETURNING. */
const valuesPlain = perConnection((raw) => {
  const stmts = new Map<number, BetterSqlite3.Statement>();
  const tx = raw.transaction((scope: EntryScope, batch: EntryWrite[]) => {
    for (let i = 0; i < batch.length; i += 100) {
      const chunk = batch.slice(i, i + 100);
      let s = stmts.get(chunk.length);
      if (!s) {
        s =
          raw.prepare(`INSERT INTO entries (tenant_id, storage_id, path, name, is_dir, size, mtime, etag, media_kind)
          VALUES ${Array.from({ length: chunk.length }, () => '(?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`);
        stmts.set(chunk.length, s);
      }
      const params: unknown[] = [];
      for (const w of chunk) {
        params.push(scope.tenantId, scope.storageId, w.path, w.name, w.isDir ? 1 : 0);
        params.push(w.size, w.mtime, w.etag, w.mediaKind);
      }
      s.run(params);
    }
  });
  return (_raw, scope, batch) => tx.immediate(scope, batch);
});

/** This change's writer (entry-writer.ts) on this thread: one json_each INSERT a batch. */
const jsonEach = perConnection((raw) => {
  const write = entryWriter(raw, Number.POSITIVE_INFINITY);
  return (_raw, scope, batch) => void write(packBatch(scope, [], batch));
});

/** The same, the rows of each batch sorted by path first. */
const jsonEachSorted = perConnection((raw) => {
  const write = entryWriter(raw, Number.POSITIVE_INFINITY);
  return (_raw, scope, batch) =>
    void write(
      packBatch(
        scope,
        [],
        [...batch].sort((a, b) => (a.path < b.path ? -1 : 1)),
      ),
    );
});

const VARIANTS: Variant[] = [
  { name: 'before: VALUES×100 RETURNING, names', write: valuesReturning },
  {
    name: 'before, name index left out',
    prepare: noNames,
    write: valuesReturning,
    finish: nothing,
  },
  {
    name: 'before, − names − entries_large',
    prepare: (i, raw) => {
      noNames(i, raw);
      raw.exec(`DROP INDEX entries_large`);
    },
    write: valuesReturning,
    finish: nothing,
  },
  {
    name: 'before, − names − parent index',
    prepare: (i, raw) => {
      noNames(i, raw);
      raw.exec(`DROP INDEX entries_storage_parent_name`);
    },
    write: valuesReturning,
    finish: nothing,
  },
  {
    name: 'before, − names, unique path only',
    prepare: (i, raw) => {
      noNames(i, raw);
      raw.exec(`DROP INDEX entries_storage_parent_name; DROP INDEX entries_large`);
    },
    write: valuesReturning,
    finish: nothing,
  },
  {
    name: '− names, VALUES×100, no RETURNING',
    prepare: noNames,
    write: valuesPlain,
    finish: nothing,
  },
  { name: '− names, entryWriter (after)', prepare: noNames, write: jsonEach, finish: nothing },
  { name: '− names, json_each, sorted', prepare: noNames, write: jsonEachSorted, finish: nothing },
  {
    name: '− names, json_each, no autocheckpoint',
    prepare: (i, raw) => {
      noNames(i, raw);
      raw.pragma('wal_autocheckpoint = 0');
    },
    write: jsonEach,
    finish: (_i, raw) => {
      raw.pragma('wal_checkpoint(PASSIVE)');
    },
  },
  { name: 'after: repository apply, names' },
];

const { values } = parseArgs({
  options: {
    files: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '3' },
    only: { type: 'string' },
  },
});
const files = Number(values.files);
const rounds = Number(values.rounds);
const wanted = values.only?.split(',');
const variants = VARIANTS.filter((v, i) => !wanted || wanted.some((w) => String(i) === w));

async function once(v: Variant): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'trawl-write-path-'));
  try {
    const index = await openIndex(join(dir, 'index.db'));
    const scope = await benchScope(index);
    const repo = index.entries as SqliteEntryRepository;
    const raw = repo.database;
    await v.prepare?.(index, raw);
    const batches = [...treeBatches(files, v.batch ?? 1000)];
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    for (const b of batches) {
      if (v.write) v.write(raw, scope, b);
      else await repo.apply(scope, [], b);
    }
    if (v.finish) await v.finish(index, raw);
    // What closing the index does: the name index's last backlog.
    else await index.queries.search({ tenantId: scope.tenantId, name: 'zzzzzz' });
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    cpuMs.push((cpu.user + cpu.system) / 1000);
    const n = raw.prepare(`SELECT count(*) FROM entries`).pluck().get() as number;
    if (n !== batches.reduce((s, b) => s + b.length, 0)) throw new Error(`${v.name}: ${n} rows`);
    await index.close();
    return ms;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** CPU ms of the last {@link once} (this process is one thread): less moved by other load than wall time. */
const cpuMs: number[] = [];
const times = variants.map(() => [] as number[]);
const cpus = variants.map(() => [] as number[]);
for (let r = 0; r < rounds; r++) {
  for (let v = 0; v < variants.length; v++) {
    times[v]!.push(await once(variants[v]!));
    cpus[v]!.push(cpuMs.pop()!);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const base = median(times[0]!);
const baseCpu = median(cpus[0]!);
const s2 = (ms: number) => (ms / 1000).toFixed(2);
console.log(
  `${files.toLocaleString('en')} files, ${rounds} rounds: wall median (min–max) and ratio to the first; CPU the same`,
);
for (let v = 0; v < variants.length; v++) {
  const m = median(times[v]!);
  const c = median(cpus[v]!);
  console.log(
    `  ${variants[v]!.name.padEnd(40)} ${s2(m)} s (${s2(Math.min(...times[v]!))}–${s2(Math.max(...times[v]!))}) ×${(m / base).toFixed(2)}` +
      `   CPU ${s2(c)} s (${s2(Math.min(...cpus[v]!))}–${s2(Math.max(...cpus[v]!))}) ×${(c / baseCpu).toFixed(2)}`,
  );
}
