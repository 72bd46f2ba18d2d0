/**
 * One directory of 5,000,000 entries (a camera dump, a flat S3 prefix): scanned and rescanned
 * in a process of its own, whose peak RSS must stay under 300 MB — the listing is streamed in
 * pages and diffed page by page, never held whole.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildChild } from './support/db-build.js';
import { tempDir } from './support/harness.js';
import type { HugeReport, HugeTask } from './support/huge-child.js';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
let child: { script: string; cleanup: () => void };
beforeAll(async () => {
  child = await buildChild('test/support/huge-child.ts');
});
afterAll(() => child?.cleanup());

/** Runs the scans with the heap limit bin/trawl.js uses. */
export async function runHuge(script: string, task: HugeTask): Promise<HugeReport> {
  const { stdout } = await run(
    process.execPath,
    ['--max-old-space-size=1024', script, JSON.stringify(task)],
    { maxBuffer: 1 << 20 },
  );
  return JSON.parse(stdout) as HugeReport;
}

describe('a directory of 5,000,000 entries', () => {
  it('scans and rescans exactly (memory backend, SQLite) with peak RSS under 300 MB', async () => {
    const dir = tempDir('trawl-huge-');
    try {
      const report = await runHuge(child.script, {
        database: join(dir.path, 'index.db'),
        memory: 5_000_000,
        // Then 50,000 vanish and every 100th of the rest changes.
        rounds: [{}, { count: 4_950_000, changeEvery: 100 }],
      });
      expect(report.rounds).toEqual([
        expect.objectContaining({ status: 'succeeded', files: 5_000_000, created: 5_000_000 }),
        expect.objectContaining({
          status: 'succeeded',
          files: 4_950_000,
          created: 0,
          updated: 49_500,
          deleted: 50_000,
          unchanged: 4_900_500,
        }),
      ]);
      expect(report.maxRssMb).toBeLessThan(300);
    } finally {
      dir.cleanup();
    }
  }, 600_000);
});
