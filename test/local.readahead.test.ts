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
});
