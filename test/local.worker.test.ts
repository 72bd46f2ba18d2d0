import { execFileSync } from 'node:child_process';
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

  it('truncates mtimes to the millisecond exactly as find -printf %T@ does', async () => {
    const tmp = tempDir();
    cleanup = tmp.cleanup;
    // Nanosecond times that a double `mtimeMs` rounds up to the next millisecond, and whole
    // milliseconds (f5, f6) that must stay put. `touch -d @s.ns` sets them to the
    // nanosecond; `utimesSync` takes a double and could not.
    const times: Record<string, string> = {
      f1: '1700000000.999999900',
      f2: '1700000000.000999950',
      f3: '1700000000.123999999',
      f4: '4102444800.999999999', // 2100: the double's last bit is coarser still
      f5: '1700000000.000000000',
      f6: '1700000000.001000000',
      f7: '1700000000.998999999',
      d1: '1700000000.999999999',
    };
    for (const [name, at] of Object.entries(times)) {
      const path = join(tmp.path, name);
      if (name.startsWith('d')) mkdirSync(path);
      else writeFileSync(path, '');
      execFileSync('touch', ['-h', '-d', `@${at}`, path]);
    }
    symlinkSync('f1', join(tmp.path, 'link'));
    execFileSync('touch', ['-h', '-d', '@1700000000.999999999', join(tmp.path, 'link')]);
    const found = new Map<string, number>();
    const printed = execFileSync('find', [tmp.path, '-mindepth', '1', '-printf', '%P %T@\n']);
    for (const line of printed.toString().trim().split('\n')) {
      const [name, at] = line.split(' ') as [string, string];
      const [sec, frac] = at.split('.') as [string, string];
      found.set(name, Number(sec) * 1000 + Number(frac.slice(0, 3)));
    }
    expect(found.get('f1')).toBe(1_700_000_000_999);
    worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { root: tmp.path, follow: false } satisfies WorkerConfig,
    });
    const reply = await ask(worker, { id: 1, dirs: [tmp.path] });
    const listed = new Map(reply.names.split('/').map((name, i) => [name, reply.mtimes[i]!]));
    expect(listed).toEqual(found);
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
