/**
 * The local backend lists on the main thread until a listing shows a subdirectory: a scan of
 * an empty folder, or of a folder of files only, never starts a listing thread (a Node
 * isolate, 30–50 ms and ~10 MB to start). Threads are counted by wrapping the Worker class
 * the backend constructs.
 */
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { tempDir } from './support/harness.js';
import { listAll } from './support/list-all.js';

const threads = vi.hoisted(() => ({
  started: 0,
  messages: 0,
  /** While set, a thread's 'online' is held back (see `release`): the client sees it starting. */
  hold: false,
  held: [] as Array<() => void>,
}));

vi.mock('node:worker_threads', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:worker_threads')>();
  class CountedWorker extends original.Worker {
    constructor(...args: ConstructorParameters<typeof original.Worker>) {
      super(...args);
      threads.started++;
    }
    override emit(event: string | symbol, ...args: unknown[]): boolean {
      if (event === 'online' && threads.hold) {
        threads.held.push(() => super.emit(event, ...args));
        return true;
      }
      return super.emit(event, ...args);
    }
    override postMessage(...args: Parameters<InstanceType<typeof original.Worker>['postMessage']>) {
      threads.messages++;
      super.postMessage(...args);
    }
  }
  return { ...original, Worker: CountedWorker };
});

const { LocalClient } = await import('../src/storage/backends/local.js');

describe('local backend: listing before the first thread', () => {
  let tmp: { path: string; cleanup: () => void };
  const clients: Array<InstanceType<typeof LocalClient>> = [];
  const open = async (root: string, tuning: { largeDirBytes?: number } = {}) => {
    const c = new LocalClient({ root, followSymlinks: false, threads: 2, readAhead: true }, tuning);
    await c.connect();
    clients.push(c);
    return c;
  };

  beforeEach(() => {
    tmp = tempDir('trawl-local-inline-');
    threads.started = 0;
    threads.messages = 0;
    threads.hold = false;
    threads.held.length = 0;
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    tmp.cleanup();
  });

  it('lists an empty folder without starting a thread', async () => {
    const client = await open(tmp.path);
    expect(await listAll(client.list('/', { newWalk: true }))).toEqual([]);
    expect(threads.started).toBe(0);
  });

  it('lists a folder of files on the main thread, exactly as a thread lists it', async () => {
    for (let i = 0; i < 50; i++) writeFileSync(join(tmp.path, `f${i}.txt`), 'x'.repeat(i));
    const client = await open(tmp.path);
    const entries = await listAll(client.list('/', { newWalk: true }));
    expect(threads.started).toBe(0);
    expect(entries).toHaveLength(50);
    const f7 = entries.find((e) => e.name === 'f7.txt')!;
    const st = statSync(join(tmp.path, 'f7.txt'));
    expect(f7).toEqual({
      path: '/f7.txt',
      name: 'f7.txt',
      isDir: false,
      size: 7,
      mtime: Math.floor(st.mtimeMs),
    });
  });

  it('starts a thread once a listing shows a subdirectory, and lists the rest there once it runs', async () => {
    mkdirSync(join(tmp.path, 'a', 'b'), { recursive: true });
    writeFileSync(join(tmp.path, 'a', 'b', 'x.txt'), 'x');
    threads.hold = true;
    const client = await open(tmp.path);
    const root = await listAll(client.list('/', { newWalk: true }));
    expect(root.map((e) => e.path)).toEqual(['/a']);
    expect(threads.started).toBe(1);
    // Its isolate starting, the main thread lists on (the walk waits for these meanwhile).
    expect((await listAll(client.list('/a'))).map((e) => e.path)).toEqual(['/a/b']);
    expect((await listAll(client.list('/a/b'))).map((e) => e.path)).toEqual(['/a/b/x.txt']);
    expect(threads.messages).toBe(0);
    // Running: a new walk lists there.
    for (let i = 0; i < 500 && threads.held.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(threads.held).toHaveLength(1);
    threads.hold = false;
    for (const release of threads.held.splice(0)) release();
    expect((await listAll(client.list('/', { newWalk: true }))).map((e) => e.path)).toEqual(['/a']);
    expect((await listAll(client.list('/a'))).map((e) => e.path)).toEqual(['/a/b']);
    expect((await listAll(client.list('/a/b'))).map((e) => e.path)).toEqual(['/a/b/x.txt']);
    expect(threads.messages).toBeGreaterThan(0);
    expect(threads.started).toBe(1); // never more than there was work for
  });

  it('reports a root that vanished as NOT_FOUND, listed on the main thread', async () => {
    const gone = join(tmp.path, 'gone');
    mkdirSync(gone);
    const client = await open(gone);
    rmSync(gone, { recursive: true });
    await expect(listAll(client.list('/', { newWalk: true }))).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    expect(threads.started).toBe(0);
  });

  it('streams a directory too large to list whole in a thread', async () => {
    for (let i = 0; i < 30; i++) writeFileSync(join(tmp.path, `f${i}.txt`), '');
    const client = await open(tmp.path, { largeDirBytes: 1 });
    const entries = await listAll(client.list('/', { newWalk: true }));
    expect(entries).toHaveLength(30);
    expect(threads.started).toBe(1);
  });

  it('refuses to list once closed', async () => {
    const client = await open(tmp.path);
    await client.close();
    await expect(listAll(client.list('/', { newWalk: true }))).rejects.toMatchObject({
      code: 'UNAVAILABLE',
    });
  });
});
