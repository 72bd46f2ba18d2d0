import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LocalClient } from '../src/storage/backends/local.js';
import { tempDir } from './support/harness.js';
import { listAll } from './support/list-all.js';

describe('local backend: read-ahead', () => {
  const cleanups: Array<() => void | Promise<void>> = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it("lists the walk's other subdirectories ahead, in a few requests, once the walk descends", async () => {
    const tmp = tempDir();
    cleanups.push(tmp.cleanup);
    const dirs = Array.from({ length: 30 }, (_, i) => `d${String(i).padStart(2, '0')}`);
    for (const d of dirs) {
      mkdirSync(join(tmp.path, d));
      for (let f = 0; f < 5; f++) writeFileSync(join(tmp.path, d, `f${f}.txt`), d);
    }
    const client = new LocalClient({
      root: tmp.path,
      followSymlinks: false,
      threads: 1,
      readAhead: true,
    });
    await client.connect();
    cleanups.push(() => client.close());
    const sent = vi.spyOn(Worker.prototype, 'postMessage');
    const root = await listAll(client.list('/', { newWalk: true }));
    expect(root.map((e) => e.name).sort()).toEqual(dirs);
    // The root is listed on the main thread (local.inline.test.ts); the rest in the thread.
    expect(sent).toHaveBeenCalledTimes(0);
    // The walk asks for its subdirectories one by one, as the engine's listers do.
    for (const d of dirs) {
      const entries = await listAll(client.list(`/${d}`));
      expect(entries.map((e) => e.path).sort()).toEqual(
        Array.from({ length: 5 }, (_, f) => `/${d}/f${f}.txt`),
      );
    }
    // One request for the first, then its 29 siblings read ahead together — not one each.
    expect(sent.mock.calls.length - 1).toBeLessThanOrEqual(3);
  });

  it('reads ahead the subdirectories of listings the walk was handed, in the order it was handed them', async () => {
    const tmp = tempDir();
    cleanups.push(tmp.cleanup);
    const sub = Array.from({ length: 20 }, (_, i) => `s${String(i).padStart(2, '0')}`);
    for (const top of ['a', 'b']) {
      for (const s of sub) {
        mkdirSync(join(tmp.path, top, s), { recursive: true });
        writeFileSync(join(tmp.path, top, s, 'f.txt'), s);
      }
    }
    const client = new LocalClient({
      root: tmp.path,
      followSymlinks: false,
      threads: 1,
      readAhead: true,
    });
    await client.connect();
    cleanups.push(() => client.close());
    const sent = vi.spyOn(Worker.prototype, 'postMessage');
    const asked = () =>
      sent.mock.calls
        .flatMap(([m]) => (m as { dirs?: string[] }).dirs ?? [])
        .map((d) => d.slice(tmp.path.length));
    await listAll(client.list('/', { newWalk: true }));
    // Asking for /a reads /b ahead; /b's listing arrives before any of /a's subdirectories
    // (one thread answers in order), and is not handed to the walk yet.
    await listAll(client.list('/a'));
    for (const s of sub) await listAll(client.list(`/a/${s}`));
    // So its subdirectories wait: the walk asks for the rest of /a's level first, and a
    // read-ahead that ran into /b's subtree now would run ahead of the walk's own order.
    expect(asked().filter((d) => d.startsWith('/b/'))).toEqual([]);
    await listAll(client.list('/b'));
    for (const s of sub) {
      expect((await listAll(client.list(`/b/${s}`))).map((e) => e.name)).toEqual(['f.txt']);
    }
    // /b's subdirectories went out read ahead, together: not one request each.
    const single = sent.mock.calls.filter(([m]) => (m as { dirs?: string[] }).dirs?.length === 1);
    expect(single.length).toBeLessThanOrEqual(3);
    expect(asked().filter((d) => d.startsWith('/b/')).length).toBe(sub.length);
  });
});
