/**
 * The WebDAV client against servers that misbehave on the wire: answers that stream for
 * long, stall, never start, never end, or come faster than they are used. Each server here
 * is a few lines of Node answering exactly the bytes a test chooses.
 */
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { webdavBackend } from '../src/storage/backends/webdav-backend.js';
import { WebdavClient } from '../src/storage/backends/webdav.js';
import type { Entry } from '../src/storage/types.js';
import { LOOPBACK } from './servers/util.js';
import { listAll } from './support/list-all.js';
import { expectNoTimersLeft } from './support/remote-scan.js';
import { startSilentServer } from './support/silent-server.js';
import { startHugeListingServer, type HugeListingServer } from './tools/webdav-huge.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const client = (url: string, extra: Record<string, unknown> = {}) =>
  new WebdavClient(webdavBackend.parseOptions({ url, ...extra }));

const HEAD = '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">';
const file = (name: string, size = 1) =>
  `<D:response><D:href>/dav/d/${name}</D:href><D:propstat><D:prop><D:resourcetype/>` +
  `<D:getcontentlength>${size}</D:getcontentlength><D:getlastmodified>Tue, 03 Jan 2023 04:05:06 GMT</D:getlastmodified>` +
  `</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`;
const files = (from: number, to: number) => {
  let out = '';
  for (let i = from; i < to; i++) out += file(`f${i}`, i);
  return out;
};
const ROOT_207 =
  'HTTP/1.1 207 Multi-Status\r\nContent-Type: application/xml\r\nContent-Length: ' +
  `${Buffer.byteLength(HEAD + '</D:multistatus>')}\r\n\r\n${HEAD}</D:multistatus>`;

/**
 * A raw HTTP server: the connect probe (Depth 0) gets a tiny 207; each other request is
 * handed to `onList` with the socket, to answer byte by byte. Records sockets that closed.
 */
async function rawServer(onList: (socket: Socket) => void) {
  const closed: Socket[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      closed.push(socket);
    });
    let head = '';
    socket.on('data', (data) => {
      head += data.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const request = head.slice(0, end);
      const length = Number(/content-length: *(\d+)/i.exec(request)?.[1] ?? 0);
      if (head.length < end + 4 + length) return;
      head = head.slice(end + 4 + length);
      if (/\r\ndepth: *0/i.test(request)) socket.write(ROOT_207);
      else onList(socket);
    });
  });
  await new Promise<void>((r) => server.listen(0, LOOPBACK, r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://${LOOPBACK}:${port}/dav`,
    closed,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Chunked transfer encoding, so a test can stream an answer of unknown length. */
const CHUNKED_207 =
  'HTTP/1.1 207 Multi-Status\r\nContent-Type: application/xml\r\nTransfer-Encoding: chunked\r\n\r\n';
const chunk = (text: string) => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function connected(url: string, extra: Record<string, unknown> = {}) {
  const c = client(url, extra);
  cleanups.push(() => c.close());
  await c.connect();
  return c;
}

/** A full garbage collection, without starting the test runner with --expose-gc. */
function fullGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

async function huge(entries: number): Promise<HugeListingServer> {
  const server = await startHugeListingServer({ entries });
  cleanups.push(() => server.close());
  return server;
}

describe('WebDAV listings stream', () => {
  it('hands on the first page of 200,000 entries before the server has sent the end, and reads no faster than it is used', async () => {
    const server = await huge(200_000);
    const c = await connected(server.url);
    const pages = c.list('/big')[Symbol.asyncIterator]();
    const first = await pages.next();
    expect(first.done).toBe(false);
    expect(first.value).toHaveLength(1000);
    expect(server.stats.ended).toBe(false);
    // The caller is busy with its page: the server is held back by TCP, not read into memory.
    await sleep(1000);
    const sentWhileBusy = server.stats.bytes;
    expect(server.stats.ended).toBe(false);
    let count = first.value!.length;
    let pageCount = 1;
    let heapPeak = 0;
    let buffersPeak = 0;
    // Measured after a full collection: what is retained, not garbage a busy machine has not
    // collected yet (the server runs in this process too and makes plenty).
    const gc = fullGc();
    gc();
    const before = process.memoryUsage();
    for (let step = await pages.next(); !step.done; step = await pages.next()) {
      count += step.value.length;
      pageCount++;
      if (pageCount % 20 === 0) {
        gc();
        const now = process.memoryUsage();
        heapPeak = Math.max(heapPeak, now.heapUsed - before.heapUsed);
        buffersPeak = Math.max(buffersPeak, now.arrayBuffers - before.arrayBuffers);
      }
    }
    expect(count).toBe(200_000);
    expect(pageCount).toBe(200);
    expect(server.stats.ended).toBe(true);
    // The whole answer is ~70 MB; socket buffers on loopback hold a few MB at most.
    expect(server.stats.bytes).toBeGreaterThan(50_000_000);
    expect(sentWhileBusy).toBeLessThan(server.stats.bytes / 3);
    // Nothing of what was read is kept: not its text, not its network chunks (a promise
    // raced against every read once kept each chunk alive: 60 MB here, 400 MB for 1,000,000).
    expect(heapPeak).toBeLessThan(48 * 1024 * 1024);
    expect(buffersPeak).toBeLessThan(24 * 1024 * 1024);
  });

  it('leaves no timer behind when closed right after a listing (a CLI would not exit)', async () => {
    const server = await huge(10);
    await expectNoTimersLeft(server.storageUrl);
  });

  it('keeps its connection for the next request after a listing read to its end', async () => {
    const server = await huge(3000);
    const c = await connected(server.url);
    expect(await listAll(c.list('/big'))).toHaveLength(3000);
    expect(await listAll(c.list('/big'))).toHaveLength(3000);
    expect(server.stats.abandoned).toBe(0);
  });

  it('releases the connection when the caller stops after a page', async () => {
    const server = await huge(200_000);
    const c = await connected(server.url);
    for await (const page of c.list('/big')) {
      expect(page).toHaveLength(1000);
      break;
    }
    await expect.poll(() => server.stats.abandoned, { timeout: 5000 }).toBe(1);
    expect(server.stats.ended).toBe(false);
    // And the client goes on with a new connection.
    expect(await listAll(c.list('/'))).toMatchObject([{ path: '/big', isDir: true }]);
  });

  it('ends a listing larger than maxResponseBytes in PROTOCOL after the pages it read', async () => {
    const server = await huge(50_000);
    const c = await connected(server.url, { maxResponseBytes: 1024 * 1024 });
    const got: Entry[] = [];
    await expect(
      (async () => {
        for await (const page of c.list('/big')) got.push(...page);
      })(),
    ).rejects.toMatchObject({ code: 'PROTOCOL', message: expect.stringMatching(/larger than/) });
    expect(got.length).toBeGreaterThanOrEqual(2000);
    expect(got.length).toBeLessThan(50_000);
  });
});

describe('WebDAV timeouts and cancellation', () => {
  it('timeoutMs bounds each wait without progress, not a listing that keeps streaming', async () => {
    const server = await rawServer((socket) => {
      socket.write(CHUNKED_207 + chunk(HEAD));
      let i = 0;
      const timer = setInterval(() => {
        if (socket.destroyed) return clearInterval(timer);
        if (i < 12) socket.write(chunk(files(i * 10, i * 10 + 10)));
        else {
          clearInterval(timer);
          socket.write(chunk('</D:multistatus>') + '0\r\n\r\n');
        }
        i++;
      }, 100);
    });
    cleanups.push(server.close);
    const c = await connected(server.url, { timeoutMs: 500 });
    const started = Date.now();
    expect(await listAll(c.list('/d'))).toHaveLength(120);
    expect(Date.now() - started).toBeGreaterThan(1000); // longer than timeoutMs, and fine
  });

  it('ends a listing whose server stalls mid-answer in TIMEOUT, after the pages it sent', async () => {
    const server = await rawServer((socket) => {
      socket.write(CHUNKED_207 + chunk(HEAD + files(0, 2500)));
    });
    cleanups.push(server.close);
    const c = await connected(server.url, { timeoutMs: 500 });
    const got: number[] = [];
    const started = Date.now();
    await expect(
      (async () => {
        for await (const page of c.list('/d')) got.push(page.length);
      })(),
    ).rejects.toMatchObject({ code: 'TIMEOUT', retryable: true });
    expect(got).toEqual([1000, 1000]);
    expect(Date.now() - started).toBeLessThan(5000);
    await expect.poll(() => server.closed.length, { timeout: 5000 }).toBeGreaterThan(0);
  });

  it('cancels at once on abort while waiting for the answer, and closes its connection', async () => {
    const server = await rawServer((socket) => {
      socket.write(CHUNKED_207 + chunk(HEAD + files(0, 1500)));
    });
    cleanups.push(server.close);
    const c = await connected(server.url, { timeoutMs: 120_000 });
    const controller = new AbortController();
    const pages = c.list('/d', { signal: controller.signal })[Symbol.asyncIterator]();
    expect((await pages.next()).value).toHaveLength(1000);
    const pending = pages.next();
    setTimeout(() => controller.abort(), 100);
    const started = Date.now();
    await expect(pending).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(Date.now() - started).toBeLessThan(2000);
    await expect.poll(() => server.closed.length, { timeout: 2000 }).toBe(1);
  });

  it('closes its connection at once on abort while the caller holds a page', async () => {
    const server = await huge(200_000);
    const c = await connected(server.url);
    const controller = new AbortController();
    const pages = c.list('/big', { signal: controller.signal })[Symbol.asyncIterator]();
    expect((await pages.next()).value).toHaveLength(1000);
    controller.abort();
    // Nobody calls next() or return(): the abort alone releases the socket.
    await expect.poll(() => server.stats.abandoned, { timeout: 2000 }).toBe(1);
    await expect(pages.next()).rejects.toMatchObject({ code: 'CANCELLED' });
  });

  it('cancels before sending when the signal is already aborted', async () => {
    const server = await huge(10);
    const c = await connected(server.url);
    const before = server.stats.requests;
    await expect(listAll(c.list('/big', { signal: AbortSignal.abort() }))).rejects.toMatchObject({
      code: 'CANCELLED',
    });
    expect(server.stats.requests).toBe(before);
  });

  it('bounds connect() by connectTimeoutMs, apart from timeoutMs, for a server that never answers', async () => {
    const silent = await startSilentServer();
    cleanups.push(silent.close);
    for (const scheme of ['http', 'https']) {
      const c = client(`${scheme}://${LOOPBACK}:${silent.port}/dav`, {
        connectTimeoutMs: 300,
        timeoutMs: 120_000,
      });
      const started = Date.now();
      await expect(c.connect()).rejects.toMatchObject({
        code: 'TIMEOUT',
        retryable: true,
        message: expect.stringMatching(/within 300 ms \(connectTimeoutMs\)/),
      });
      // It used to wait timeoutMs (here two minutes) for the probe.
      expect(Date.now() - started).toBeLessThan(5000);
      await c.close();
    }
  });

  it('reads no more than a little of an error answer, however long the server makes it', async () => {
    const server = await rawServer((socket) => {
      socket.write(
        'HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nTransfer-Encoding: chunked\r\n\r\n',
      );
      const blob = chunk('x'.repeat(64 * 1024));
      const pump = () => {
        while (!socket.destroyed && socket.write(blob));
        if (!socket.destroyed) socket.once('drain', pump);
      };
      pump();
    });
    cleanups.push(server.close);
    const c = await connected(server.url);
    await expect(listAll(c.list('/d'))).rejects.toMatchObject({
      code: 'RATE_LIMITED',
      retryAfterMs: 3000,
    });
    await expect.poll(() => server.closed.length, { timeout: 2000 }).toBe(1);
  });

  it('maps a broken HTTP framing mid-answer to a typed error after the pages it read', async () => {
    const server = await rawServer((socket) => {
      socket.write(CHUNKED_207 + chunk(HEAD + files(0, 1200)) + 'zz-not-a-chunk-size\r\n');
    });
    cleanups.push(server.close);
    const c = await connected(server.url);
    const got: number[] = [];
    const error = await (async () => {
      for await (const page of c.list('/d')) got.push(page.length);
    })().catch((e: unknown) => e);
    expect(got).toEqual([1000]);
    expect(error).toMatchObject({ code: expect.stringMatching(/^(PROTOCOL|UNAVAILABLE)$/) });
  });
});
