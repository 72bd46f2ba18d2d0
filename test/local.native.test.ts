/**
 * The native listing (native/listing.c) against the JS listing it replaces: the same trees
 * through both, in a listing thread each, must answer the same packed replies byte for byte —
 * names (odd bytes included), types, sizes, millisecond mtimes, counts and error codes. And
 * where a compiler is present the addon must be built and handed to the threads, so CI cannot
 * pass on the JS path alone while the native one is broken.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalClient } from '../src/storage/backends/local.js';
import { builtNativeListing as nativeListing } from '../src/storage/backends/local-native.js';
import {
  listInline,
  WORKER_SOURCE,
  type InlinePort,
  type ListReply,
  type ListRequest,
  type WorkerConfig,
} from '../src/storage/backends/local-worker.js';
import { tempDir } from './support/harness.js';
import { listAll } from './support/list-all.js';

const AS_ROOT = process.getuid?.() === 0;
const SETPRIV = '/usr/bin/setpriv';
const hasCompiler = spawnSync('cc', ['--version']).status === 0;

/** A reply as plain data, for toEqual (typed arrays as arrays, errors by code). */
interface Plain {
  names: string;
  counts: number[];
  types: number[];
  sizes: number[];
  mtimes: number[];
  errors: Array<string | null>;
}

/**
 * One request answered by a listing thread in a child process; as root, without the
 * capabilities that read any directory, so that an unreadable one is unreadable.
 */
function listInChild(dir: string, config: WorkerConfig, request: ListRequest): Plain {
  const job = join(dir, `job-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(job, JSON.stringify({ source: WORKER_SOURCE, config, request }));
  const script = `
    const { Worker } = require('node:worker_threads');
    const { source, config, request } = JSON.parse(require('node:fs').readFileSync(process.argv[1], 'utf8'));
    const w = new Worker(source, { eval: true, workerData: config });
    w.once('error', (e) => { console.error(e); process.exit(1); });
    w.once('message', (r) => {
      process.stdout.write(JSON.stringify({
        names: r.names, counts: [...r.counts], types: [...r.types], sizes: [...r.sizes],
        mtimes: [...r.mtimes], errors: r.errors.map((e) => (e ? e.code : null)),
      }));
      void w.terminate();
    });
    w.postMessage(request);`;
  const argv = [process.execPath, '-e', script, job];
  const run = AS_ROOT
    ? spawnSync(SETPRIV, ['--bounding-set', '-dac_override,-dac_read_search', ...argv], {
        encoding: 'utf8',
      })
    : spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  expect(run.stderr).toBe('');
  return JSON.parse(run.stdout) as Plain;
}

/** Both listings of the same request. */
function both(dir: string, config: WorkerConfig, request: ListRequest): [Plain, Plain] {
  const built = nativeListing();
  if (!built) throw new Error('the native listing is not built');
  return [
    listInChild(dir, { ...config, native: built.path }, request),
    listInChild(dir, config, request),
  ];
}

/**
 *   names/ — invalid UTF-8 (a lone continuation byte, a truncated sequence, an overlong '/',
 *   a surrogate), U+FFFD itself, a newline, NFC and NFD twins, an emoji, a 255-byte name;
 *   times/ — mtimes on, just under and around whole milliseconds, and before 1970;
 *   links/ — links to a file, a directory, an ancestor, nowhere, itself, a fifo, two
 *   directories linking to each other's parents; closed/ (mode 000) and a mode-000 file;
 *   big/ — 600 entries.
 */
function buildTree(root: string): string[] {
  const names = join(root, 'names');
  mkdirSync(names, { recursive: true });
  const raw = (bytes: number[]) =>
    Buffer.concat([Buffer.from(names + '/'), Buffer.from(bytes), Buffer.from('.txt')]);
  for (const bytes of [[0x80], [0x61, 0xe2, 0x82], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xff]]) {
    writeFileSync(raw(bytes), 'x');
  }
  mkdirSync(raw([0x62, 0xfe])); // an undecodable directory: unreadable, never descended
  for (const name of ['\uFFFD.txt', 'a\nb', 'caf\u00e9', 'cafe\u0301', '😀 x', 'n'.repeat(255)]) {
    writeFileSync(join(names, name), name);
  }
  const times = join(root, 'times');
  mkdirSync(times);
  const stamps = [
    '1700000000',
    '1700000000.001',
    '1700000000.000999999',
    '1700000000.999999999',
    '1700000001.0000001',
    '-1.5',
    '-2.0000005',
  ];
  stamps.forEach((t, i) => {
    const f = join(times, `t${i}`);
    writeFileSync(f, 'y'.repeat(i));
    execFileSync('touch', ['-d', `@${t}`, f]);
  });
  const links = join(root, 'links');
  mkdirSync(join(links, 'real/sub'), { recursive: true });
  writeFileSync(join(links, 'real/a.txt'), 'aaa');
  symlinkSync('..', join(links, 'real/up'));
  symlinkSync('real/a.txt', join(links, 'link-file'));
  symlinkSync('real', join(links, 'link-dir'));
  symlinkSync('nowhere', join(links, 'dangling'));
  symlinkSync('self', join(links, 'self'));
  execFileSync('mkfifo', [join(links, 'fifo')]);
  symlinkSync('fifo', join(links, 'link-fifo'));
  symlinkSync('../closed', join(links, 'link-closed'));
  mkdirSync(join(links, 'p/x'), { recursive: true });
  mkdirSync(join(links, 'q/y'), { recursive: true });
  symlinkSync('../../q', join(links, 'p/x/lq'));
  symlinkSync('../../p', join(links, 'q/y/lp'));
  const closed = join(root, 'closed');
  mkdirSync(closed);
  writeFileSync(join(closed, 'hidden'), '');
  writeFileSync(join(root, 'locked.txt'), 'z');
  chmodSync(join(root, 'locked.txt'), 0);
  chmodSync(closed, 0);
  const big = join(root, 'big');
  mkdirSync(big);
  for (let i = 0; i < 600; i++) writeFileSync(join(big, `f${i}`), '');
  return [
    root,
    names,
    times,
    links,
    join(links, 'real'),
    join(links, 'link-dir'), // listed through a link, as a walk that follows them does
    join(links, 'real/up'),
    join(links, 'p/x'),
    join(links, 'p/x/lq'),
    join(links, 'p/x/lq/y'),
    join(links, 'q/y/lp/x'),
    closed,
    big,
    join(root, 'missing'),
    join(root, 'locked.txt'), // not a directory
    join(links, 'dangling'),
    join(links, 'self'),
  ];
}

describe('local backend: the native listing', () => {
  let tmp: { path: string; cleanup: () => void };
  beforeEach(() => {
    tmp = tempDir('trawl-local-native-');
  });
  afterEach(() => {
    const closed = join(tmp.path, 'tree', 'closed');
    if (existsSync(closed)) chmodSync(closed, 0o755);
    tmp.cleanup();
  });

  it('is built wherever a C compiler is, and the client lists with it unless told not to', async () => {
    if (hasCompiler) expect(nativeListing()).toBeDefined();
    if (!nativeListing() || process.env.TRAWL_LOCAL_NATIVE === '0') return;
    const open = async (native?: boolean) => {
      const c = new LocalClient(
        { root: tmp.path, followSymlinks: false, readAhead: true },
        native === undefined ? {} : { native },
      );
      await c.connect();
      await c.close();
      return c.listing;
    };
    expect(await open()).toBe('native');
    expect(await open(false)).toBe('js');
  });

  it('is what the listing on the calling thread calls when it is handed the addon', () => {
    // The addon the caller loaded already (local.ts hands over local-native.ts's), not loaded
    // a second time: a stand-in that counts its calls and hands them on.
    const real = nativeListing();
    if (!real) return;
    let calls = 0;
    const spy = {
      listDirs: (...a: Parameters<typeof real.listing.listDirs>) => {
        calls++;
        return real.listing.listDirs(...a);
      },
    };
    const replies: ListReply[] = [];
    let handler: ((msg: ListRequest) => void) | undefined;
    listInline(
      {
        on: (_event, h) => void (handler = h as (msg: ListRequest) => void),
        postMessage: (reply) => void replies.push(reply),
      },
      { root: tmp.path, follow: false, native: real.path },
      spy,
    );
    handler!({ id: 1, dirs: [tmp.path] });
    expect(calls).toBe(1);
    expect(replies[0]!.errors).toEqual([null]);
  });

  it.each([false, true])(
    'answers exactly as the JS listing, follow=%s: names, types, sizes, mtimes, errors',
    (follow) => {
      const root = join(tmp.path, 'tree');
      const dirs = buildTree(root);
      const config: WorkerConfig = { root, follow };
      const [native, js] = both(tmp.path, config, { id: 1, dirs });
      expect(native).toEqual(js);
      // The tree is what the test thinks it is: odd names escaped, loops and errors seen.
      expect(js.names).toContain('\udc80.txt');
      expect(js.names).toContain('a\udce2\udc82.txt');
      expect(js.errors.filter((e) => e !== null)).toEqual([
        'EACCES',
        'ENOENT',
        'ENOTDIR',
        'ENOENT',
        'ELOOP',
      ]);
      expect(js.types).toContain(follow ? 4 : 2); // a loop when following, else a link
    },
  );

  it('answers a large directory with TRAWL_STREAM as the JS listing does', () => {
    const root = join(tmp.path, 'tree');
    const dirs = buildTree(root);
    const config: WorkerConfig = { root, follow: false, largeDirBytes: 4096 };
    const [native, js] = both(tmp.path, config, { id: 2, dirs });
    expect(native).toEqual(js);
    expect(js.errors[dirs.indexOf(join(root, 'big'))]).toBe('TRAWL_STREAM');
  });

  it('lists a streamed directory the same through both, page by page', async () => {
    const root = join(tmp.path, 'tree');
    buildTree(root);
    chmodSync(join(root, 'closed'), 0o755);
    const listed = async (native: boolean) => {
      const c = new LocalClient(
        { root, followSymlinks: false, threads: 1, readAhead: true },
        { largeDirBytes: 4096, native },
      );
      await c.connect();
      try {
        return await listAll(c.list('/big'));
      } finally {
        await c.close();
      }
    };
    const [n, j] = [await listed(true), await listed(false)];
    expect(n).toHaveLength(600);
    expect(n).toEqual(j);
  });

  it('sorts each listing by its own names while threads list at once', async () => {
    // The addon is one library in the process: the listing threads (and the main thread,
    // which lists while the first thread starts) call it at the same time. Its sort once
    // read the names through a static pointer that another thread's listing could replace
    // mid-sort: a listing came back out of order (the scan then decoded it, stored no
    // digest, and the next unchanged rescan wrote the directory's row). One thread lists a
    // directory of 200 names while another lists one of 2, replacing that pointer every few
    // microseconds; every listing must be the one listed alone, in order.
    const built = nativeListing();
    if (!built) return;
    const wide = join(tmp.path, 'wide');
    const tiny = join(tmp.path, 'tiny');
    mkdirSync(wide);
    mkdirSync(tiny);
    // Reversed numbers: the kernel's order, and a sort by other bytes, differ from the names'.
    for (let i = 100; i < 300; i++)
      writeFileSync(join(wide, `m${[...String(i)].reverse().join('')}`), '');
    for (const name of ['a', 'b']) writeFileSync(join(tiny, name), '');
    const alone = built.listing.listDirs([wide], tmp.path, false, 1e12).names;
    expect(alone.split('/')).toEqual(alone.split('/').sort());
    const source = `
      const { workerData, parentPort } = require('node:worker_threads');
      const addon = { exports: {} };
      process.dlopen(addon, workerData.path);
      const { dir, root, until, alone } = workerData;
      let listings = 0, wrong = 0;
      while (Date.now() < until && wrong === 0) {
        const { names } = addon.exports.listDirs([dir], root, false, 1e12);
        listings++;
        if (alone !== undefined && names !== alone) wrong++;
      }
      parentPort.postMessage({ listings, wrong });`;
    const until = Date.now() + 1500;
    const run = (dir: string, expected?: string) =>
      new Promise<{ listings: number; wrong: number }>((resolve, reject) => {
        const w = new Worker(source, {
          eval: true,
          workerData: { path: built.path, dir, root: tmp.path, until, alone: expected },
        });
        w.once('message', resolve);
        w.once('error', reject);
      });
    const [listed, hammered] = await Promise.all([run(wide, alone), run(tiny)]);
    expect(listed.listings).toBeGreaterThan(0);
    expect(hammered.listings).toBeGreaterThan(0);
    expect(listed.wrong).toBe(0);
  });

  it('leaves out an entry removed between reading the names and stat, in both', async () => {
    const dir = join(tmp.path, 'churn');
    mkdirSync(dir);
    // Another process creates and removes files as fast as it can while the listing runs:
    // some land between getdents and fstatat. Neither listing may fail or report a ghost.
    const churn = `const fs = require('node:fs'); console.log('ready'); for (;;) for (let i = 0; i < 50; i++) {
      const f = ${JSON.stringify(dir)} + '/f' + i; fs.writeFileSync(f, ''); fs.rmSync(f); }`;
    const child = spawn(process.execPath, ['-e', churn]);
    await new Promise((resolve) => child.stdout.once('data', resolve));
    try {
      for (const native of [nativeListing()?.path, undefined]) {
        const config: WorkerConfig = { root: tmp.path, follow: false };
        if (native) config.native = native;
        const replies: ListReply[] = [];
        let handler: ((msg: ListRequest) => void) | undefined;
        const port: InlinePort = {
          on: (_event, h) => void (handler = h as (msg: ListRequest) => void),
          postMessage: (reply) => void replies.push(reply),
        };
        listInline(port, config);
        for (let i = 0; i < 3000; i++) handler!({ id: i, dirs: [dir] });
        for (const reply of replies) {
          expect(reply.errors).toEqual([null]);
          expect([...reply.types].every((t) => t === 0)).toBe(true);
        }
      }
    } finally {
      child.kill();
    }
  });
});
