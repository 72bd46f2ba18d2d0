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
import { defaultHugeEntry, startHugeListingServer } from './tools/webdav-huge.js';
import { defaultHugeObject, startS3Huge } from './tools/s3-huge.js';

/**
 * Entries of the remote huge directories: 300,000 in the test run, which shows their pages
 * streamed, diffed page by page and deleted from exactly. A WebDAV or S3 scan of 5,000,000
 * takes minutes here: `npm run bench:huge` runs those (see docs/listings.md for its figures),
 * and `TRAWL_TEST_HUGE_REMOTE=5000000` runs this test at that size. The memory backend's
 * directory is 5,000,000 always.
 */
const REMOTE = Number(process.env.TRAWL_TEST_HUGE_REMOTE ?? 300_000);

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

/** One scan of `url` in a child process; the server stays in this one. */
async function scanInChild(database: string, url: string) {
  const report = await runHuge(child.script, { database, url, rounds: [{}] });
  return { ...report.rounds[0]!, maxRssMb: report.maxRssMb };
}

/** What a rescan must report after 1 % vanished and every 100th of the rest changed. */
function afterChange(n: number) {
  const left = n - n / 100;
  return { files: left, created: 0, deleted: n / 100, updated: Math.ceil(left / 100) };
}

describe(`a remote directory of ${REMOTE.toLocaleString('en')} entries`, () => {
  it('scans and rescans exactly over WebDAV, each scan under 300 MB', async () => {
    const server = await startHugeListingServer({ entries: REMOTE });
    const dir = tempDir('trawl-huge-dav-');
    try {
      const database = join(dir.path, 'index.db');
      const first = await scanInChild(database, server.storageUrl);
      expect(first).toMatchObject({ status: 'succeeded', files: REMOTE, created: REMOTE });
      expect(first.maxRssMb).toBeLessThan(300);
      server.options = {
        entries: REMOTE - REMOTE / 100,
        entry: (i) => ({ ...defaultHugeEntry(i), size: i % 100 === 0 ? i + 1 : i }),
      };
      const second = await scanInChild(database, server.storageUrl);
      expect(second).toMatchObject({ status: 'succeeded', ...afterChange(REMOTE) });
      expect(second.maxRssMb).toBeLessThan(300);
    } finally {
      await server.close();
      dir.cleanup();
    }
  }, 900_000);

  it('scans and rescans exactly a flat S3 prefix, each scan under 300 MB', async () => {
    const server = await startS3Huge({ count: REMOTE, prefix: 'big/' });
    const dir = tempDir('trawl-huge-s3-');
    try {
      const database = join(dir.path, 'index.db');
      const first = await scanInChild(database, server.storageUrl());
      expect(first).toMatchObject({ status: 'succeeded', files: REMOTE, created: REMOTE });
      expect(first.maxRssMb).toBeLessThan(300);
      server.options = {
        count: REMOTE - REMOTE / 100,
        prefix: 'big/',
        object: (i) => {
          const o = defaultHugeObject(i);
          return i % 100 === 0 ? { ...o, size: (o.size as number) + 1 } : o;
        },
      };
      const second = await scanInChild(database, server.storageUrl());
      expect(second).toMatchObject({ status: 'succeeded', ...afterChange(REMOTE) });
      expect(second.maxRssMb).toBeLessThan(300);
    } finally {
      await server.close();
      dir.cleanup();
    }
  }, 900_000);
});
