import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import {
  T_DIR,
  T_FILE,
  T_SYMLINK,
  WORKER_SOURCE,
  type ListReply,
  type ListRequest,
  type WorkerConfig,
} from '../src/storage/backends/local-worker.js';
import { tempDir } from './support/harness.js';

function ask(worker: Worker, request: ListRequest): Promise<ListReply> {
  return new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.postMessage(request);
  });
}

describe('local listing thread', () => {
  let worker: Worker | undefined;
  let cleanup: (() => void) | undefined;
  afterEach(async () => {
    await worker?.terminate();
    cleanup?.();
    worker = undefined;
  });

  it('answers a batch with each directory packed in order, a failing one empty with its error', async () => {
    const tmp = tempDir();
    cleanup = tmp.cleanup;
    mkdirSync(join(tmp.path, 'one/sub'), { recursive: true });
    writeFileSync(join(tmp.path, 'one/a.txt'), 'abc');
    mkdirSync(join(tmp.path, 'two'));
    writeFileSync(join(tmp.path, 'two/b'), '');
    symlinkSync('one', join(tmp.path, 'two/link'));
    const config: WorkerConfig = { root: tmp.path, follow: false };
    worker = new Worker(WORKER_SOURCE, { eval: true, workerData: config });
    const reply = await ask(worker, {
      id: 7,
      dirs: [join(tmp.path, 'one'), join(tmp.path, 'missing'), join(tmp.path, 'two')],
    });
    expect(reply.id).toBe(7);
    expect([...reply.counts]).toEqual([2, 0, 2]);
    expect(reply.errors[0]).toBeNull();
    expect(reply.errors[1]).toMatchObject({ code: 'ENOENT' });
    expect(reply.errors[2]).toBeNull();
    const names = reply.names.split('/');
    const rows = names.map((name, i) => [name, reply.types[i], reply.sizes[i]]);
    const sorted = (r: unknown[][]) =>
      [...r].sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    expect(sorted(rows.slice(0, 2))).toEqual([
      ['a.txt', T_FILE, 3],
      ['sub', T_DIR, 0],
    ]);
    expect(sorted(rows.slice(2))).toEqual([
      ['b', T_FILE, 0],
      ['link', T_SYMLINK, 0],
    ]);
    expect(reply.mtimes.every((m) => Number.isInteger(m) && m > 0)).toBe(true);
  });

  it('answers an empty batch and an empty directory without a stray name', async () => {
    const tmp = tempDir();
    cleanup = tmp.cleanup;
    worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { root: tmp.path, follow: false } satisfies WorkerConfig,
    });
    const reply = await ask(worker, { id: 1, dirs: [tmp.path] });
    expect([...reply.counts]).toEqual([0]);
    expect(reply.names).toBe('');
    expect(reply.types.length).toBe(0);
  });
});
