/**
 * Two terminals, one index, one storage: the second `trawl scan` does not scan it twice — it
 * says which scan is running and exits 75, or waits for it with --wait.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openIndex } from '../src/db/open.js';
import { EXIT_HELD } from '../src/cli/commands/scan.js';
import { tempDir } from './support/harness.js';
import { startTrawl } from './support/trawl-process.js';

describe('trawl scan while another process scans the same storage', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('says which scan is running and exits 75; with --wait, scans once the first is done', async () => {
    const dir = tempDir('trawl-lease-');
    cleanups.push(dir.cleanup);
    const db = join(dir.path, 'index.db');
    // Long enough (200 × 60 ms over 2 workers: ~6 s) that the second process, started on a
    // loaded CI machine, still finds the first one scanning.
    const slow = { PACED_DIRS: '200', PACED_LATENCY_MS: '60' };
    const first = startTrawl(['scan', 'memory://paced', '--db', db, '--workers', '2'], slow);
    await first.waitFor('fixture: listing');

    const second = startTrawl(['scan', 'memory://paced', '--db', db], slow);
    const refused = await second.exit(30_000);
    expect(refused.code).toBe(EXIT_HELD);
    expect(refused.messages).toEqual([
      expect.stringMatching(
        /^trawl: memory:\/\/paced is being scanned by cli@\S+:\d+ \(scan 1, since \S+\); run again when it is done, or add --wait$/,
      ),
    ]);
    expect(refused.stdout).toBe('');

    const waiting = startTrawl(['scan', 'memory://paced', '--db', db, '--wait', '--json'], slow);
    const done = await first.exit(60_000);
    expect(done.code).toBe(0);
    const after = await waiting.exit(60_000);
    expect(after.code).toBe(0);
    expect(JSON.parse(after.stdout)).toMatchObject({ status: 'succeeded', scanId: 2, created: 0 });

    const index = await openIndex(db);
    try {
      const scans = await index.scans.list({ tenantId: 1 });
      expect(scans.map((s) => s.status)).toEqual(['succeeded', 'succeeded']);
      // One after the other, never at once.
      const [later, earlier] = scans;
      expect(later!.startedAt).toBeGreaterThanOrEqual(earlier!.finishedAt!);
    } finally {
      await index.close();
    }
  });

  it('takes over at once from a process on this machine that was killed holding the storage', async () => {
    const dir = tempDir('trawl-lease-');
    cleanups.push(dir.cleanup);
    const db = join(dir.path, 'index.db');
    const slow = { PACED_DIRS: '60', PACED_LATENCY_MS: '60' };
    const first = startTrawl(['scan', 'memory://paced', '--db', db, '--workers', '2'], slow);
    await first.waitFor('fixture: listing');
    first.kill('SIGKILL');
    await first.exit(10_000);
    // Its lease would last 30 s more; its process is gone, so the lease is free now.
    const next = await startTrawl(['scan', 'memory://paced', '--db', db, '--json'], slow).exit(
      60_000,
    );
    expect(next.code).toBe(0);
    expect(JSON.parse(next.stdout)).toMatchObject({ status: 'succeeded', files: 60 * 5 });
    const index = await openIndex(db);
    try {
      const scans = await index.scans.list({ tenantId: 1 });
      // The killed scan's row is marked, not left running.
      expect(scans.map((s) => s.status)).toEqual(['succeeded', 'interrupted']);
    } finally {
      await index.close();
    }
  });
});
