/**
 * `npm run bench:huge`: one directory of N entries (default 5,000,000) — a generated memory
 * directory, a WebDAV server streaming it, a flat S3 prefix — scanned into a fresh SQLite
 * index, then rescanned after 1 % vanished and every 100th changed. Each scan runs in a
 * process of its own (with the heap limit bin/trawl.js uses); prints its time, rate and peak
 * RSS. The target: peak RSS ≤ 300 MB whatever N.
 *
 *   npm run bench:huge -- [--entries N] [--only memory|webdav|s3]
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildChild } from '../test/support/db-build.js';
import { tempDir } from '../test/support/harness.js';
import type { HugeReport, HugeTask } from '../test/support/huge-child.js';
import { defaultHugeEntry, startHugeListingServer } from '../test/tools/webdav-huge.js';
import { defaultHugeObject, startS3Huge } from '../test/tools/s3-huge.js';

const run = promisify(execFile);
const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const N = Number(arg('--entries') ?? 5_000_000);
const only = arg('--only');

/** Prints one scan's row: time, rate, the child's peak RSS, whether its counts were exact. */
function record(source: string, scan: string, report: HugeReport, expectFiles: number): void {
  const r = report.rounds.at(-1)!;
  const seconds = r.durationMs / 1000;
  const rate = Math.round(r.files / seconds).toLocaleString('en');
  const exact = r.status === 'succeeded' && r.files === expectFiles;
  console.log(
    `${source.padEnd(8)} ${scan.padEnd(9)} ${seconds.toFixed(1).padStart(7)} ${rate.padStart(11)} ` +
      `${`${report.maxRssMb} MB`.padStart(10)}   ${exact ? 'yes' : 'NO'}`,
  );
}

async function child(script: string, task: HugeTask): Promise<HugeReport> {
  const { stdout } = await run(
    process.execPath,
    ['--max-old-space-size=1024', script, JSON.stringify(task)],
    { maxBuffer: 1 << 20 },
  );
  return JSON.parse(stdout) as HugeReport;
}

console.log(`one directory of ${N.toLocaleString('en')} entries, SQLite index`);
console.log('source   scan      seconds   entries/s   peak RSS   exact');
const { script, cleanup } = await buildChild('test/support/huge-child.ts');
const left = N - N / 100;
try {
  if (!only || only === 'memory') {
    const dir = tempDir('bench-huge-');
    try {
      const first = await child(script, {
        database: join(dir.path, 'i.db'),
        memory: N,
        rounds: [{}],
      });
      record('memory', 'first', first, N);
      const db = join(dir.path, 'j.db');
      const both = await child(script, {
        database: db,
        memory: N,
        rounds: [{}, { count: left, changeEvery: 100 }],
      });
      record('memory', 'rescan', both, left);
    } finally {
      dir.cleanup();
    }
  }
  if (!only || only === 'webdav') {
    const server = await startHugeListingServer({ entries: N });
    const dir = tempDir('bench-huge-');
    try {
      const database = join(dir.path, 'i.db');
      record(
        'webdav',
        'first',
        await child(script, { database, url: server.storageUrl, rounds: [{}] }),
        N,
      );
      server.options = {
        entries: left,
        entry: (i) => ({ ...defaultHugeEntry(i), size: i % 100 === 0 ? i + 1 : i }),
      };
      record(
        'webdav',
        'rescan',
        await child(script, { database, url: server.storageUrl, rounds: [{}] }),
        left,
      );
    } finally {
      await server.close();
      dir.cleanup();
    }
  }
  if (!only || only === 's3') {
    const server = await startS3Huge({ count: N, prefix: 'big/' });
    const dir = tempDir('bench-huge-');
    try {
      const database = join(dir.path, 'i.db');
      record(
        's3',
        'first',
        await child(script, { database, url: server.storageUrl(), rounds: [{}] }),
        N,
      );
      server.options = {
        count: left,
        prefix: 'big/',
        object: (i) => {
          const o = defaultHugeObject(i);
          return i % 100 === 0 ? { ...o, size: (o.size as number) + 1 } : o;
        },
      };
      record(
        's3',
        'rescan',
        await child(script, { database, url: server.storageUrl(), rounds: [{}] }),
        left,
      );
    } finally {
      await server.close();
      dir.cleanup();
    }
  }
} finally {
  cleanup();
}
