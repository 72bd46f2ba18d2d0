/**
 * The FTP backend against a server that misbehaves on purpose (test/tools/hostile-ftp.ts):
 * listings cut short, bad entries, servers that go silent, listings abandoned halfway; and
 * the same through a scan, where none of it may delete an index entry.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { App } from '../src/app.js';
import { ftpBackend } from '../src/storage/backends/ftp-backend.js';
import type { StorageError } from '../src/storage/errors.js';
import type { Entry } from '../src/storage/types.js';
import { parseStorageSpec } from '../src/storage/url.js';
import { indexLines, tempDir } from './support/harness.js';
import { startSilentServer } from './support/silent-server.js';
import { listAll } from './support/list-all.js';
import { listLine, startHostileFtp, type HostileFtp } from './tools/hostile-ftp.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(options: Parameters<typeof startHostileFtp>[0]): Promise<HostileFtp> {
  const ftpd = await startHostileFtp(options);
  cleanups.push(() => ftpd.close());
  return ftpd;
}

function client(ftpd: { host?: string; port: number }, extra: Record<string, unknown> = {}) {
  const c = ftpBackend.create(
    ftpBackend.parseOptions({
      host: ftpd.host ?? '127.0.0.1',
      port: ftpd.port,
      user: 'u',
      password: 'p',
      ...extra,
    }),
    { env: {} },
  );
  cleanups.push(() => c.close());
  return c;
}

/** Every page of a listing, and how it ended. */
async function drain(
  pages: AsyncIterable<Entry[]>,
): Promise<{ pages: Entry[][]; entries: Entry[]; error: StorageError | undefined }> {
  const out: Entry[][] = [];
  try {
    for await (const page of pages) out.push(page);
    return { pages: out, entries: out.flat(), error: undefined };
  } catch (error) {
    return { pages: out, entries: out.flat(), error: error as StorageError };
  }
}

const names = (n: number, prefix = 'f') =>
  Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(5, '0')}.txt`);
const mlsdLine = (name: string, size: number | string = 1, modify = '20261125012900') =>
  `type=file;size=${size};modify=${modify}; ${name}`;

describe('ftp listing cut short by the server', () => {
  it('keeps the entries sent and ends with PROTOCOL on "226 Output truncated" (Pure-FTPd, LIST)', async () => {
    const ftpd = await server({
      dirs: {
        '/': {
          lines: names(25).map((n) => listLine(n)),
          reply: '226-Options: -a -l\r\n226 Output truncated to 25 matches',
        },
      },
    });
    const r = await drain(client(ftpd).list('/'));
    expect(r.entries.map((e) => e.name)).toEqual(names(25));
    expect(r.error).toMatchObject({ code: 'PROTOCOL', path: '/' });
    expect(r.error!.message).toMatch(/Output truncated to 25 matches/);
  });

  it('does the same for MLSD, which it uses when FEAT offers MLST', async () => {
    const ftpd = await server({
      mlsd: true,
      dirs: {
        '/': {
          lines: names(30).map((n) => mlsdLine(n)),
          reply: '226 Output truncated to 30 matches',
        },
      },
    });
    const r = await drain(client(ftpd).list('/'));
    expect(ftpd.commands).toContain('MLSD');
    expect(r.entries).toHaveLength(30);
    expect(r.error).toMatchObject({ code: 'PROTOCOL' });
  });

  it('takes a plain "226 N matches total" as complete, and fails a final reply that is not 226/250', async () => {
    const ftpd = await server({
      dirs: {
        '/': {
          lines: names(3).map((n) => listLine(n)),
          reply: '226-Options: -a -l\r\n226 3 matches total',
        },
        '/odd': { lines: names(3).map((n) => listLine(n)), reply: '200 Fine.' },
        '/aborted': {
          lines: names(3).map((n) => listLine(n)),
          reply: '451 Transfer aborted: local error',
        },
      },
    });
    const c = client(ftpd);
    expect(await listAll(c.list('/'))).toHaveLength(3);
    const odd = await drain(c.list('/odd'));
    expect(odd.entries).toHaveLength(3);
    expect(odd.error).toMatchObject({ code: 'PROTOCOL' });
    expect(odd.error!.message).toMatch(/not 226 or 250/);
    const aborted = await drain(c.list('/aborted'));
    expect(aborted.error).toMatchObject({ code: 'UNAVAILABLE', retryable: true });
  });

  it('waits for the final reply whichever comes first, the reply or the end of the data', async () => {
    const ftpd = await server({
      dirs: {
        '/': { lines: names(1500).map((n) => listLine(n)), replyFirst: true },
        '/cut': {
          lines: names(1500).map((n) => listLine(n)),
          replyFirst: true,
          reply: '226 Output truncated to 1500 matches',
        },
      },
    });
    const c = client(ftpd);
    expect(await listAll(c.list('/'))).toHaveLength(1500);
    const cut = await drain(c.list('/cut'));
    expect(cut.entries).toHaveLength(1500);
    expect(cut.error).toMatchObject({ code: 'PROTOCOL' });
  });
});

describe('ftp entries a server should not send', () => {
  it('leaves out bad LIST lines, keeps every good one, and ends with PROTOCOL counting them', async () => {
    const good = names(2000).map((n) => listLine(n, 7));
    const bad = [
      listLine('huge.bin', '99999999999999999999999'),
      'this is not a listing line',
      '-rw-r--r--    1 0 0 12 Foo 25 01:29 bad-month.txt',
      '-rw-r--r--    1 0 0 12 Nov 99 01:29 bad-day.txt',
      '-rw-r--r--    1 0 0 12 Nov 25 77:29 bad-hour.txt',
      listLine('a/b'),
      listLine(`${'x'.repeat(70_000)}`),
    ];
    const lines = [...good.slice(0, 1000), ...bad, ...good.slice(1000)];
    const ftpd = await server({ dirs: { '/': { lines } } });
    const r = await drain(client(ftpd).list('/'));
    expect(r.entries.map((e) => e.name)).toEqual(names(2000));
    expect(r.entries.every((e) => e.size === 7)).toBe(true);
    expect(r.error).toMatchObject({ code: 'PROTOCOL', invalidEntries: bad.length });
    expect(r.error!.message).toMatch(/99999999999999999999999/);
  });

  it('leaves out bad MLSD sizes and times (1e+23, 1.5, -5, year 0, month 13)', async () => {
    const lines = [
      mlsdLine('ok.txt', 5),
      mlsdLine('exp.txt', '1e+23'),
      mlsdLine('frac.txt', '1.5'),
      mlsdLine('neg.txt', '-5'),
      mlsdLine('zero-year.txt', 1, '00000101000000'),
      mlsdLine('month13.txt', 1, '20261301000000'),
      'type=file;size=1; no-time.txt',
      'type=dir;modify=20261125012900; sub',
      'type=cdir;modify=20261125012900; .',
    ];
    const ftpd = await server({ mlsd: true, dirs: { '/': { lines } } });
    const r = await drain(client(ftpd).list('/'));
    expect(r.entries.map((e) => [e.name, e.size, e.isDir])).toEqual([
      ['ok.txt', 5, false],
      ['sub', 0, true],
    ]);
    expect(r.error).toMatchObject({ code: 'PROTOCOL', invalidEntries: 6 });
  });
});

describe('ftp listing that never ends', () => {
  it('ends a listing whose one line never ends, at a bounded cost', async () => {
    const ftpd = await server({
      dirs: {
        '/': {
          // Bytes without a line end, for ever.
          eol: '',
          lines: function* () {
            const piece = 'x'.repeat(65_536);
            for (;;) yield piece;
          },
        },
      },
    });
    const r = await drain(client(ftpd).list('/'));
    expect(r.entries).toEqual([]);
    expect(r.error).toMatchObject({ code: 'PROTOCOL' });
    expect(r.error!.message).toMatch(/is not a listing/);
  });
});

describe('ftp listing streams', () => {
  it('hands on pages while the server is still sending; timeoutMs bounds the silence after them', async () => {
    const ftpd = await server({
      dirs: { '/': { lines: names(5000).map((n) => listLine(n)), stallAfter: 2500 } },
    });
    const started = Date.now();
    const r = await drain(client(ftpd, { timeoutMs: 500 }).list('/'));
    // Two full pages arrived before the server went silent, then the listing failed.
    expect(r.pages.length).toBeGreaterThanOrEqual(2);
    expect(r.pages.every((p) => p.length <= 1000)).toBe(true);
    expect(r.entries.length).toBeLessThanOrEqual(2500);
    expect(r.error).toMatchObject({ code: 'TIMEOUT', retryable: true });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('lets a slow listing take longer than timeoutMs as long as data keeps coming', async () => {
    const ftpd = await server({
      dirs: { '/': { lines: names(3000).map((n) => listLine(n)), pace: { every: 300, ms: 150 } } },
    });
    const started = Date.now();
    const entries = await listAll(client(ftpd, { timeoutMs: 600 }).list('/'));
    expect(entries).toHaveLength(3000);
    // Ten pauses of 150 ms: the whole listing outlasted timeoutMs and still succeeded.
    expect(Date.now() - started).toBeGreaterThan(600);
  });

  it('pauses the server while the caller does not pull, and does not count that as silence', async () => {
    const total = 3_000_000;
    const ftpd = await server({
      dirs: {
        '/': {
          lines: function* () {
            for (let i = 0; i < total; i++) yield listLine(`file-${i}.jpg`, i);
          },
        },
      },
    });
    const c = client(ftpd, { timeoutMs: 400 });
    const pages = c.list('/')[Symbol.asyncIterator]();
    const first = await pages.next();
    expect(first.value).toHaveLength(1000);
    // The caller is busy for longer than timeoutMs: the server waits on TCP backpressure.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const sentWhilePaused = ftpd.linesSent;
    expect(sentWhilePaused).toBeLessThan(total / 4);
    const second = await pages.next();
    expect(second.done).toBe(false);
    expect(second.value).toHaveLength(1000);
    await pages.return?.(undefined);
    // Stopping early drops the data connection at once.
    await ftpd.dataClosed();
  });
});

describe('ftp waits end on time and on abort', () => {
  it('fails within connectTimeoutMs against a server that never greets, whatever timeoutMs is', async () => {
    const silent = await startSilentServer();
    cleanups.push(() => silent.close());
    const started = Date.now();
    await expect(
      client({ port: silent.port }, { connectTimeoutMs: 300, timeoutMs: 120_000 }).connect(),
    ).rejects.toMatchObject({ code: 'TIMEOUT', retryable: true });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('bounds the login by connectTimeoutMs too (a server that never answers PASS)', async () => {
    const ftpd = await server({ dirs: { '/': {} }, silentAt: 'PASS' });
    const started = Date.now();
    await expect(
      client(ftpd, { connectTimeoutMs: 300, timeoutMs: 120_000 }).connect(),
    ).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  for (const verb of ['CWD', 'EPSV', 'LIST']) {
    it(`fails within timeoutMs when the server never answers ${verb}`, async () => {
      const ftpd = await server({
        dirs: { '/': { lines: [listLine('a')] }, '/d': { lines: [listLine('b')] } },
        silentAt: verb,
      });
      const c = client(ftpd, { timeoutMs: 300 });
      if (verb !== 'CWD') await c.connect();
      const started = Date.now();
      await expect(listAll(c.list('/d'))).rejects.toMatchObject({ code: 'TIMEOUT' });
      expect(Date.now() - started).toBeLessThan(5_000);
    });
  }

  it('ends a listing cancelled mid-stream at once, releases its data connection, never reuses it', async () => {
    const ftpd = await server({
      dirs: {
        '/': { lines: names(5000).map((n) => listLine(n)), stallAfter: 1500 },
        '/small': { lines: [listLine('x')] },
      },
    });
    const c = client(ftpd, { timeoutMs: 60_000, connections: 1 });
    const abort = new AbortController();
    const pages = c.list('/', { signal: abort.signal })[Symbol.asyncIterator]();
    expect((await pages.next()).value).toHaveLength(1000);
    const next = pages.next(); // waits on a server that went silent
    setTimeout(() => abort.abort(), 100);
    const started = Date.now();
    await expect(next).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(Date.now() - started).toBeLessThan(3_000);
    await ftpd.dataClosed();
    // The connection of the cancelled listing is gone: the next listing logs in afresh.
    const before = ftpd.connections;
    expect(await listAll(c.list('/small'))).toHaveLength(1);
    expect(ftpd.connections).toBe(before + 1);
  });

  it('ends a wait for a free connection and a connect under way on abort', async () => {
    const ftpd = await server({
      dirs: { '/': { lines: names(10).map((n) => listLine(n)), stallAfter: 5 } },
    });
    const c = client(ftpd, { timeoutMs: 60_000, connections: 1 });
    const holder = c.list('/')[Symbol.asyncIterator]();
    const held = holder.next(); // holds the only connection, the server silent
    await new Promise((resolve) => setTimeout(resolve, 200));
    const abort = new AbortController();
    const waiting = listAll(c.list('/', { signal: abort.signal }));
    setTimeout(() => abort.abort(), 100);
    await expect(waiting).rejects.toMatchObject({ code: 'CANCELLED' });
    await c.close();
    await expect(held).rejects.toMatchObject({ code: 'UNAVAILABLE' });

    const silent = await startSilentServer();
    cleanups.push(() => silent.close());
    const connecting = new AbortController();
    const started = Date.now();
    const listing = listAll(
      client({ port: silent.port }, { connectTimeoutMs: 60_000 }).list('/', {
        signal: connecting.signal,
      }),
    );
    setTimeout(() => connecting.abort(), 100);
    await expect(listing).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('abandons a connect under way when the client is closed', async () => {
    const silent = await startSilentServer();
    cleanups.push(() => silent.close());
    const c = client({ port: silent.port }, { connectTimeoutMs: 60_000 });
    const started = Date.now();
    const listing = listAll(c.list('/'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    await c.close();
    await expect(listing).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});

describe('ftp 550 on CWD', () => {
  it('is PERMISSION_DENIED for a folder its parent lists, NOT_FOUND otherwise', async () => {
    const ftpd = await server({
      dirs: { '/': { lines: [listLine('locked', 0, 'd'), listLine('file.txt')] } },
    });
    const c = client(ftpd);
    await expect(listAll(c.list('/locked'))).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    await expect(listAll(c.list('/missing'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(listAll(c.list('/file.txt'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await listAll(c.list('/'))).toHaveLength(2);
  });

  it('takes a LIST refused with "450 .: Permission denied" (ProFTPD) as PERMISSION_DENIED', async () => {
    const ftpd = await server({
      dirs: {
        '/': { lines: [listLine('r', 0, 'd')] },
        '/r': { refuse: '450 .: Permission denied' },
      },
    });
    await expect(listAll(client(ftpd).list('/r'))).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
    });
  });
});

describe('ftp scans against a server that cuts listings or sends bad entries', () => {
  let app: App | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function scanSetup() {
    const full = names(50).map((n) => listLine(n, 10));
    const ftpd = await server({
      dirs: {
        '/': { lines: [listLine('big', 0, 'd'), listLine('top.txt', 3)] },
        '/big': { lines: full },
      },
    });
    const dir = tempDir('trawl-ftp-hostile-');
    cleanups.push(() => dir.cleanup());
    app = await App.open({ database: join(dir.path, 'index.db'), tenant: 'default', env: {} });
    const storage = await app.ensureStorage(parseStorageSpec(`${ftpd.url}?timeoutMs=5000`));
    const first = await app.scan(storage);
    expect(first).toMatchObject({ status: 'succeeded', created: 51, deleted: 0 });
    const before = await indexLines(app, storage);
    expect(before).toHaveLength(52);
    return { ftpd, storage, full, before, app };
  }

  it('deletes nothing in a directory the server says it cut short, applies what it sent, heals next time', async () => {
    const { ftpd, storage, full, before, app } = await scanSetup();
    // Half the directory, one of its files grown, and Pure-FTPd's truncation line.
    const half = full.slice(0, 25);
    half[3] = listLine(names(50)[3]!, 99);
    ftpd.dirs['/big'] = {
      lines: half,
      reply: '226-Options: -a -l\r\n226 Output truncated to 25 matches',
    };
    const cut = await app.scan(storage);
    expect(cut).toMatchObject({ status: 'partial', deleted: 0, updated: 1 });
    expect(cut.errorSample).toEqual([expect.objectContaining({ path: '/big', code: 'PROTOCOL' })]);
    const after = await indexLines(app, storage);
    expect(after).toHaveLength(52);
    expect(after).toContain(`/big/${names(50)[3]}:99`);
    expect(after).toContain(`/big/${names(50)[49]}:10`);

    // Answering in full again, one file really gone: now it is deleted.
    ftpd.dirs['/big'] = { lines: full.slice(0, 49) };
    const healed = await app.scan(storage);
    expect(healed).toMatchObject({ status: 'succeeded', deleted: 1, updated: 1 });
    expect(await indexLines(app, storage)).toEqual(
      before.filter((l) => l !== `/big/${names(50)[49]}:10`),
    );
  });

  it('keeps an entry whose line turned bad, counts it, deletes nothing, heals next time', async () => {
    const { ftpd, storage, full, before, app } = await scanSetup();
    const bad = [...full];
    bad[7] = listLine(names(50)[7]!, '99999999999999999999999');
    bad[8] = 'garbage';
    ftpd.dirs['/big'] = { lines: bad.filter((_, i) => i !== 20) };
    const partial = await app.scan(storage);
    expect(partial).toMatchObject({ status: 'partial', deleted: 0, invalidEntries: 2 });
    expect(partial.errorSample).toEqual([
      expect.objectContaining({ path: '/big', code: 'PROTOCOL' }),
    ]);
    expect(await indexLines(app, storage)).toEqual(before);

    ftpd.dirs['/big'] = { lines: full.filter((_, i) => i !== 20) };
    const healed = await app.scan(storage);
    expect(healed).toMatchObject({ status: 'succeeded', deleted: 1 });
    expect(await indexLines(app, storage)).toHaveLength(51);
  });
});
