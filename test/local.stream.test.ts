/**
 * A local directory too large to list whole is streamed: the listing thread answers it in a
 * batch as "stream me" (one stat), then reads it chunk by chunk from an open `fs.Dir` as the
 * scan takes pages, and closes it when the scan stops early.
 */
import {
  mkdirSync,
  readdirSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { App } from '../src/app.js';
import { LocalClient, localBackend } from '../src/storage/backends/local.js';
import {
  LARGE_DIR_BYTES,
  STREAM_CHUNK,
  STREAM_CODE,
  WORKER_SOURCE,
  type ListReply,
  type ListRequest,
  type StreamRequest,
} from '../src/storage/backends/local-worker.js';
import type { Entry } from '../src/storage/types.js';
import { parseStorageSpec } from '../src/storage/url.js';
import { indexLines, tempDir } from './support/harness.js';
import { listAll } from './support/list-all.js';

/** Names of 120 bytes: the directory is ~320 KiB on ext4 with few files to create. */
const FILES = 2_500;
const fileName = (i: number) => `file-${String(i).padStart(5, '0')}-${'x'.repeat(108)}.jpg`;

/** Open file descriptors of this process (threads included) that name `path`. */
function fdsOn(path: string): number {
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === path) count++;
    } catch {
      // closed meanwhile
    }
  }
  return count;
}

const rows = (entries: Entry[]) =>
  entries
    .map((e) => [e.path, e.isDir, e.size, e.mtime, e.skip ?? ''] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));

describe('local: a large directory is streamed', () => {
  let tmp: { path: string; cleanup: () => void };
  let root: string;
  let big: string;

  beforeAll(() => {
    tmp = tempDir('trawl-local-stream-');
    root = join(tmp.path, 'root');
    big = join(root, 'big');
    mkdirSync(join(big, 'sub'), { recursive: true });
    writeFileSync(join(big, 'sub', 'inner.txt'), 'x');
    for (let i = 0; i < FILES; i++) writeFileSync(join(big, fileName(i)), 'a'.repeat(i % 7));
    symlinkSync('sub', join(big, 'link'));
    // UTF-8 beyond ASCII: read as bytes, then decoded.
    writeFileSync(join(big, 'café-日本.txt'), 'abc');
    // Not UTF-8: kept as an escaped name and counted as unreadable, never lost.
    writeFileSync(Buffer.concat([Buffer.from(`${big}/`), Buffer.from([0x62, 0xff])]), '');
    writeFileSync(join(root, 'small.txt'), 'hi');
  });
  afterAll(() => tmp?.cleanup());

  const client = (tuning: { largeDirBytes?: number } = {}) =>
    new LocalClient(localBackend.parseOptions({ root }), tuning);
  /** A threshold only `big` exceeds, whatever the file system says its size is. */
  const justBelowBig = () => statSync(big).size - 1;

  it('streams past 256 KiB by default, in pages of 1,000', () => {
    expect(LARGE_DIR_BYTES).toBe(256 * 1024);
    expect(STREAM_CHUNK).toBe(1000);
    // The thread's own copy of the default (it cannot import it).
    expect(WORKER_SOURCE).toContain(`?? ${LARGE_DIR_BYTES}`);
  });

  it('answers a large directory in a batch with "stream me", then in chunks', async () => {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { root, follow: false, largeDirBytes: justBelowBig() },
    });
    const ask = (request: ListRequest | StreamRequest) =>
      new Promise<ListReply>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.postMessage(request);
      });
    try {
      const batch = await ask({ id: 1, dirs: [big, join(big, 'sub')] });
      expect([...batch.counts]).toEqual([0, 1]);
      expect(batch.errors[0]).toMatchObject({ code: STREAM_CODE });
      const counts: number[] = [];
      const names: string[] = [];
      for (let id = 2; ; id++) {
        const chunk = await ask({ id, stream: 7, path: big });
        expect(chunk.errors[0]).toBeNull();
        counts.push(chunk.counts[0]!);
        names.push(...chunk.names.split('/'));
        if (!chunk.more) break;
      }
      // In order, as readdirSync gives them: the index then inserts them in one sweep.
      expect(names).toEqual([...names].sort());
      const total = FILES + 4;
      expect(counts).toEqual([
        ...Array(Math.floor(total / STREAM_CHUNK)).fill(STREAM_CHUNK),
        total % STREAM_CHUNK,
      ]);
    } finally {
      await worker.terminate();
    }
  });

  it('lists a streamed directory exactly as a whole one', async () => {
    const whole = client({ largeDirBytes: Number.MAX_SAFE_INTEGER });
    const streamed = client({ largeDirBytes: 1 });
    await whole.connect();
    await streamed.connect();
    try {
      for (const dir of ['/', '/big', '/big/sub']) {
        const expected = await listAll(whole.list(dir));
        const pages: Entry[][] = [];
        for await (const page of streamed.list(dir)) pages.push(page);
        expect(rows(pages.flat())).toEqual(rows(expected));
        for (const page of pages) expect(page.length).toBeLessThanOrEqual(1000);
      }
      const got = await listAll(streamed.list('/big'));
      expect(got).toHaveLength(FILES + 4);
      expect(got.filter((e) => e.skip === 'unreadable')).toHaveLength(1);
      expect(got.find((e) => e.name === 'link')).toMatchObject({ skip: 'symlink' });
      expect(got.find((e) => e.name === 'café-日本.txt')).toMatchObject({ size: 3 });
    } finally {
      await whole.close();
      await streamed.close();
    }
  });

  it('never reads a large directory whole: it is open while the scan takes its pages', async () => {
    const c = client({ largeDirBytes: justBelowBig() });
    await c.connect();
    try {
      const pages = c.list('/big')[Symbol.asyncIterator]();
      const first = await pages.next();
      expect(first.value).toHaveLength(1000);
      // The directory is open in the thread while the listing is under way.
      expect(fdsOn(big)).toBe(1);
      let count = first.value!.length;
      for (let step = await pages.next(); !step.done; step = await pages.next()) {
        count += step.value.length;
      }
      expect(count).toBe(FILES + 4);
      await expect.poll(() => fdsOn(big)).toBe(0);
    } finally {
      await c.close();
    }
  });

  it('closes the directory when the consumer stops early, and when the signal aborts', async () => {
    const c = client({ largeDirBytes: justBelowBig() });
    await c.connect();
    try {
      for await (const page of c.list('/big')) {
        expect(page).toHaveLength(1000);
        break;
      }
      await expect.poll(() => fdsOn(big)).toBe(0);

      const controller = new AbortController();
      const pages = c.list('/big', { signal: controller.signal })[Symbol.asyncIterator]();
      await pages.next();
      controller.abort();
      await expect(
        (async () => {
          for (let s = await pages.next(); !s.done; s = await pages.next());
        })(),
      ).rejects.toMatchObject({ code: 'CANCELLED' });
      await expect.poll(() => fdsOn(big)).toBe(0);
      // Still usable.
      expect(await listAll(c.list('/big/sub'))).toMatchObject([{ name: 'inner.txt' }]);
    } finally {
      await c.close();
    }
  });

  it('scans a tree with a large directory through App: exact, and an unchanged rescan writes nothing', async () => {
    const work = tempDir('trawl-local-stream-app-');
    const app = await App.open({
      database: join(work.path, 'index.db'),
      tenant: 'default',
      env: { TRAWL_LOCAL_STREAM_DIR_BYTES: String(justBelowBig()) },
    });
    try {
      const storage = await app.ensureStorage(parseStorageSpec(root));
      const first = await app.scan(storage);
      // The not-UTF-8 name is skipped and counted, as in a directory listed whole.
      expect(first).toMatchObject({ status: 'succeeded', files: FILES + 3, dirs: 2 });
      const lines = await indexLines(app, storage);
      expect(lines.filter((l) => l.startsWith('/big/file-'))).toHaveLength(FILES);
      expect(lines).toContain('/big/sub/inner.txt:1');
      expect(await app.scan(storage)).toMatchObject({
        status: 'succeeded',
        created: 0,
        updated: 0,
        deleted: 0,
      });
    } finally {
      await app.close();
      work.cleanup();
    }
  });
});
