/**
 * A PostgreSQL index failing under a running `trawl scan`: the connection dropped, the
 * server gone, the link frozen. Through a TCP proxy between trawl and the machine's
 * PostgreSQL, in a real trawl process, because what is at stake is how that process ends.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  PG_ADMIN_URL,
  createDatabase,
  skipDialect,
  withPg,
  type TestDatabase,
} from './support/databases.js';
import { expectTrueToTree } from './support/paced-tree.js';
import { jsonResult, startTrawl, until } from './support/trawl-process.js';
import { startTcpProxy, type TcpProxy } from './tools/tcp-proxy.js';

const DIRS = 600;
const FILES = 20;
const PACED = { PACED_DIRS: String(DIRS), PACED_FILES: String(FILES), PACED_LATENCY_MS: '20' };
// Batches of 300 new entries go in by COPY, in a transaction on a connection the scan holds.
const SCAN = ['scan', 'memory://paced', '--json', '--batch', '300', '--workers', '4'];
/** Until the scan is well under way, then until its next batch is on the wire. */
async function midBatch(url: string, proxy: TcpProxy): Promise<void> {
  await until(async () => (await entryCount(url)) >= 600);
  await proxy.when('COPY entries');
}

type Row = [string, boolean, number, number];

async function entryCount(url: string): Promise<number> {
  return withPg(url, async (c) => {
    const { rows } = await c.query<{ n: string }>('SELECT count(*) AS n FROM entries');
    return Number(rows[0]!.n);
  }).catch(() => 0); // before the first migration there is no table yet
}

async function entryRows(url: string): Promise<Row[]> {
  return withPg(url, async (c) => {
    const { rows } = await c.query<{ path: string; is_dir: number; size: string; mtime: string }>(
      'SELECT path, is_dir, size, mtime FROM entries ORDER BY path',
    );
    return rows.map((r) => [r.path, r.is_dir === 1, Number(r.size), Number(r.mtime)] as Row);
  });
}

async function scanRow(url: string, id: number) {
  return withPg(url, async (c) => {
    const { rows } = await c.query<{ status: string; finished_at: string | null }>(
      'SELECT status, finished_at FROM scans WHERE id = $1',
      [id],
    );
    return rows[0];
  });
}

describe.skipIf(await skipDialect('postgres'))('a scan whose PostgreSQL index fails', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  /** The test database's URL through the proxy. */
  let viaProxy: URL;

  beforeEach(async () => {
    db = await createDatabase('postgres');
    proxy = await startTcpProxy({ targetPort: Number(new URL(PG_ADMIN_URL).port || 5432) });
    viaProxy = new URL(db.url);
    viaProxy.port = String(proxy.port);
  });
  afterEach(async () => {
    await proxy?.close();
    await db?.drop();
  });

  it('ends failed with one clear line and its row finished when every connection drops', async () => {
    const trawl = startTrawl([...SCAN, '--db', viaProxy.href], PACED);
    await midBatch(db.url, proxy);
    proxy.dropConnections();
    const out = await trawl.exit(20_000);

    expect(out.stderr).not.toMatch(/Unhandled|at .*\.js:\d+/); // no crash, no stack trace
    expect(out.code).toBe(1);
    const result = jsonResult(out);
    expect(result.status).toBe('failed');
    expect(result.errorSample).toContainEqual(
      expect.objectContaining({ code: 'INDEX_CONNECTION_LOST' }),
    );
    expect(out.messages).toEqual([
      expect.stringMatching(/^trawl: scan \d+ failed: .*connection to the index database was lost/),
    ]);
    // The scan's row was finished on a fresh connection.
    expect(await scanRow(db.url, result.scanId as number)).toMatchObject({ status: 'failed' });
    expect((await scanRow(db.url, result.scanId as number))!.finished_at).not.toBeNull();
    // Every batch is whole: what is indexed is true to the tree, and a new scan completes it.
    expect(expectTrueToTree(await entryRows(db.url), DIRS, FILES)).toBeGreaterThan(0);
    const again = await startTrawl([...SCAN, '--db', db.url], PACED).exit(30_000);
    expect(again.code).toBe(0);
    expect(jsonResult(again)).toMatchObject({ status: 'succeeded', files: DIRS * FILES });
    expect(await entryRows(db.url)).toHaveLength(DIRS * (FILES + 1));
  });

  it('ends failed, prints its result and says the row stays running when the server is gone', async () => {
    const trawl = startTrawl([...SCAN, '--db', `${viaProxy.href}?connect_timeout=2`], PACED);
    await midBatch(db.url, proxy);
    await proxy.kill();
    const out = await trawl.exit(20_000);

    expect(out.code).toBe(1);
    const result = jsonResult(out);
    expect(result).toMatchObject({ status: 'failed' });
    expect(result.errorSample).toContainEqual(
      expect.objectContaining({ code: 'INDEX_CONNECTION_LOST' }),
    );
    expect(out.messages).toEqual([
      expect.stringMatching(
        /^trawl: scan \d+ failed: .*connection to the index database was lost.*stays "running"/,
      ),
    ]);
    // Honest: nobody could finish the row.
    expect(await scanRow(db.url, result.scanId as number)).toMatchObject({ status: 'running' });
    expectTrueToTree(await entryRows(db.url), DIRS, FILES);
  });

  it('gives up on a frozen connection within its timeouts instead of hanging', async () => {
    const url = `${viaProxy.href}?statement_timeout=1000&query_timeout=2000&connect_timeout=2`;
    const trawl = startTrawl([...SCAN, '--db', url], PACED);
    await midBatch(db.url, proxy);
    proxy.freeze();
    const frozenAt = Date.now();
    // Before: no end at all (≥ 120 s). Now: the 2 s read timeout, then 2 s to find that
    // no new connection can finish the row, and the close.
    const out = await trawl.exit(30_000);
    expect(Date.now() - frozenAt).toBeLessThan(12_000);
    expect(out.code).toBe(1);
    const result = jsonResult(out);
    expect(result.status).toBe('failed');
    expect(result.errorSample).toContainEqual(expect.objectContaining({ code: 'INDEX_TIMEOUT' }));
    expect(out.messages).toEqual([
      expect.stringMatching(/^trawl: scan \d+ failed: .*did not answer.*stays "running"/),
    ]);
    expectTrueToTree(await entryRows(db.url), DIRS, FILES);
  });

  it('stops at once on SIGTERM while its connection is frozen', async () => {
    // Default timeouts: only the cancellation can end this quickly.
    const trawl = startTrawl([...SCAN, '--db', viaProxy.href], PACED);
    await midBatch(db.url, proxy);
    proxy.freeze(); // a batch is now waiting on the frozen link
    const signalled = Date.now();
    trawl.kill('SIGTERM');
    const out = await trawl.exit(40_000);
    expect(Date.now() - signalled).toBeLessThan(5_000);
    expect(out.code).toBe(130);
    expect(jsonResult(out)).toMatchObject({ status: 'cancelled' });
    expectTrueToTree(await entryRows(db.url), DIRS, FILES);
  });

  it('says it is waiting, and stops at once on SIGTERM, while the index does not answer at open', async () => {
    proxy.freeze();
    const trawl = startTrawl([...SCAN, '--db', viaProxy.href], PACED);
    const waiting = `trawl: waiting for the index ${viaProxy.href} (no answer yet)…`;
    await trawl.waitFor(waiting, 5_000);
    const signalled = Date.now();
    trawl.kill('SIGTERM');
    const out = await trawl.exit(40_000);
    // Before: the signal killed the process outright (no exit status, nothing said).
    expect(Date.now() - signalled).toBeLessThan(1_500);
    expect(out).toMatchObject({ code: 130, signal: null, stdout: '' });
    expect(out.messages).toEqual([waiting, 'trawl: cancelled before the scan started']);
    // Nothing half-made: the migrations never ran.
    const tables = await withPg(db.url, (c) =>
      c.query(`SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public'`),
    );
    expect(Number(tables.rows[0].n)).toBe(0);
  });

  it('gives up opening an index that does not answer within connect_timeout', async () => {
    proxy.freeze();
    const url = `${viaProxy.href}?connect_timeout=2`;
    const out = await startTrawl([...SCAN, '--db', url], PACED).exit(40_000);
    // Before: 30 s, whatever the URL said.
    expect(out.ms).toBeLessThan(8_000);
    expect(out).toMatchObject({ code: 1, stdout: '' });
    expect(out.messages).toEqual([
      expect.stringMatching(/^trawl: waiting for the index .* \(no answer yet\)…$/),
      expect.stringMatching(
        /^trawl: cannot use index database .*: Connection terminated due to connection timeout; check the --db path or URL/,
      ),
    ]);
  });
});
