/**
 * Scans of one huge directory in a process of its own, so its peak RSS is the scan's and not
 * the test runner's. Compiled by {@link buildChild}; one JSON argument (HugeTask); prints one
 * JSON line (HugeReport).
 *
 * The source is either a generated memory directory (in this process: made on the fly, it
 * costs no memory) or a storage URL served by another process. Each round scans once; for a
 * memory source a round may first change the directory.
 */
import { App } from '../../src/app.js';
import { MemoryTree } from '../../src/storage/backends/memory-tree.js';
import { registerMemoryVolume } from '../../src/storage/backends/memory.js';
import { parseStorageSpec } from '../../src/storage/url.js';

export interface HugeRound {
  /** Memory source only: the directory now holds this many files… */
  count?: number;
  /** …and every `changeEvery`-th of them has a new size. @default none */
  changeEvery?: number;
}

export interface HugeTask {
  database: string;
  /** A storage URL, or a generated memory directory `/huge` of `memory` files. */
  url?: string;
  memory?: number;
  rounds: HugeRound[];
}

export interface HugeReport {
  rounds: Array<{
    status: string;
    files: number;
    created: number;
    updated: number;
    deleted: number;
    unchanged: number;
    errors: number;
    durationMs: number;
  }>;
  /** Peak resident set size of the whole process, MB. */
  maxRssMb: number;
}

function generated(tree: MemoryTree, count: number, changeEvery: number | undefined): void {
  tree.generate('/huge', count, (i) => {
    const changed = changeEvery !== undefined && i % changeEvery === 0;
    return { name: `IMG_${String(i).padStart(8, '0')}.jpg`, size: changed ? 2 : 1, mtime: 1e12 };
  });
}

async function main(task: HugeTask): Promise<void> {
  const tree = new MemoryTree();
  let url = task.url;
  if (task.memory !== undefined) {
    generated(tree, task.memory, undefined);
    registerMemoryVolume('huge', tree);
    url = 'memory://huge';
  }
  const app = await App.open({ database: task.database, tenant: 'default' });
  const storage = await app.ensureStorage(parseStorageSpec(url!));
  const report: HugeReport = { rounds: [], maxRssMb: 0 };
  for (const round of task.rounds) {
    if (round.count !== undefined) generated(tree, round.count, round.changeEvery);
    const r = await app.scan(storage);
    report.rounds.push({
      status: r.status,
      files: r.files,
      created: r.created,
      updated: r.updated,
      deleted: r.deleted,
      unchanged: r.unchanged,
      errors: r.errors,
      durationMs: r.durationMs,
    });
    if (r.errors) process.stderr.write(`${JSON.stringify(r.errorSample)}\n`);
  }
  await app.close();
  report.maxRssMb = Math.round((process.resourceUsage().maxRSS * 1024) / 2 ** 20);
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main(JSON.parse(process.argv[2] ?? '{}') as HugeTask).catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
