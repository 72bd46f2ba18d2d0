/**
 * Ctrl-C in a real `trawl scan` process while the storage is still connecting: the scan
 * stops at once, whatever the backend is doing, and is recorded `cancelled`.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from './support/harness.js';
import { jsonResult, startTrawl } from './support/trawl-process.js';

describe('trawl scan, interrupted', () => {
  let dir: ReturnType<typeof tempDir> | undefined;
  afterEach(() => dir?.cleanup());

  it('stops within a second while the storage connects, and records the scan cancelled', async () => {
    dir = tempDir('trawl-cancel-');
    const db = join(dir.path, 'index.db');
    // A connect that takes 5 s and does not heed any signal, like a TCP connect to a silent host.
    const trawl = startTrawl(['scan', 'memory://paced', '--db', db, '--json'], {
      PACED_CONNECT_MS: '5000',
    });
    await trawl.waitFor('fixture: connecting');
    await new Promise((r) => setTimeout(r, 200));
    const signalled = Date.now();
    trawl.kill('SIGINT');
    await trawl.waitFor('"status":"cancelled"', 5_000);
    // Before: the runner waited for the connect, and only then saw the signal.
    expect(Date.now() - signalled).toBeLessThan(1_000);
    const out = await trawl.exit(20_000);
    expect(out.code).toBe(130);
    const result = jsonResult(out);
    expect(result).toMatchObject({ status: 'cancelled', files: 0 });
    expect(out.messages).toEqual([]);

    const history = await startTrawl(['scans', '--db', db, '--json']).exit(20_000);
    expect(JSON.parse(history.stdout)).toMatchObject({ id: result.scanId, status: 'cancelled' });
  });
});
