/**
 * The SMB backend against a server that misbehaves on purpose (test/servers/hostile-smb.ts):
 * bad names, sizes and times, malformed answers, answers without end, stalls and
 * cancellation, and a listing that streams instead of buffering the directory. The
 * scan-level checks run through App.
 */
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { App } from '../src/app.js';
import { smbBackend } from '../src/storage/backends/smb-backend.js';
import type { Entry, StorageClient } from '../src/storage/types.js';
import { parseStorageSpec } from '../src/storage/url.js';
import {
  directoryBuffer,
  smbBatches,
  smbDir,
  smbFile,
  startHostileSmb,
  STATUS,
  type HostileSmb,
  type SmbAnswer,
  type SmbName,
} from './servers/hostile-smb.js';
import { indexLines, tempDir } from './support/harness.js';
import { listAll } from './support/list-all.js';
import { startSilentServer } from './support/silent-server.js';

const names = (entries: Entry[]) => entries.map((e) => e.name).sort();

function many(n: number, prefix = 'f'): SmbName[] {
  return Array.from({ length: n }, (_, i) => smbFile(`${prefix}${String(i).padStart(6, '0')}`, i));
}

/** Lists `dir` to the end: the entries it yielded and the error it ended with, if any. */
async function drain(
  client: StorageClient,
  dir: string,
): Promise<{ got: Entry[]; error: unknown }> {
  const got: Entry[] = [];
  try {
    for await (const page of client.list(dir)) got.push(...page);
    return { got, error: undefined };
  } catch (error) {
    return { got, error };
  }
}

describe('smb against a hostile server', () => {
  let server: HostileSmb;
  let client: StorageClient;
  const dirs = new Map<string, (call: number) => SmbAnswer | Promise<SmbAnswer>>();

  const makeClient = (overrides: Record<string, unknown> = {}) =>
    smbBackend.create(
      smbBackend.parseOptions({
        host: '127.0.0.1',
        port: server.port,
        share: 'share',
        user: 'u',
        password: 'p',
        timeoutMs: 10_000,
        ...overrides,
      }),
      { env: {} },
    );

  beforeAll(async () => {
    dirs.set('/', smbBatches([smbDir('a'), smbFile('top.txt')]));
    server = await startHostileSmb((path) => dirs.get(path));
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

  it('yields the good entries and ends with PROTOCOL naming the bad ones (size, time, name)', async () => {
    dirs.set(
      '/bad',
      smbBatches([
        smbFile('good-1.txt', 10),
        smbFile('huge.bin', 2n ** 64n - 1n),
        smbFile('just-past-2^53.bin', 2n ** 53n),
        { name: 'no-time.txt', size: 3, writeTime: 0n },
        { name: 'year-60000.txt', size: 3, writeTime: 2n ** 64n - 1n },
        smbFile('a/b'),
        smbFile('nul\0name'),
        smbFile('back\\slash'),
        smbFile(''),
        smbFile('x'.repeat(1100)),
        smbDir('good-dir'),
        smbFile('good-2.txt', 2n ** 53n - 1n),
      ]),
    );
    const { got, error } = await drain(client, '/bad');
    expect(names(got)).toEqual(['good-1.txt', 'good-2.txt', 'good-dir']);
    expect(got.find((e) => e.name === 'good-2.txt')).toMatchObject({
      path: '/bad/good-2.txt',
      size: Number.MAX_SAFE_INTEGER,
      mtime: 1_700_000_000_000,
    });
    expect(error).toMatchObject({ code: 'PROTOCOL', invalidEntries: 9, path: '/bad' });
    expect((error as Error).message).toMatch(/huge\.bin.*size/);
    await expect.poll(() => server.openHandles()).toEqual([]);
  });

  it('keeps the entries before a malformed one in the same answer', async () => {
    const good = directoryBuffer([smbFile('first.txt', 1), smbFile('second.txt', 2)]);
    const broken = Buffer.from(good);
    // The second entry claims a next one 64 KiB on: past the end of the answer.
    const second = broken.readUInt32LE(0);
    broken.writeUInt32LE(65536, second);
    dirs.set('/broken', (call) => (call === 0 ? broken : 'end'));
    const { got, error } = await drain(client, '/broken');
    expect(names(got)).toEqual(['first.txt']);
    expect(error).toMatchObject({ code: 'PROTOCOL', invalidEntries: 1 });
  });

  it('streams a large directory: the first page comes before the server is asked for the rest', async () => {
    dirs.set('/big', smbBatches(many(3500), 400));
    const pages = client.list('/big')[Symbol.asyncIterator]();
    const first = await pages.next();
    expect(first.value).toHaveLength(1000);
    const asked = () => server.events.filter((e) => e.startsWith('query /big')).length;
    // 9 answers hold the directory; at the first page 3 have been asked for, and no more
    // while the consumer does not pull (backpressure).
    expect(asked()).toBeLessThanOrEqual(3);
    await new Promise((r) => setTimeout(r, 200));
    expect(asked()).toBeLessThanOrEqual(3);
    let total = first.value!.length;
    for (let step = await pages.next(); !step.done; step = await pages.next()) {
      total += step.value.length;
    }
    expect(total).toBe(3500);
    expect(asked()).toBe(10);
  });

  it('closes the handle when the consumer stops early', async () => {
    // The server would never finish: only a listing that streams gets a first page here.
    const endless = many(1000);
    dirs.set('/endless', (call) =>
      call < 3 ? endless.slice(call * 400, call * 400 + 400) : 'stall',
    );
    for await (const page of client.list('/endless')) {
      expect(page).toHaveLength(1000);
      break;
    }
    await expect.poll(() => server.events).toContain('close /endless');
    expect(server.openHandles()).toEqual([]);
  });

  it('ends a listing whose server repeats one answer for ever', async () => {
    const same = many(100);
    dirs.set('/loop', () => same);
    const { got, error } = await drain(client, '/loop');
    expect(error).toMatchObject({ code: 'PROTOCOL', path: '/loop' });
    expect((error as Error).message).toMatch(/already sent/);
    expect(got.length).toBeLessThanOrEqual(100);
    await expect.poll(() => server.openHandles()).toEqual([]);
  });

  it('ends a listing whose server answers empty for ever', async () => {
    dirs.set('/empty-forever', () => Buffer.alloc(0));
    await expect(listAll(client.list('/empty-forever'))).rejects.toMatchObject({
      code: 'PROTOCOL',
      path: '/empty-forever',
    });
  });

  it('ends with the error after the pages when the server fails mid-listing', async () => {
    const entries = many(1500);
    dirs.set('/fails', (call) =>
      call < 3 ? entries.slice(call * 400, call * 400 + 400) : { status: STATUS.BUFFER_OVERFLOW },
    );
    const { got, error } = await drain(client, '/fails');
    // The page that went out, then the 200 entries read after it: all true, not whole.
    expect(got).toHaveLength(1200);
    expect(error).toMatchObject({ code: 'PROTOCOL', path: '/fails' });
  });

  it('bounds waiting without progress by timeoutMs, not the whole listing', async () => {
    const slow = makeClient({ timeoutMs: 1500 });
    await slow.connect();
    try {
      // Slow but moving: 9 answers 300 ms apart (2.7 s in all) are within a 1.5 s timeout.
      const entries = smbBatches(many(1200), 150);
      dirs.set('/slow', async (call) => {
        await new Promise((r) => setTimeout(r, 300));
        return entries(call);
      });
      expect(await listAll(slow.list('/slow'))).toHaveLength(1200);

      // Stalled: no answer at all ends the listing with TIMEOUT after the page it had.
      dirs.set('/stalls', (call) => (call < 7 ? entries(call) : 'stall'));
      const { got, error } = await drain(slow, '/stalls');
      expect(got).toHaveLength(1050);
      expect(error).toMatchObject({ code: 'TIMEOUT', retryable: true, path: '/stalls' });
    } finally {
      await slow.close();
    }
  });

  it('answers an abort at once with CANCELLED, closes the handle and stays usable', async () => {
    dirs.set('/stuck', () => 'stall');
    const controller = new AbortController();
    const listing = listAll(client.list('/stuck', { signal: controller.signal }));
    await expect.poll(() => server.events).toContain('query /stuck 0');
    const started = Date.now();
    controller.abort();
    await expect(listing).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(Date.now() - started).toBeLessThan(2000);
    await expect.poll(() => server.events).toContain('close /stuck');
    expect(names(await listAll(client.list('/')))).toEqual(['a', 'top.txt']);
  });

  it('refuses a path too long for one SMB2 request instead of sending it cut short', async () => {
    const deep = `/${'d'.repeat(200)}`.repeat(170);
    await expect(listAll(client.list(deep))).rejects.toMatchObject({ code: 'PROTOCOL' });
    expect(server.events).toEqual([]);
  });

  it('refuses a message larger than any answer it asked for, without buffering it', async () => {
    const victim = makeClient();
    await victim.connect();
    try {
      dirs.set('/oversized', () => 'oversized');
      const started = Date.now();
      await expect(listAll(victim.list('/oversized'))).rejects.toMatchObject({
        code: 'PROTOCOL',
      });
      // It used to wait for the 8 MiB announced until timeoutMs (here 10 s).
      expect(Date.now() - started).toBeLessThan(5000);
      // The connection it came on is dropped: the next request says so.
      await expect(victim.check()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    } finally {
      await victim.close();
    }
  });
});

describe('smb connect timeout', () => {
  it('gives up on a server that never answers after connectTimeoutMs, not timeoutMs', async () => {
    const silent = await startSilentServer();
    const client = smbBackend.create(
      smbBackend.parseOptions({
        host: '127.0.0.1',
        port: silent.port,
        share: 's',
        user: 'u',
        password: 'p',
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
    const client = smbBackend.create(
      smbBackend.parseOptions({
        host: '127.0.0.1',
        port: silent.port,
        share: 's',
        user: 'u',
        password: 'p',
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
    expect(smbBackend.parseOptions({ host: 'h', share: 's' }).connectTimeoutMs).toBe(10_000);
    expect(() => smbBackend.parseOptions({ host: 'h', share: 's', connectTimeoutMs: '0' })).toThrow(
      /connectTimeoutMs/,
    );
  });
});

describe('smb scans through App against a hostile server', () => {
  /** What each directory lists, in answers of 400; `failAfter` cuts a listing short. */
  const tree = new Map<string, SmbName[]>();
  const failAfter = new Map<string, number>();
  let server: HostileSmb;
  let app: App;
  let work: { path: string; cleanup: () => void };

  beforeAll(async () => {
    server = await startHostileSmb((path) => {
      const entries = tree.get(path);
      if (!entries) return undefined;
      const answers = smbBatches(entries);
      const cut = failAfter.get(path);
      return (call) =>
        cut !== undefined && call >= cut ? { status: STATUS.ACCESS_DENIED } : answers(call);
    });
    work = tempDir('trawl-smb-hostile-');
    app = await App.open({ database: join(work.path, 'index.db'), tenant: 'default', env: {} });
  });
  afterAll(async () => {
    await app?.close();
    await server?.close();
    work?.cleanup();
  });

  it('applies the good entries of a directory with a bad one, deletes nothing there, and heals', async () => {
    tree.set('/', [smbDir('a'), smbDir('b'), smbFile('top.txt', 3)]);
    tree.set('/a', [smbFile('keep.txt', 4), smbFile('gone-later.txt', 5)]);
    tree.set('/b', [smbFile('z.flac', 6)]);
    const storage = await app.ensureStorage(parseStorageSpec(server.url));
    expect(await app.scan(storage)).toMatchObject({
      status: 'succeeded',
      dirs: 2,
      files: 4,
      created: 4,
    });

    // /a loses a file, gains one, and lists an entry without a time; /b loses one.
    const bad = { name: 'bad.bin', size: 1, writeTime: 0n };
    tree.set('/a', [smbFile('keep.txt', 4), smbFile('new.txt', 7), bad]);
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
    tree.set('/a', [smbFile('keep.txt', 4), smbFile('new.txt', 7)]);
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
    tree.set('/b', [...many(1300, 'p'), smbFile('q-new', 9)]);
    failAfter.set('/b', 3);
    const partial = await app.scan(storage);
    expect(partial).toMatchObject({ status: 'partial', deleted: 0 });
    expect(partial.errorSample).toEqual([
      expect.objectContaining({ path: '/b', code: 'PERMISSION_DENIED' }),
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
