/**
 * The SFTP backend against servers that misbehave on purpose (test/servers/hostile-sftp.ts):
 * bad names, sizes and times, answers without end, stalls and cancellation, and a listing
 * that streams instead of buffering the directory. The scan-level checks run through App.
 */
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { App } from '../src/app.js';
import { sftpBackend } from '../src/storage/backends/sftp-backend.js';
import type { Entry, StorageClient } from '../src/storage/types.js';
import { parseStorageSpec } from '../src/storage/url.js';
import {
  batches,
  dir,
  file,
  S_IFREG,
  startHostileSftp,
  type HostileSftp,
  type SftpAnswer,
  type SftpName,
} from './servers/hostile-sftp.js';
import { indexLines, tempDir } from './support/harness.js';
import { listAll } from './support/list-all.js';
import { startSilentServer } from './support/silent-server.js';

const names = (entries: Entry[]) => entries.map((e) => e.name).sort();

function many(n: number, prefix = 'f'): SftpName[] {
  return Array.from({ length: n }, (_, i) => file(`${prefix}${String(i).padStart(6, '0')}`, i));
}

describe('sftp against a hostile server', () => {
  let server: HostileSftp;
  let client: StorageClient;
  /** Per directory, what its READDIR calls are answered with; tests set their own. */
  const dirs = new Map<string, (call: number) => SftpAnswer | Promise<SftpAnswer>>();

  const makeClient = (overrides: Record<string, unknown> = {}) =>
    sftpBackend.create(
      sftpBackend.parseOptions({
        host: '127.0.0.1',
        port: server.port,
        user: 'u',
        password: 'p',
        insecureHostKey: true,
        timeoutMs: 10_000,
        ...overrides,
      }),
      { env: {} },
    );

  beforeAll(async () => {
    dirs.set('/', batches([dir('a'), file('top.txt')]));
    server = await startHostileSftp((path) => dirs.get(path));
    client = makeClient();
    await client.connect();
  });
  afterAll(async () => {
    await client?.close();
    await server?.close();
  });
  afterEach(() => {
    server.events.length = 0;
  });

  it('yields the good entries and ends with PROTOCOL naming the bad ones (size, time, type, name)', async () => {
    dirs.set(
      '/bad',
      batches([
        file('good-1.txt', 10),
        // Past 2^53: ssh2 reads it as an inexact number.
        { filename: 'huge.bin', attrs: { mode: S_IFREG | 0o644, size: 2 ** 60, mtime: 1 } },
        { filename: 'no-time.txt', attrs: { mode: S_IFREG | 0o644, size: 3 } },
        { filename: 'no-type.txt', attrs: { size: 3, mtime: 1 } },
        file('a/b'),
        file('nul\0name'),
        file(''),
        file('x'.repeat(1100)),
        dir('good-dir'),
        file('good-2.txt', 20),
      ]),
    );
    const got: Entry[] = [];
    const error = await (async () => {
      for await (const page of client.list('/bad')) got.push(...page);
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(names(got)).toEqual(['good-1.txt', 'good-2.txt', 'good-dir']);
    expect(got.find((e) => e.name === 'good-2.txt')).toMatchObject({
      path: '/bad/good-2.txt',
      size: 20,
      mtime: 1_700_000_000_000,
    });
    expect(error).toMatchObject({ code: 'PROTOCOL', invalidEntries: 7, path: '/bad' });
    expect((error as Error).message).toMatch(/huge\.bin.*size/);
    // The handle is closed all the same.
    await expect.poll(() => server.openHandles()).toEqual([]);
  });

  it('streams a large directory: the first page comes before the server is asked for the rest', async () => {
    dirs.set('/big', batches(many(3500), 100));
    const pages = client.list('/big')[Symbol.asyncIterator]();
    const first = await pages.next();
    expect(first.value).toHaveLength(1000);
    const asked = () => server.events.filter((e) => e.startsWith('readdir /big')).length;
    // 35 answers hold the directory; at the first page 10 of them have been asked for,
    // and no more while the consumer does not pull (backpressure).
    expect(asked()).toBeLessThanOrEqual(11);
    await new Promise((r) => setTimeout(r, 200));
    expect(asked()).toBeLessThanOrEqual(11);
    let total = first.value.length;
    for (let step = await pages.next(); !step.done; step = await pages.next()) {
      total += step.value.length;
    }
    expect(total).toBe(3500);
    expect(asked()).toBe(36);
  });

  it('closes the handle when the consumer stops early', async () => {
    // The server would never finish: only a listing that streams gets a first page here.
    const endless = many(1000);
    dirs.set('/endless', (call) =>
      call < 10 ? endless.slice(call * 100, call * 100 + 100) : 'stall',
    );
    for await (const page of client.list('/endless')) {
      expect(page).toHaveLength(1000);
      break;
    }
    await expect.poll(() => server.events).toContain('close /endless');
    expect(server.openHandles()).toEqual([]);
  });

  it('ends a listing whose server repeats one answer for ever, after the good pages', async () => {
    const same = many(100);
    dirs.set('/loop', () => same);
    const got: Entry[] = [];
    const error = await (async () => {
      for await (const page of client.list('/loop')) got.push(...page);
    })().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'PROTOCOL', path: '/loop' });
    expect((error as Error).message).toMatch(/already sent/);
    expect(got.length).toBeLessThanOrEqual(100);
    await expect.poll(() => server.openHandles()).toEqual([]);
  });

  it('ends a listing whose server answers empty batches for ever', async () => {
    dirs.set('/empty-forever', () => []);
    await expect(listAll(client.list('/empty-forever'))).rejects.toMatchObject({
      code: 'PROTOCOL',
      path: '/empty-forever',
    });
  });

  it('ends with the error after the pages when the server fails mid-listing', async () => {
    const entries = many(1500);
    dirs.set('/fails', (call) =>
      call < 12
        ? entries.slice(call * 100, call * 100 + 100)
        : { status: 4, message: 'disk on fire' },
    );
    const got: Entry[] = [];
    const error = await (async () => {
      for await (const page of client.list('/fails')) got.push(...page);
    })().catch((e: unknown) => e);
    // The page that went out, then the 200 entries read after it: all true, not whole.
    expect(got).toHaveLength(1200);
    expect(error).toMatchObject({ code: 'PROTOCOL', path: '/fails' });
  });

  it('bounds waiting without progress by timeoutMs, not the whole listing', async () => {
    const slow = makeClient({ timeoutMs: 1500 });
    await slow.connect();
    try {
      // Slow but moving: 13 answers 300 ms apart (3.9 s in all) are within a 1.5 s timeout.
      const entries = batches(many(1200));
      dirs.set('/slow', async (call) => {
        await new Promise((r) => setTimeout(r, 300));
        return entries(call);
      });
      expect(await listAll(slow.list('/slow'))).toHaveLength(1200);

      // Stalled: no answer at all ends the listing with TIMEOUT after the page it had.
      dirs.set('/stalls', (call) => (call < 10 ? entries(call) : 'stall'));
      const got: Entry[] = [];
      const error = await (async () => {
        for await (const page of slow.list('/stalls')) got.push(...page);
      })().catch((e: unknown) => e);
      expect(got).toHaveLength(1000);
      expect(error).toMatchObject({ code: 'TIMEOUT', retryable: true, path: '/stalls' });
    } finally {
      await slow.close();
    }
  });

  it('answers an abort at once with CANCELLED, closes the handle and stays usable', async () => {
    dirs.set('/stuck', () => 'stall');
    const controller = new AbortController();
    const listing = listAll(client.list('/stuck', { signal: controller.signal }));
    await expect.poll(() => server.events).toContain('readdir /stuck 0');
    const started = Date.now();
    controller.abort();
    await expect(listing).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(Date.now() - started).toBeLessThan(2000);
    await expect.poll(() => server.events).toContain('close /stuck');
    expect(names(await listAll(client.list('/')))).toEqual(['a', 'top.txt']);
  });

  it('refuses to start a listing whose signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(listAll(client.list('/', { signal: controller.signal }))).rejects.toMatchObject({
      code: 'CANCELLED',
    });
    expect(server.events).toEqual([]);
  });
});

describe('sftp connect timeout', () => {
  it('gives up on a server that never answers after connectTimeoutMs, not timeoutMs', async () => {
    const silent = await startSilentServer();
    const client = sftpBackend.create(
      sftpBackend.parseOptions({
        host: '127.0.0.1',
        port: silent.port,
        user: 'u',
        password: 'p',
        insecureHostKey: true,
        connectTimeoutMs: 500,
        timeoutMs: 120_000,
      }),
      { env: {} },
    );
    try {
      const started = Date.now();
      await expect(client.connect()).rejects.toMatchObject({ code: 'TIMEOUT', retryable: true });
      // It used to wait for timeoutMs (here 120 s).
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await client.close();
      await silent.close();
    }
  });

  it('ends a connect under way at once when the client is closed (Ctrl-C)', async () => {
    const silent = await startSilentServer();
    const client = sftpBackend.create(
      sftpBackend.parseOptions({
        host: '127.0.0.1',
        port: silent.port,
        user: 'u',
        password: 'p',
        insecureHostKey: true,
        connectTimeoutMs: 60_000,
      }),
      { env: {} },
    );
    try {
      const connecting = client.connect().catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 200));
      const started = Date.now();
      await client.close();
      const error = await connecting;
      expect(error).toMatchObject({ code: 'UNAVAILABLE' });
      expect((error as Error).message).toMatch(/is closed/);
      // It used to run on until the connect timed out (here 60 s).
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      await silent.close();
    }
  });

  it('validates connectTimeoutMs like the other options', () => {
    expect(sftpBackend.parseOptions({ host: 'h' }).connectTimeoutMs).toBe(10_000);
    expect(() => sftpBackend.parseOptions({ host: 'h', connectTimeoutMs: 'soon' })).toThrow(
      /connectTimeoutMs/,
    );
  });
});

describe('sftp scans through App against a hostile server', () => {
  /** What each directory lists, in READDIR batches of 100; `failAfter` cuts a listing short. */
  const tree = new Map<string, SftpName[]>();
  const failAfter = new Map<string, number>();
  let server: HostileSftp;
  let app: App;
  let work: { path: string; cleanup: () => void };

  beforeAll(async () => {
    server = await startHostileSftp((path) => {
      const entries = tree.get(path);
      if (!entries) return undefined;
      const pages = batches(entries);
      const cut = failAfter.get(path);
      return (call) =>
        cut !== undefined && call >= cut ? { status: 4, message: 'cut short' } : pages(call);
    });
    work = tempDir('trawl-sftp-hostile-');
    app = await App.open({ database: join(work.path, 'index.db'), tenant: 'default', env: {} });
  });
  afterAll(async () => {
    await app?.close();
    await server?.close();
    work?.cleanup();
  });

  it('applies the good entries of a directory with a bad one, deletes nothing there, and heals', async () => {
    tree.set('/', [dir('a'), dir('b'), file('top.txt', 3)]);
    tree.set('/a', [file('keep.txt', 4), file('gone-later.txt', 5)]);
    tree.set('/b', [file('z.flac', 6)]);
    const storage = await app.ensureStorage(parseStorageSpec(server.url));
    expect(await app.scan(storage)).toMatchObject({
      status: 'succeeded',
      dirs: 2,
      files: 4,
      created: 4,
    });

    // /a loses a file, gains one, and lists an entry with an impossible size; /b loses one.
    const bad = { filename: 'bad.bin', attrs: { mode: S_IFREG | 0o644, size: 2 ** 60, mtime: 1 } };
    tree.set('/a', [file('keep.txt', 4), file('new.txt', 7), bad]);
    tree.set('/b', []);
    const partial = await app.scan(storage);
    expect(partial).toMatchObject({ status: 'partial', created: 1, deleted: 1 });
    expect(partial.errorSample).toEqual([
      expect.objectContaining({ path: '/a', code: 'PROTOCOL' }),
    ]);
    expect(await indexLines(app, storage)).toEqual([
      '/a:d',
      '/a/gone-later.txt:5',
      '/a/keep.txt:4',
      '/a/new.txt:7',
      '/b:d',
      '/top.txt:3',
    ]);

    // The server is sane again: the deletion it could not prove before happens now.
    tree.set('/a', [file('keep.txt', 4), file('new.txt', 7)]);
    expect(await app.scan(storage)).toMatchObject({ status: 'succeeded', deleted: 1 });
    expect(await indexLines(app, storage)).toEqual([
      '/a:d',
      '/a/keep.txt:4',
      '/a/new.txt:7',
      '/b:d',
      '/top.txt:3',
    ]);
  });

  it('keeps a directory whose listing the server cuts off after the first pages, and heals', async () => {
    const storage = await app.ensureStorage(parseStorageSpec(server.url));
    tree.set('/b', many(1500, 'p'));
    expect(await app.scan(storage)).toMatchObject({ status: 'succeeded', created: 1500 });
    const inB = async () => (await indexLines(app, storage)).filter((l) => l.startsWith('/b/'));

    // 200 files go and one comes, but the listing breaks off after 1,200 entries.
    tree.set('/b', [...many(1300, 'p'), file('q-new', 9)]);
    failAfter.set('/b', 12);
    const partial = await app.scan(storage);
    expect(partial).toMatchObject({ status: 'partial', deleted: 0 });
    expect(partial.errorSample).toEqual([
      expect.objectContaining({ path: '/b', code: 'PROTOCOL' }),
    ]);
    expect(await inB()).toHaveLength(1500);

    failAfter.delete('/b');
    expect(await app.scan(storage)).toMatchObject({
      status: 'succeeded',
      created: 1,
      deleted: 200,
    });
    expect(await inB()).toHaveLength(1301);
  });
});
