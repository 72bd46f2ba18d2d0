/**
 * Listing threads bin/blank-listing.cjs starts before the bundle loads, blank (they wait for
 * their storage's configuration): which command lines start how many, and that the local
 * client then lists with them — given their configuration, no other thread started, the
 * walk exact — and that one nobody took is ended with the prestarted ones. Threads the
 * backend constructs are counted by wrapping its Worker class; the blank ones are made here
 * with the real one, as bin/trawl.js makes them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { tempDir } from './support/harness.js';
import { treePieces } from './support/list-all.js';

const threads = vi.hoisted(() => ({ started: 0 }));

vi.mock('node:worker_threads', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:worker_threads')>();
  class CountedWorker extends original.Worker {
    constructor(...args: ConstructorParameters<typeof original.Worker>) {
      super(...args);
      threads.started++;
    }
  }
  return { ...original, Worker: CountedWorker };
});

// The real class (the import above is the counted one), as bin/trawl.js has it.
const { Worker: RealWorker } =
  await vi.importActual<typeof import('node:worker_threads')>('node:worker_threads');
type RealWorker = InstanceType<typeof RealWorker>;
const { LocalClient, prestartLocalListing, endPrestartedListing } =
  await import('../src/storage/backends/local.js');
const { BLANK_THREADS } = await import('../src/storage/backends/local-blank.js');
const blank = createRequire(import.meta.url)('../bin/blank-listing.cjs') as {
  BLANK_SOURCE: string;
  SLOT: symbol;
  blankThreadsFor(argv: string[], cores: number): number;
};

/** A blank thread as bin/blank-listing.cjs starts it, counting what it is sent. */
function blankThread(): { worker: RealWorker; posted: number; exited: Promise<number> } {
  const worker = new RealWorker(blank.BLANK_SOURCE, { eval: true });
  worker.unref();
  const counted = { worker, posted: 0, exited: new Promise<number>((r) => worker.on('exit', r)) };
  const post = worker.postMessage.bind(worker);
  worker.postMessage = (...args: Parameters<RealWorker['postMessage']>) => {
    counted.posted++;
    post(...args);
  };
  return counted;
}

const slot = globalThis as unknown as Record<symbol, unknown>;

describe('local backend: listing threads started blank before the bundle', () => {
  let tmp: { path: string; cleanup: () => void };
  const clients: Array<InstanceType<typeof LocalClient>> = [];

  beforeEach(() => {
    tmp = tempDir('trawl-local-blank-');
    threads.started = 0;
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    endPrestartedListing();
    delete slot[BLANK_THREADS];
    tmp.cleanup();
  });

  it('puts them where the bundle looks', () => {
    expect(blank.SLOT).toBe(BLANK_THREADS);
  });

  it('starts two for a dry run of a folder, one for a scan, none for anything else', () => {
    mkdirSync(join(tmp.path, 'tree', 'sub'), { recursive: true });
    mkdirSync(join(tmp.path, 'flat'));
    writeFileSync(join(tmp.path, 'flat', 'f'), '');
    const tree = join(tmp.path, 'tree');
    const flat = join(tmp.path, 'flat');
    const db = join(tmp.path, 'i.db');
    const n = (argv: string[], cores = 2) => blank.blankThreadsFor(argv, cores);
    expect(n(['scan', tree, '--dry-run'])).toBe(2);
    expect(n(['scan', '--dry-run', '--db', db, tree])).toBe(2);
    expect(n(['scan', tree, '--dry-run'], 1)).toBe(1);
    expect(n(['scan', tree, '--db', db])).toBe(1);
    // A folder after an option that takes a value is that option's.
    expect(n(['scan', '--exclude', tree, 'name-of-a-storage'])).toBe(0);
    // Files only: the walk lists it on the main thread, as prestartLocalListing decides.
    expect(n(['scan', flat, '--dry-run'])).toBe(0);
    expect(n(['scan', tree, '--enqueue'])).toBe(0);
    expect(n(['scan', `file://${tree}`, '--dry-run'])).toBe(0);
    expect(n(['scan', join(tmp.path, 'missing')])).toBe(0);
    expect(n(['ls', tree])).toBe(0);
  });

  it('lists with them once given their configuration, on both, exactly, starting none', async () => {
    for (let a = 0; a < 40; a++) {
      for (let b = 0; b < 10; b++) {
        mkdirSync(join(tmp.path, `a${a}`, `b${b}`), { recursive: true });
        writeFileSync(join(tmp.path, `a${a}`, `b${b}`, 'f'), 'x');
      }
    }
    const started = [blankThread(), blankThread()];
    slot[BLANK_THREADS] = started.map((t) => t.worker);
    const options = { root: tmp.path, followSymlinks: false, readAhead: true };
    prestartLocalListing(options, process.env, 2);
    const client = new LocalClient(options);
    await client.connect();
    clients.push(client);
    const seen: string[] = [];
    let bytes = 0;
    for await (const piece of treePieces(client.listTree('/'))) {
      for (const e of piece.entries) {
        seen.push(e.path);
        bytes += e.size;
      }
    }
    expect(seen).toHaveLength(40 + 400 + 400);
    expect(new Set(seen).size).toBe(seen.length);
    expect(bytes).toBe(400);
    expect(threads.started).toBe(0);
    // Each was sent its configuration and then requests.
    expect(started.map((t) => t.posted > 1)).toEqual([true, true]);
  });

  it('ends one nobody took with the prestarted threads, and passes over one that died', async () => {
    mkdirSync(join(tmp.path, 'a', 'b'), { recursive: true });
    const dead = blankThread();
    await dead.worker.terminate();
    const left = blankThread();
    slot[BLANK_THREADS] = [dead.worker, left.worker];
    // One thread, taken from the blank ones: the dead one is passed over.
    prestartLocalListing({ root: tmp.path, followSymlinks: false, readAhead: true }, process.env);
    expect(threads.started).toBe(0);
    expect(left.posted).toBe(1);
    const other = blankThread();
    slot[BLANK_THREADS] = [other.worker];
    endPrestartedListing();
    // Both end (the test would time out waiting otherwise), the untaken one never told.
    await Promise.all([other.exited, left.exited]);
    expect(other.worker.threadId).toBe(-1);
    expect(other.posted).toBe(0);
  });
});
