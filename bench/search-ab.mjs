// `node bench/search-ab.mjs [reps]`: PostgreSQL search A/B at 1,000,000 entries, query by
// query in turn, so that a loaded machine weighs on both builds alike (docs/search.md,
// "After 011 and 012", "After 014"). A: another checkout's queries (its bench compiled with
// `npx tsc -p bench/tsconfig.search.json` there; its build directory in $AB_A_BUILD, default
// this checkout's `.bench/base-build`) on $AB_A_URL (default
// `search_postgres_1000000_searchpg_base`: a copy of the kept bench index made before this
// branch migrated it, CREATE DATABASE … TEMPLATE search_postgres_1000000); B: this branch's
// (`npx tsc -p bench/tsconfig.search.json`) on $AB_B_URL (default `search_postgres_1000000`).
import { pathToFileURL } from 'node:url';

const PG = 'postgres://postgres@127.0.0.1:5432';
const aBuild = process.env.AB_A_BUILD
  ? pathToFileURL(`${process.env.AB_A_BUILD}/src/db/open.js`).href
  : '../.bench/base-build/src/db/open.js';
const base = await import(aBuild);
const mine = await import('../.bench/search-build/src/db/open.js');
const { benchTree, BIG_DIR, random } = await import('../.bench/search-build/bench/search-tree.js');
const A = await base.openIndex(
  process.env.AB_A_URL ?? `${PG}/search_postgres_1000000_searchpg_base`,
);
const B = await mine.openIndex(process.env.AB_B_URL ?? `${PG}/search_postgres_1000000`);
const REPS = Number(process.argv[2] ?? 10);
const r = random(11);
const pick = (a) => a[Math.floor(r() * a.length)];
const { words } = benchTree(1_000_000);
const sub = (s, min, max) => {
  const len = Math.min(s.length, min + Math.floor(r() * (max - min + 1)));
  const from = Math.floor(r() * (s.length - len + 1));
  return s.slice(from, from + len);
};
const kinds = {
  'name very common': () => ({
    kind: 'search',
    q: { name: pick(['img', 'jpg', 'dsc', 'flac', 'mkv', 'pdf']) },
  }),
  'name jpg': () => ({ kind: 'search', q: { name: 'jpg' } }),
  'name 3-5 chars of a word': () => ({ kind: 'search', q: { name: sub(pick(words), 3, 5) } }),
  'name = a word': () => ({ kind: 'search', q: { name: pick(words) } }),
  'big dir by size (page 1)': () => ({
    kind: 'browse',
    q: { storageId: 1, dir: BIG_DIR, sort: 'size', order: pick(['asc', 'desc']) },
  }),
  'size 1-10 MB (a scan)': () => ({ kind: 'search', q: { minSize: 1e6, maxSize: 1e7 } }),
  'video, by name': () => ({ kind: 'search', q: { mediaKind: 'video' } }),
  'kind alone, by name': () => ({
    kind: 'search',
    q: { mediaKind: pick(['video', 'audio', 'image']) },
  }),
  'name 6-8 chars (rare)': () => ({ kind: 'search', q: { name: 'x' + sub(pick(words), 5, 7) } }),
  'prefix (year) + word': () => ({
    kind: 'search',
    q: {
      storageId: 1,
      pathPrefix: pick(['/Photos/2010', '/Music/2015', '/Videos/2007', '/Documents/2020']),
      name: pick(words),
    },
  }),
  'mtime within a month': () => {
    const from = Date.UTC(2010, 0, 1) + Math.floor(r() * 4e11);
    return { kind: 'search', q: { mtimeFrom: from, mtimeTo: from + 30 * 864e5 } };
  },
};
const q50 = (a) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)];
const q90 = (a) => a.sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(a.length * 0.9))];
for (const [label, make] of Object.entries(kinds)) {
  const t = { A: [], B: [] };
  for (let i = 0; i < REPS; i++) {
    const { kind, q } = make();
    for (const [k, idx] of i % 2
      ? [
          ['B', B],
          ['A', A],
        ]
      : [
          ['A', A],
          ['B', B],
        ]) {
      const t0 = performance.now();
      await idx.queries[kind]({ tenantId: 1, ...q });
      t[k].push(performance.now() - t0);
    }
  }
  console.log(
    `${label.padEnd(28)} A p50 ${q50(t.A).toFixed(1).padStart(6)} p90 ${q90(t.A).toFixed(1).padStart(6)}   B p50 ${q50(t.B).toFixed(1).padStart(6)} p90 ${q90(t.B).toFixed(1).padStart(6)}`,
  );
}
await A.close();
await B.close();
