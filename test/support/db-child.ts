/**
 * A scan in a process of its own, for what a test cannot do in its own process: die
 * between two batches, or measure memory without the test runner's heap in the way.
 * Compiled by {@link buildChild} and started with one JSON argument (ChildTask); prints
 * one JSON line (ChildReport) unless told to exit half-way.
 */
import { App } from '../../src/app.js';
import { registerMemoryVolume } from '../../src/storage/backends/memory.js';
import { gridTree } from './db-trees.js';

export interface ChildTask {
  database: string;
  dirs: number;
  filesPerDir: number;
  batchEntries?: number;
  /** process.exit(0) right after this many batches have committed. */
  exitAfterBatches?: number;
  /** Sample the heap (after a full GC) during the scan; needs --expose-gc. */
  sampleMemory?: boolean;
}

export interface ChildReport {
  status: string;
  files: number;
  created: number;
  /** Heap in use after a full GC, before the scan and at each quarter of the entries. */
  heapMb: number[];
  /** Peak resident set size of the whole process, MB. */
  maxRssMb: number;
}

const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

async function main(task: ChildTask): Promise<void> {
  const volume = `child-${process.pid}`;
  registerMemoryVolume(volume, gridTree(task.dirs, task.filesPerDir));
  const app = await App.open({ database: task.database, tenant: 'default' });
  const storage = await app.index.storages.upsert({
    tenantId: app.tenantId,
    name: 'grid',
    kind: 'memory',
    location: 'memory://grid',
    options: { volume },
  });
  const gc = (globalThis as { gc?: () => void }).gc;
  const heap = () => {
    gc?.();
    return mb(process.memoryUsage().heapUsed);
  };
  const heapMb = task.sampleMemory ? [heap()] : [];
  const total = task.dirs * (task.filesPerDir + 1);
  let batches = 0;
  let nextQuarter = 1;
  const result = await app.scan(storage, {
    batchEntries: task.batchEntries ?? 5000,
    onChanges: () => {
      if (++batches === task.exitAfterBatches) process.exit(0);
    },
    onProgress: (p) => {
      if (!task.sampleMemory) return;
      while (nextQuarter <= 3 && p.dirs + p.files >= (total * nextQuarter) / 4) {
        heapMb.push(heap());
        nextQuarter++;
      }
    },
    progressIntervalMs: 100,
  });
  if (task.sampleMemory) heapMb.push(heap());
  await app.close();
  const report: ChildReport = {
    status: result.status,
    files: result.files,
    created: result.created,
    heapMb,
    maxRssMb: mb(process.resourceUsage().maxRSS * 1024),
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main(JSON.parse(process.argv[2] ?? '{}') as ChildTask).catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
