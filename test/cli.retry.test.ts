/**
 * A storage that accepts connections and never answers: the user hears about every retry as
 * it happens, the scan gives up within its bounds, and the reported duration is the true one.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startSilentServer } from './support/silent-server.js';
import { runCli } from './support/cli-capture.js';
import { tempDir } from './support/harness.js';
import { join } from 'node:path';

describe('trawl scan of a server that never answers', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('says so on stderr at each retry, fails within its bounds, and reports the true duration', async () => {
    const silent = await startSilentServer();
    cleanups.push(() => silent.close());
    const dir = tempDir('trawl-retry-');
    cleanups.push(dir.cleanup);
    const started = Date.now();
    const r = await runCli([
      'scan',
      `webdav://127.0.0.1:${silent.port}/dav?connectTimeoutMs=200&timeoutMs=200`,
      '--db',
      join(dir.path, 'index.db'),
      '--json',
    ]);
    const took = Date.now() - started;
    expect(r.code).toBe(1);
    const json = JSON.parse(r.stdout) as {
      status: string;
      durationMs: number;
      errorSample: Array<{ code: string }>;
    };
    expect(json.status).toBe('failed');
    expect(json.errorSample[0]!.code).toBe('TIMEOUT');
    const retries = r.stderr.split('\n').filter((l) => /retry \d\/4/.test(l));
    expect(retries.map((l) => /retry (\d)\/4/.exec(l)![1])).toEqual(['1', '2', '3', '4']);
    expect(retries[0]).toMatch(
      new RegExp(`^trawl: .*127\\.0\\.0\\.1:${silent.port}.*\\(TIMEOUT\\)`),
    );
    // Five attempts of 200 ms and the backoff between them: seconds, not minutes.
    expect(took).toBeLessThan(15_000);
    // The connects count: the duration is the scan's whole time, not the engine's share.
    expect(json.durationMs).toBeGreaterThanOrEqual(5 * 200);
    expect(json.durationMs).toBeLessThanOrEqual(took);
  });
});
