/**
 * A listing thread started before the storage connects (`prestartLocalListing`, called by
 * `trawl scan` before it opens the index) is the thread the local client then lists with:
 * no second isolate is started for it, the walk is exact, and a thread no client took, or
 * one taken by a client that never needed it, is ended. Threads are counted by wrapping the
 * Worker class the backend constructs.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { tempDir } from './support/harness.js';
import { listAll, treePieces } from './support/list-all.js';

const threads = vi.hoisted(() => ({
  started: 0,
  exited: 0,
  all: [] as Array<{ posted: number }>,
}));

vi.mock('node:worker_threads', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:worker_threads')>();
  class CountedWorker extends original.Worker {
    readonly counts = { posted: 0 };
    constructor(...args: ConstructorParameters<typeof original.Worker>) {
      super(...args);
      threads.started++;
      threads.all.push(this.counts);
      this.on('exit', () => threads.exited++);
    }
    override postMessage(...args: Parameters<InstanceType<typeof original.Worker>['postMessage']>) {
      this.counts.posted++;
      super.postMessage(...args);
    }
  }
  return { ...original, Worker: CountedWorker };
});

const { LocalClient, prestartLocalListing, endPrestartedListing } =
  await import('../src/storage/backends/local.js');

const until = async (done: () => boolean) => {
  for (let i = 0; i < 500 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
};

describe('local backend: a listing thread started before connecting', () => {
  let tmp: { path: string; cleanup: () => void };
  const clients: Array<InstanceType<typeof LocalClient>> = [];
  // One thread at most: what is counted is whether the prestarted one was the one used.
  const options = (root: string) => ({ root, followSymlinks: false, readAhead: true, threads: 1 });
  const open = async (root: string) => {
    const c = new LocalClient(options(root));
    await c.connect();
    clients.push(c);
    return c;
  };

  beforeEach(() => {
    tmp = tempDir('trawl-local-prestart-');
    threads.started = 0;
    threads.exited = 0;
    threads.all.length = 0;
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    endPrestartedListing();
    tmp.cleanup();
  });

  it('is the thread the walk lists with, and the walk is exact', async () => {
    for (let a = 0; a < 5; a++) {
      for (let b = 0; b < 4; b++) {
        mkdirSync(join(tmp.path, `a${a}`, `b${b}`), { recursive: true });
        for (let f = 0; f < 3; f++) writeFileSync(join(tmp.path, `a${a}`, `b${b}`, `f${f}`), '');
      }
    }
    prestartLocalListing(options(tmp.path), process.env);
    expect(threads.started).toBe(1);
    const client = await open(tmp.path);
    const seen: string[] = [];
    for await (const piece of treePieces(client.listTree('/'))) {
      for (const e of piece.entries) seen.push(e.path);
    }
    expect(seen).toHaveLength(5 + 20 + 60);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toContain('/a4/b3/f2');
    // The prestarted thread listed everything below the root: no other was started.
    expect(threads.started).toBe(1);
    expect(threads.all[0]!.posted).toBeGreaterThan(0);
  });

  it('lists on both of two prestarted threads from the start, exactly', async () => {
    for (let a = 0; a < 40; a++) {
      for (let b = 0; b < 10; b++) {
        mkdirSync(join(tmp.path, `a${a}`, `b${b}`), { recursive: true });
        writeFileSync(join(tmp.path, `a${a}`, `b${b}`, 'f'), '');
      }
    }
    prestartLocalListing(options(tmp.path), process.env, 2);
    // No `threads` option: as many as were prestarted for the scan.
    const client = new LocalClient({ root: tmp.path, followSymlinks: false, readAhead: true });
    await client.connect();
    clients.push(client);
    const seen: string[] = [];
    const dirs: string[] = [];
    for await (const piece of treePieces(client.listTree('/'))) {
      dirs.push(piece.dir);
      for (const e of piece.entries) seen.push(e.path);
    }
    expect(seen).toHaveLength(40 + 400 + 400);
    expect(new Set(seen).size).toBe(seen.length);
    // Breadth-first still: every a-directory before any b-directory.
    const lastA = Math.max(...dirs.map((d, i) => (/^\/a\d+$/.test(d) ? i : -1)));
    const firstB = dirs.findIndex((d) => /^\/a\d+\/b\d+$/.test(d));
    expect(lastA).toBeLessThan(firstB);
    expect(threads.started).toBe(2);
    expect(threads.all.map((t) => t.posted > 0)).toEqual([true, true]);
  });

  it('starts no second thread by default while the scan keeps the main thread busy', async () => {
    for (let a = 0; a < 20; a++) {
      for (let b = 0; b < 5; b++) mkdirSync(join(tmp.path, `a${a}`, `b${b}`), { recursive: true });
    }
    const client = new LocalClient({ root: tmp.path, followSymlinks: false, readAhead: true });
    await client.connect();
    clients.push(client);
    let pieces = 0;
    for await (const _piece of treePieces(client.listTree('/'))) {
      pieces++;
      // A consumer that is never idle (a rescan's main thread): the listing is not what binds.
      const until = Date.now() + 3;
      while (Date.now() < until);
    }
    expect(pieces).toBe(1 + 20 + 100);
    if (client.listing === 'native') expect(threads.started).toBe(1);
  });

  it('judges whether the walk is bound by the listing a window at a time, not since its start', async () => {
    for (let a = 0; a < 50; a++) {
      for (let b = 0; b < 40; b++) mkdirSync(join(tmp.path, `a${a}`, `b${b}`), { recursive: true });
    }
    // The main thread's busy share as the client reads it: over everything since the first
    // reply, busy (a rescan's first replies' burst keeps the average up); over any later
    // window, idle. Only a client that judges windows starts its second thread.
    const real = performance.eventLoopUtilization.bind(performance);
    let first: unknown;
    const spy = vi.spyOn(performance, 'eventLoopUtilization').mockImplementation(((
      since?: unknown,
    ) => {
      if (since === undefined) {
        const now = real();
        first ??= now;
        return now;
      }
      return since === first
        ? { idle: 0, active: 30, utilization: 1 }
        : { idle: 24, active: 6, utilization: 0.2 };
    }) as typeof performance.eventLoopUtilization);
    try {
      const client = new LocalClient({ root: tmp.path, followSymlinks: false, readAhead: true });
      await client.connect();
      clients.push(client);
      let pieces = 0;
      for await (const _piece of treePieces(client.listTree('/'))) pieces++;
      expect(pieces).toBe(1 + 50 + 2000);
      if (client.listing === 'native') expect(threads.started).toBe(2);
    } finally {
      spy.mockRestore();
    }
  });

  it('is not taken by a client of another folder, and is ended when nobody took it', async () => {
    const other = join(tmp.path, 'other');
    mkdirSync(join(other, 'sub'), { recursive: true });
    writeFileSync(join(other, 'sub', 'x'), '');
    prestartLocalListing(options(tmp.path), process.env);
    const client = await open(other);
    expect((await listAll(client.list('/', { newWalk: true }))).map((e) => e.path)).toEqual([
      '/sub',
    ]);
    expect((await listAll(client.list('/sub'))).map((e) => e.path)).toEqual(['/sub/x']);
    // The client started a thread of its own; the prestarted one got no work.
    expect(threads.started).toBe(2);
    expect(threads.all[0]!.posted).toBe(0);
    endPrestartedListing();
    await until(() => threads.exited >= 1);
    expect(threads.exited).toBe(1);
  });

  it('starts no thread for a folder without subdirectories (listed on the main thread)', async () => {
    writeFileSync(join(tmp.path, 'f'), '');
    prestartLocalListing(options(tmp.path), process.env, 2);
    expect(threads.started).toBe(0);
    const client = await open(tmp.path);
    expect((await listAll(client.list('/', { newWalk: true }))).map((e) => e.path)).toEqual(['/f']);
    expect(threads.started).toBe(0);
  });

  it('is ended with the client that took it', async () => {
    mkdirSync(join(tmp.path, 'sub'));
    prestartLocalListing(options(tmp.path), process.env);
    const client = await open(tmp.path);
    expect((await listAll(client.list('/', { newWalk: true }))).map((e) => e.path)).toEqual([
      '/sub',
    ]);
    // Taken: ending what is prestarted now ends nothing; closing the client ends it.
    endPrestartedListing();
    await new Promise((r) => setTimeout(r, 50));
    expect(threads.exited).toBe(0);
    await client.close();
    clients.length = 0;
    await until(() => threads.exited >= 1);
    expect(threads.exited).toBe(1);
    expect(threads.started).toBe(1);
  });
});
