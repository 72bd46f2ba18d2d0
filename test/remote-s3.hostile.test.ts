/**
 * The S3 backend against servers that misbehave, over real HTTP on 127.0.0.1: the generated
 * bucket of test/tools/s3-huge.ts told to cut listings, repeat tokens, send bad sizes and
 * times, stall or flood, and a TCP server that accepts and never answers. Each behaviour
 * here hung, lost entries or failed a whole directory before trawl read S3 answers itself.
 */
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { App } from '../src/app.js';
import { s3Backend } from '../src/storage/backends/s3-backend.js';
import type { StorageError } from '../src/storage/errors.js';
import type { Entry, StorageClient, TreeListing } from '../src/storage/types.js';
import { parseStorageSpec } from '../src/storage/url.js';
import { indexLines, tempDir } from './support/harness.js';
import { expectNoTimersLeft } from './support/remote-scan.js';
import { listAll, treePieces } from './support/list-all.js';
import { startSilentServer } from './support/silent-server.js';
import {
  defaultHugeObject,
  HUGE_MTIME,
  startS3Huge,
  type HugeObject,
  type S3HugeOptions,
  type S3HugeServer,
} from './tools/s3-huge.js';

function clientFor(endpoint: string, overrides: Record<string, unknown> = {}): StorageClient {
  return s3Backend.create(
    s3Backend.parseOptions({
      bucket: 'huge',
      endpoint,
      accessKeyId: 'huge',
      secretAccessKey: 'huge',
      ...overrides,
    }),
    { env: {} },
  );
}

/** Every page of a listing, and how it ended. */
async function drain(pages: AsyncIterable<Entry[]>) {
  const got: Entry[] = [];
  try {
    for await (const page of pages) got.push(...page);
    return { entries: got, error: undefined };
  } catch (error) {
    return { entries: got, error: error as StorageError };
  }
}

async function drainTree(steps: AsyncIterable<TreeListing | TreeListing[]>) {
  const got: TreeListing[] = [];
  try {
    for await (const piece of treePieces(steps)) got.push(piece);
    return { pieces: got, error: undefined };
  } catch (error) {
    return { pieces: got, error: error as StorageError };
  }
}

async function waitFor(what: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!what()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const BASE: S3HugeOptions = { count: 2500 };

describe('S3 listings against a misbehaving server', () => {
  let server: S3HugeServer;
  let client: StorageClient;

  beforeAll(async () => {
    server = await startS3Huge(BASE);
    client = clientFor(server.endpoint, { timeoutMs: 500 });
    await client.connect();
  });
  afterEach(() => {
    server.options = BASE;
  });
  afterAll(async () => {
    await client?.close();
    await server?.close();
  });

  it('leaves no timer behind when closed right after a listing (a CLI would not exit)', async () => {
    await expectNoTimersLeft(server.storageUrl());
  });

  it('ends a listing the server cuts short (truncated, no token) with PROTOCOL after the good pages', async () => {
    server.options = {
      ...BASE,
      answer: (call, draft) => (call.token ? { ...draft, nextToken: undefined } : draft),
    };
    const { entries, error } = await drain(client.list('/big'));
    expect(error).toMatchObject({ code: 'PROTOCOL', path: '/big' });
    expect(error!.message).toMatch(/cut the listing short/);
    // Two answers of 1,000 arrived; only the very last key may still be shadowed.
    expect(entries).toHaveLength(1999);
    expect(new Set(entries.map((e) => e.name)).size).toBe(1999);

    const tree = await drainTree(client.listTree!('/'));
    expect(tree.error).toMatchObject({ code: 'PROTOCOL' });
    const big = tree.pieces.filter((p) => p.dir === '/big');
    expect(big.every((p) => p.more === true)).toBe(true);
    expect(big.flatMap((p) => p.entries)).toHaveLength(1999);
  });

  it('ends a listing whose server repeats a continuation token with PROTOCOL after the good pages', async () => {
    let first: string | undefined;
    server.options = {
      ...BASE,
      answer: (call, draft) => {
        if (call.token === undefined) return draft;
        first ??= call.token;
        return { ...draft, nextToken: first };
      },
    };
    const { entries, error } = await drain(client.list('/big'));
    expect(error).toMatchObject({ code: 'PROTOCOL' });
    expect(error!.message).toMatch(/repeated a continuation token/);
    expect(entries.length).toBeGreaterThanOrEqual(1999);
  });

  it('leaves out objects with a bad Size or LastModified, lists the rest, and counts them', async () => {
    const bad: Record<number, Partial<HugeObject>> = {
      5: { size: '1e+23' },
      6: { size: '1.5' },
      7: { size: '-5' },
      8: { size: '99999999999999999999999' },
      9: { size: '' },
      1500: { mtime: 'garbage' },
      1501: { mtime: '99999-01-01T00:00:00Z' },
    };
    server.options = { ...BASE, object: (i) => ({ ...defaultHugeObject(i), ...bad[i] }) };
    const { entries, error } = await drain(client.list('/big'));
    expect(error).toMatchObject({ code: 'PROTOCOL', invalidEntries: 7, path: '/big' });
    expect(entries).toHaveLength(2500 - 7);
    expect(entries.every((e) => Number.isSafeInteger(e.size) && e.mtime === HUGE_MTIME)).toBe(true);

    const tree = await drainTree(client.listTree!('/'));
    expect(tree.error).toMatchObject({ code: 'PROTOCOL', invalidEntries: 7 });
    expect(tree.pieces.filter((p) => p.dir === '/big').flatMap((p) => p.entries)).toHaveLength(
      2500 - 7,
    );
    expect(tree.pieces.filter((p) => p.dir === '/big').at(-1)!.more).toBe(true);
  });

  it('retries a failed later page inside the listing instead of failing the directory', async () => {
    let failures = 2;
    server.options = {
      ...BASE,
      answer: (call, draft) =>
        call.token && failures-- > 0
          ? {
              error: { status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' },
            }
          : draft,
    };
    expect(await listAll(client.list('/big'))).toHaveLength(2500);
  });

  it('stops waiting out a throttled page at once when cancelled', async () => {
    server.options = {
      ...BASE,
      answer: (call, draft) =>
        call.token ? { error: { status: 503, code: 'SlowDown', retryAfter: 30 } } : draft,
    };
    server.stats.reset();
    const controller = new AbortController();
    const listing = drain(client.list('/big', { signal: controller.signal }));
    await waitFor(() => server.stats.listCalls >= 2); // the first answer is in, the second throttled
    const started = Date.now();
    controller.abort();
    const { entries, error } = await listing;
    expect(error).toMatchObject({ code: 'CANCELLED' });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(entries).toEqual([]); // a cancelled listing hands nothing more on
    expect(server.stats.listCalls).toBeGreaterThanOrEqual(2);
  });

  it('refuses an answer that ends before its document does, and one that does not stop', async () => {
    server.options = {
      ...BASE,
      answer: () => ({
        raw: (_req, res) => {
          res.writeHead(200, { 'Content-Type': 'application/xml' });
          res.end('<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>big/a</Key>');
        },
      }),
    };
    const cut = await drain(client.list('/big'));
    expect(cut.error).toMatchObject({ code: 'PROTOCOL' });
    expect(cut.error!.message).toMatch(/ended before/);

    // 24 MiB of a never-ending document: refused at 16 MiB, not held.
    server.options = {
      ...BASE,
      answer: () => ({
        raw: (_req, res) => {
          res.writeHead(200, { 'Content-Type': 'application/xml' });
          res.write('<ListBucketResult><IsTruncated>false</IsTruncated>');
          const junk = '<Junk>x</Junk>'.repeat(64 * 1024);
          let left = Math.ceil((24 * 1024 * 1024) / junk.length);
          const more = () => {
            while (left-- > 0) if (!res.write(junk)) return void res.once('drain', more);
            res.end('</ListBucketResult>');
          };
          res.on('error', () => undefined);
          more();
        },
      }),
    };
    const flood = await drain(client.list('/big'));
    expect(flood.error).toMatchObject({ code: 'PROTOCOL' });
    expect(flood.error!.message).toMatch(/larger than/);
  });

  it('times out an answer that stalls after its headers, releases the socket, and prints nothing', async () => {
    server.options = {
      ...BASE,
      answer: () => ({
        raw: (_req, res) => {
          res.writeHead(200, { 'Content-Type': 'application/xml' });
          res.write('<ListBucketResult>');
        },
      }),
    };
    const stderr = vi.spyOn(process.stderr, 'write');
    const warn = vi.spyOn(console, 'warn');
    try {
      const started = Date.now();
      const { error } = await drain(client.list('/big'));
      expect(error).toMatchObject({ code: 'TIMEOUT', path: '/big' });
      // timeoutMs is 500: it used to wait for the server to close the socket (minutes).
      expect(Date.now() - started).toBeLessThan(5000);
      await waitFor(() => server.stats.connections === 0);
      expect(stderr).not.toHaveBeenCalled();
      expect(warn).not.toHaveBeenCalled();
    } finally {
      stderr.mockRestore();
      warn.mockRestore();
    }
  });

  it('stops a listing at once when cancelled mid-answer, and releases its socket', async () => {
    const slow = clientFor(server.endpoint, { timeoutMs: 60_000 });
    await slow.connect();
    server.options = {
      ...BASE,
      answer: () => ({
        raw: (_req, res) => {
          res.writeHead(200, { 'Content-Type': 'application/xml' });
          res.write('<ListBucketResult>');
        },
      }),
    };
    try {
      const controller = new AbortController();
      const listing = drain(slow.list('/big', { signal: controller.signal }));
      await waitFor(() => server.stats.connections > 0);
      await new Promise((r) => setTimeout(r, 100));
      const started = Date.now();
      controller.abort();
      const { error } = await listing;
      expect(error).toMatchObject({ code: 'CANCELLED' });
      expect(Date.now() - started).toBeLessThan(1000);
      await waitFor(() => server.stats.connections === 0);
    } finally {
      await slow.close();
    }
  });
});

describe('S3 listings of 200,000 keys stream', () => {
  let server: S3HugeServer;
  beforeAll(async () => {
    server = await startS3Huge({ count: 200_000 });
  });
  afterAll(async () => server?.close());

  it('hands the first page of a delimited listing on before the listing ends', async () => {
    const client = clientFor(server.endpoint);
    try {
      await client.connect();
      const before = server.stats.listCalls;
      let callsAtFirst = 0;
      let count = 0;
      let largest = 0;
      const names = new Set<string>();
      for await (const page of client.list('/big')) {
        if (callsAtFirst === 0) callsAtFirst = server.stats.listCalls - before;
        count += page.length;
        largest = Math.max(largest, page.length);
        for (const e of page) names.add(e.name);
      }
      expect(callsAtFirst).toBeLessThanOrEqual(2); // of 200 answers
      expect(server.stats.listCalls - before).toBe(200);
      expect(count).toBe(200_000);
      expect(names.size).toBe(200_000);
      expect(largest).toBeLessThanOrEqual(1000);
    } finally {
      await client.close();
    }
  });

  it('hands a flat subtree on in pieces before its listing ends', async () => {
    const client = clientFor(server.endpoint);
    try {
      await client.connect();
      const before = server.stats.listCalls;
      let callsAtFirst = 0;
      let count = 0;
      let pieces = 0;
      for await (const piece of treePieces(client.listTree!('/'))) {
        if (piece.dir !== '/big') continue;
        if (callsAtFirst === 0) callsAtFirst = server.stats.listCalls - before;
        count += piece.entries.length;
        pieces++;
        expect(piece.entries.length).toBeLessThanOrEqual(1000);
      }
      expect(callsAtFirst).toBeLessThanOrEqual(3);
      expect(count).toBe(200_000);
      expect(pieces).toBeGreaterThanOrEqual(200);
    } finally {
      await client.close();
    }
  });
});

describe('S3 connect timeouts against a server that accepts and never answers', () => {
  let silent: { port: number; close(): Promise<void> };
  beforeAll(async () => {
    silent = await startSilentServer();
  });
  afterAll(async () => silent?.close());

  it('gives up connecting over HTTP within connectTimeoutMs, not timeoutMs', async () => {
    const client = clientFor(`http://127.0.0.1:${silent.port}`, {
      connectTimeoutMs: 300,
      timeoutMs: 120_000,
    });
    try {
      const started = Date.now();
      await expect(client.connect()).rejects.toMatchObject({ code: 'TIMEOUT' });
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await client.close();
    }
  });

  it('gives up a TLS handshake that never completes within connectTimeoutMs, whatever the request', async () => {
    const client = clientFor(`https://127.0.0.1:${silent.port}`, {
      connectTimeoutMs: 300,
      timeoutMs: 120_000,
    });
    try {
      await expect(client.connect()).rejects.toMatchObject({ code: 'TIMEOUT' });
      // check() runs under the two-minute request timeout: only the connect guard can end it.
      const started = Date.now();
      await expect(client.check()).rejects.toMatchObject({
        code: 'TIMEOUT',
        message: expect.stringMatching(/not established within 300 ms/),
      });
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await client.close();
    }
  });
});

describe('scans of a misbehaving S3 through the App', () => {
  let server: S3HugeServer;
  let dir: { path: string; cleanup: () => void };
  const options: S3HugeOptions = {
    count: 3000,
    extra: { 'top.txt': { size: 3, mtime: HUGE_MTIME } },
  };
  beforeAll(async () => {
    server = await startS3Huge(options);
    dir = tempDir('trawl-s3-hostile-');
  });
  afterEach(() => {
    server.options = options;
  });
  afterAll(async () => {
    await server?.close();
    dir?.cleanup();
  });

  // A tree scan (listTree) and a walk by directory (list, with a depth limit).
  for (const [mode, scanOptions] of [
    ['listTree', {}],
    ['list', { maxDepth: 64 }],
  ] as const) {
    it(`a rescan cut short deletes nothing in the directory, applies what came, ends partial; the next heals (${mode})`, async () => {
      const app = await App.open({
        database: join(dir.path, `cut-${mode}.db`),
        tenant: 'default',
        env: {},
      });
      try {
        const storage = await app.ensureStorage(parseStorageSpec(server.storageUrl()));
        const first = await app.scan(storage, scanOptions);
        expect(first).toMatchObject({ status: 'succeeded', files: 3001, errors: 0 });
        const before = await indexLines(app, storage);

        // Every tenth key gone and f0001 grown — but the listing of big/ is cut after one answer.
        const changed = (i: number) =>
          i % 10 === 0 ? undefined : { ...defaultHugeObject(i), size: i === 1 ? 777 : i };
        server.options = {
          ...options,
          object: changed,
          answer: (call, draft) =>
            call.prefix === 'big/' && call.token ? { ...draft, nextToken: undefined } : draft,
        };
        const cut = await app.scan(storage, scanOptions);
        expect(cut).toMatchObject({ status: 'partial', deleted: 0 });
        expect(cut.updated).toBeGreaterThanOrEqual(1);
        expect(cut.errorSample).toEqual([expect.objectContaining({ code: 'PROTOCOL' })]);
        const after = await indexLines(app, storage);
        expect(after).toContain('/big/f0001.dat:777');
        expect(after.length).toBe(before.length);

        server.options = { ...options, object: changed };
        const healed = await app.scan(storage, scanOptions);
        expect(healed).toMatchObject({ status: 'succeeded', deleted: 300, errors: 0 });
        expect((await indexLines(app, storage)).length).toBe(before.length - 300);
      } finally {
        await app.close();
      }
    });

    it(`a rescan with an unreadable entry applies the rest, deletes nothing there, ends partial; the next heals (${mode})`, async () => {
      const app = await App.open({
        database: join(dir.path, `bad-${mode}.db`),
        tenant: 'default',
        env: {},
      });
      try {
        const storage = await app.ensureStorage(parseStorageSpec(server.storageUrl()));
        expect(await app.scan(storage, scanOptions)).toMatchObject({ status: 'succeeded' });
        const before = await indexLines(app, storage);

        const gone = (i: number) => (i % 10 === 0 ? undefined : defaultHugeObject(i));
        server.options = {
          ...options,
          object: (i) => (i === 2999 ? { size: '1e+23', mtime: HUGE_MTIME } : gone(i)),
          extra: { 'top.txt': { size: 4, mtime: HUGE_MTIME } },
        };
        const bad = await app.scan(storage, scanOptions);
        expect(bad).toMatchObject({ status: 'partial', deleted: 0, invalidEntries: 1 });
        const after = await indexLines(app, storage);
        expect(after).toContain('/top.txt:4'); // applied elsewhere
        expect(after).toContain('/big/f2999.dat:2999'); // kept as it was
        expect(after.length).toBe(before.length);

        server.options = { ...options, object: gone };
        const healed = await app.scan(storage, scanOptions);
        expect(healed).toMatchObject({ status: 'succeeded', deleted: 300, errors: 0 });
      } finally {
        await app.close();
      }
    });
  }
});
