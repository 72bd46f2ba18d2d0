// `node bench/browse-ab.mjs [rounds] [case]`: SQLite browse A/B at 1,000,000 entries, the two
// builds' query layers in one process on one index, alternated round by round, so that a
// loaded machine weighs on both alike (docs/benchmarks.md, "Seventh round: SQLite orphans").
// A: another checkout's queries (`npx tsc -p bench/tsconfig.search.json` there; its build
// directory in $AB_A_BUILD, default this checkout's `.bench/base-build`); B: this checkout's
// (`npx tsc -p bench/tsconfig.search.json`). The index: the one `npm run bench:search --
// --only sqlite --keep` keeps (`.bench/search_sqlite_1000000.db`), opened by B. `case`: only
// the cases whose name contains it.
import { pathToFileURL } from 'node:url';

const aBuild = process.env.AB_A_BUILD
  ? pathToFileURL(`${process.env.AB_A_BUILD}/src/db/queries/index.js`).href
  : '../.bench/base-build/src/db/queries/index.js';
const base = await import(aBuild);
const mine = await import('../.bench/search-build/src/db/queries/index.js');
const { openIndex } = await import('../.bench/search-build/src/db/open.js');
const { BIG_DIR } = await import('../.bench/search-build/bench/search-tree.js');

const index = await openIndex('.bench/search_sqlite_1000000.db');
const [s] = await index.db.selectFrom('storages').select(['id', 'tenant_id']).execute();
const scope = { tenantId: s.tenant_id, storageId: s.id };
const dirs = await index.db
  .selectFrom('entries')
  .select('path')
  .where('storage_id', '=', s.id)
  .where('is_dir', '=', 1)
  .limit(4000)
  .execute();
const leaves = dirs.map((r) => r.path).filter((p) => p !== BIG_DIR);
const q = {
  A: base.createQueries(index.db, index.dialect),
  B: mine.createQueries(index.db, index.dialect),
};
const rounds = Number(process.argv[2] ?? 20);
const only = process.argv[3];
const cases = {
  'big dir by name (4 pages)': { dir: BIG_DIR, sort: 'name', pages: 4 },
  'big dir by size (4 pages)': { dir: BIG_DIR, sort: 'size', pages: 4 },
  'big dir by mtime (4 pages)': { dir: BIG_DIR, sort: 'mtime', pages: 4 },
  'leaf dirs by name (200 dirs)': { leaves: 200, sort: 'name' },
  'leaf dirs by mtime (200 dirs)': { leaves: 200, sort: 'mtime' },
};
const at = (a, p) => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(p * a.length))];
for (const [name, c] of Object.entries(cases)) {
  if (only && !name.includes(only)) continue;
  const t = { A: [], B: [] };
  for (let r = 0; r < rounds; r++) {
    for (const k of r % 2 ? ['B', 'A'] : ['A', 'B']) {
      const t0 = performance.now();
      if (c.leaves) {
        for (let i = 0; i < c.leaves; i++) {
          const dir = leaves[(r * 97 + i * 13) % leaves.length];
          await q[k].browse({ ...scope, dir, sort: c.sort });
        }
      } else {
        let cursor;
        for (let p = 0; p < c.pages; p++) {
          const page = await q[k].browse({
            ...scope,
            dir: c.dir,
            sort: c.sort,
            ...(cursor ? { cursor } : {}),
          });
          cursor = page.next;
        }
      }
      t[k].push(performance.now() - t0);
    }
  }
  const cell = (a) => `${at(a, 0.5).toFixed(2)} / ${at(a, 0.95).toFixed(2)}`;
  console.log(
    `${name.padEnd(32)} A ${cell(t.A)} ms, B ${cell(t.B)} ms (p50 / p95, ${rounds} rounds)`,
  );
}
await index.close();
