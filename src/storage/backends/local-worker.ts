/**
 * The body of a local-listing worker thread, run with `new Worker(source, { eval: true })`
 * so that it works the same from compiled JS and from TypeScript under the test runner.
 * It must therefore be self-contained: no imports, `require` only.
 *
 * Why a thread at all: `fs.promises.stat` per entry costs a libuv round trip each (several
 * times slower than `find`), while sync `readdirSync` + `lstatSync` in a thread runs at
 * near-`find` speed and overlaps with the database writes on the main thread.
 *
 * Why batches: one request lists many directories and one reply carries all of them packed
 * (names joined into one string, types, sizes and mtimes in transferred typed arrays), so
 * a tree of small directories does not pay a message round trip and a structured clone of
 * thousands of small strings per directory.
 *
 * Why streams: `readdirSync` holds a directory's names whole, and a packed reply holds all of
 * its entries; for a directory of millions of entries that is gigabytes. So a directory whose
 * size on disk says it is large (see {@link LARGE_DIR_BYTES}) is not listed in a batch: the
 * batch answers it with {@link STREAM_CODE}, and the main thread reads it as a stream — an
 * open `fs.Dir` in this thread, read {@link STREAM_CHUNK} entries per request, each answered
 * packed like a batch of one. The thread never blocks on a stream: chunks of other requests
 * interleave with it, and the main thread asks for the next chunk only as the scan takes them.
 */

/** Entry type codes sent back in a Uint8Array. */
export const T_FILE = 0;
export const T_DIR = 1;
export const T_SYMLINK = 2;
export const T_SPECIAL = 3;
export const T_LOOP = 4;
export const T_UNREADABLE = 5;

/**
 * A directory whose size on disk exceeds this is listed as a stream. Directory sizes track
 * their entries on every common file system (ext4 and XFS: blocks of ~25–40 names, btrfs:
 * twice the names' bytes, tmpfs: 20 bytes a name, ZFS: the entry count), so this is ~5,000
 * entries on ext4 and ~260,000 on ZFS; a file system that reports a fixed size lists every
 * directory whole, as before. One `stat` per directory is the whole cost to the normal case.
 */
export const LARGE_DIR_BYTES = 256 * 1024;
/** Entries per chunk of a streamed directory: one page each. */
export const STREAM_CHUNK = 1000;
/** The error code a batch answers a large directory with: "list it as a stream". */
export const STREAM_CODE = 'TRAWL_STREAM';

/** Set once per thread: where the storage is and how to treat symbolic links. */
export interface WorkerConfig {
  /** Absolute filesystem path of the storage root, without a trailing slash (except `/`). */
  root: string;
  follow: boolean;
  /** Overrides {@link LARGE_DIR_BYTES} (tests list a small directory as a stream). */
  largeDirBytes?: number;
  /**
   * The native listing's file (local-native.ts): batches are listed by it, in one call and
   * without a JS object per entry; absent, by `readdirSync` + `lstatSync`.
   */
  native?: string;
}

export interface ListRequest {
  id: number;
  /** Absolute filesystem paths of the directories to list, in order. */
  dirs: string[];
}

/**
 * The next chunk of a streamed directory, opened on first use (`path` is needed then);
 * answered with a {@link ListReply} of one directory whose `more` says whether another chunk
 * follows. With `close`, the stream is closed and nothing is answered.
 */
export interface StreamRequest {
  id: number;
  stream: number;
  path: string;
  close?: boolean;
}

export interface ListError {
  code: string | undefined;
  message: string;
}

/**
 * All listings of one request. Directory `k` owns `counts[k]` consecutive entries; names
 * are joined with `/` (the one byte a name cannot hold). A directory that could not be
 * listed has an error at `errors[k]` and no entries.
 */
export interface ListReply {
  id: number;
  names: string;
  counts: Uint32Array;
  types: Uint8Array;
  sizes: Float64Array;
  mtimes: Float64Array;
  errors: Array<ListError | null>;
  /** For a stream: another chunk follows. */
  more?: boolean;
}

/**
 * Where a listing runs when it does not run in a thread of its own: the requests it is sent
 * and the replies it posts, on the main thread (see `listInline`).
 */
export interface InlinePort {
  on(event: 'message', handler: (msg: ListRequest | StreamRequest) => void): void;
  postMessage(reply: ListReply, transfer?: ArrayBuffer[]): void;
}

/** What the native listing's addon exports (local-native.ts's `NativeListing`). */
interface NativeLister {
  listDirs(
    dirs: string[],
    root: string,
    follow: boolean,
    large: number,
  ): Omit<ListReply, 'id' | 'more'>;
}

function workerMain(inline?: {
  port: InlinePort;
  config: WorkerConfig;
  native: NativeLister | undefined;
}): void {
  // Not require(): this function runs from its source text, and a bundler rewrites
  // require() calls into a helper the thread does not have (scripts/bundle.js).
  const { parentPort, workerData } = inline
    ? { parentPort: inline.port, workerData: inline.config }
    : process.getBuiltinModule('node:worker_threads');
  const fs = process.getBuiltinModule('node:fs');
  const FILE = 0,
    DIR = 1,
    SYMLINK = 2,
    SPECIAL = 3,
    LOOP = 4,
    UNREADABLE = 5;
  const { root, follow } = workerData as WorkerConfig;
  // Integer times, because mtimes are truncated to the millisecond as `find -printf %T@` does,
  // and a number Stats cannot always say where a millisecond ends: its `mtimeMs` is one
  // double, seconds × 1000 + ns / 1e6, whose last bit is 0.24 µs at today's dates, so 0.1 µs
  // short of a millisecond reads as that millisecond and `Math.floor` lands 1 ms late. A
  // bigint Stats keeps seconds and nanoseconds exact, but cost 10–35 % more a call here
  // (BigInt fields, converted back). Rounding can only land on a whole millisecond, so a number
  // Stats whose `mtimeMs` has a fraction is exact under `Math.floor`; only a whole one (a
  // file system with coarse times, or 1 in ~4,000 files elsewhere) is asked again in bigint.
  const STAT = { throwIfNoEntry: false } as const;
  const EXACT = { throwIfNoEntry: false, bigint: true } as const;

  /** The entry's Stats with an exact millisecond mtime (`ms`); undefined when it is gone. */
  function statOf(
    full: string,
    follow: boolean,
  ): { st: import('node:fs').Stats | import('node:fs').BigIntStats; ms: number } | undefined {
    const stat = follow ? fs.statSync : fs.lstatSync;
    const st = stat(full, STAT);
    if (st === undefined) return undefined;
    if (!Number.isInteger(st.mtimeMs)) return { st, ms: Math.floor(st.mtimeMs) };
    const exact = stat(full, EXACT);
    return exact === undefined ? undefined : { st: exact, ms: Number(exact.mtimeMs) };
  }

  let cap = 4096;
  let types = new Uint8Array(cap);
  let sizes = new Float64Array(cap);
  let mtimes = new Float64Array(cap);
  let n = 0;
  let names: string[] = [];

  function grow(): void {
    cap *= 2;
    const t = new Uint8Array(cap);
    t.set(types);
    const s = new Float64Array(cap);
    s.set(sizes);
    const m = new Float64Array(cap);
    m.set(mtimes);
    types = t;
    sizes = s;
    mtimes = m;
  }

  function push(name: string, type: number, size: number, mtime: number): void {
    if (n === cap) grow();
    names.push(name);
    types[n] = type;
    sizes[n] = size;
    mtimes[n] = mtime;
    n++;
  }

  /** The directory and every ancestor up to the root, as `dev:ino`, for loop checks. */
  function ancestorIds(fsPath: string): string[] {
    const ids: string[] = [];
    let p = fsPath;
    for (;;) {
      const st = fs.statSync(p, { bigint: true });
      ids.push(st.dev + ':' + st.ino);
      if (p.length <= root.length) return ids;
      const cut = p.lastIndexOf('/');
      p = cut === 0 ? '/' : p.slice(0, cut);
      if (p.length < root.length) return ids;
    }
  }

  /**
   * A name that is not valid UTF-8, with each stray byte as a lone surrogate U+DC80–U+DCFF
   * (Python's "surrogateescape"). No valid name decodes to a lone surrogate, so two such
   * names never collide with each other or with a real name in the same listing.
   */
  function escapeName(buf: Buffer): string {
    let out = '';
    let i = 0;
    while (i < buf.length) {
      const b = buf[i]!;
      const len = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : 4;
      if (len === 1) {
        out += String.fromCharCode(b);
        i++;
        continue;
      }
      const seq = buf.subarray(i, i + len);
      const text = seq.length === len && b <= 0xf4 ? seq.toString('utf8') : '';
      if (text !== '' && Buffer.from(text, 'utf8').equals(seq)) {
        out += text;
        i += len;
      } else {
        out += String.fromCharCode(0xdc00 + b);
        i++;
      }
    }
    return out;
  }

  /**
   * Names as the kernel gave them. A name that is not valid UTF-8 cannot be named again
   * from a JS string (the decoder substitutes U+FFFD), so it is reported as unreadable
   * instead of silently vanishing from the listing.
   */
  function readNames(fsPath: string): { names: string[]; undecodable: Set<number> | null } {
    const list = fs.readdirSync(fsPath);
    let suspicious = false;
    for (const name of list) if (name.includes('\uFFFD')) suspicious = true;
    if (!suspicious) return { names: list, undecodable: null };
    const raw = fs.readdirSync(fsPath, { encoding: 'buffer' });
    const undecodable = new Set<number>();
    const decoded = raw.map((buf, i) => {
      const s = buf.toString('utf8');
      if (Buffer.from(s, 'utf8').equals(buf)) return s;
      undecodable.add(i);
      return escapeName(buf);
    });
    return { names: decoded, undecodable };
  }

  function listOne(
    fsPath: string,
    chunk?: { names: string[]; undecodable: Set<number> | null },
  ): void {
    const { names: list, undecodable } = chunk ?? readNames(fsPath);
    const base = fsPath.endsWith('/') ? fsPath : fsPath + '/';
    let ancestors: string[] | undefined;
    for (let i = 0; i < list.length; i++) {
      const name = list[i]!;
      if (undecodable?.has(i)) {
        push(name, UNREADABLE, 0, 0);
        continue;
      }
      const full = base + name;
      let at = statOf(full, false);
      if (at === undefined) continue; // removed between readdir and lstat: nothing to index
      if (at.st.isSymbolicLink()) {
        if (!follow) {
          push(name, SYMLINK, 0, at.ms);
          continue;
        }
        let target: ReturnType<typeof statOf>;
        try {
          target = statOf(full, true);
        } catch (error) {
          // A link to itself or round a cycle of links: the kernel gives up with ELOOP.
          const code = (error as NodeJS.ErrnoException).code;
          push(name, code === 'ELOOP' ? LOOP : UNREADABLE, 0, 0);
          continue;
        }
        if (target === undefined) {
          push(name, UNREADABLE, 0, 0); // dangling link
          continue;
        }
        if (target.st.isDirectory()) {
          ancestors ??= ancestorIds(fsPath);
          // Inode numbers go past 2^53 on some file systems: compared exact, as bigints.
          const id = typeof target.st.ino === 'bigint' ? target.st : fs.statSync(full, EXACT);
          if (id === undefined) {
            push(name, UNREADABLE, 0, 0); // gone since
            continue;
          }
          if (ancestors.includes(id.dev + ':' + id.ino)) {
            push(name, LOOP, 0, 0);
            continue;
          }
        }
        at = target;
      }
      const st = at.st;
      if (st.isFile()) push(name, FILE, Number(st.size), at.ms);
      else if (st.isDirectory()) push(name, DIR, 0, at.ms);
      else push(name, SPECIAL, 0, 0);
    }
  }

  // The same values as LARGE_DIR_BYTES, STREAM_CHUNK, STREAM_CODE: the thread cannot import.
  const LARGE = (workerData as WorkerConfig).largeDirBytes ?? 262144,
    CHUNK = 1000,
    STREAM = 'TRAWL_STREAM';
  /**
   * Names are read a window at a time and sorted, as `readdirSync` sorts them (libuv's
   * scandir does): the index then inserts a directory's paths in order. In the kernel's own
   * order (a hash, on ext4) a first scan of 300,000 files took 2.5–3× as long, every insert
   * landing on another page of the index; sorted windows of 100,000 names still cost a
   * 1,000,000-file first scan ~20 % (each window inserts between the last one's paths), while
   * windows of 500,000 (~20–40 MB of names) matched a whole listing's time at a third of its
   * memory (measured: 626 → 217 MB peak RSS). Beyond a window, only names are held.
   */
  const WINDOW = 500_000;
  const ASCII = /^[\x00-\x7f]*$/;
  const nativePath = (workerData as WorkerConfig).native;
  // On the calling thread, the addon it loaded already; in a thread, loaded by its path:
  // util/load-addon.ts's loadAddon, written out (this function runs from its source text).
  const load = (path: string) => {
    const addon = { exports: {} as NativeLister };
    process.dlopen(addon, path);
    return addon.exports;
  };
  const native = nativePath === undefined ? undefined : (inline?.native ?? load(nativePath));
  const streams = new Map<
    number,
    { dir: import('node:fs').Dir; window: string[]; at: number; escaped: Set<string>; eof: boolean }
  >();

  /** The next chunk of a streamed directory, from the window of names read ahead. */
  function readChunk(req: StreamRequest): boolean {
    let s = streams.get(req.stream);
    if (!s) {
      // Names as latin1: one char per byte, so no name is lost, at the cost of a string
      // (a `buffer` name costs a Buffer each: 2× the time for a million names).
      const dir = fs.opendirSync(req.path, { encoding: 'latin1', bufferSize: 256 });
      s = { dir, window: [], at: 0, escaped: new Set(), eof: false };
      streams.set(req.stream, s);
    }
    if (s.at === s.window.length && !s.eof) {
      s.window = [];
      s.at = 0;
      s.escaped.clear();
      try {
        while (s.window.length < WINDOW) {
          const entry = s.dir.readSync();
          if (entry === null) {
            s.eof = true;
            break;
          }
          const bytes = entry.name;
          // ASCII reads the same in latin1 and UTF-8: most names stop here.
          if (ASCII.test(bytes)) {
            s.window.push(bytes);
            continue;
          }
          const raw = Buffer.from(bytes, 'latin1');
          const name = raw.toString('utf8');
          if (name.includes('\uFFFD') && !Buffer.from(name, 'utf8').equals(raw)) {
            const escaped = escapeName(raw);
            s.escaped.add(escaped);
            s.window.push(escaped);
          } else {
            s.window.push(name);
          }
        }
      } catch (error) {
        endStream(req.stream);
        throw error;
      }
      s.window.sort();
    }
    const chunk = s.window.slice(s.at, s.at + CHUNK);
    s.at += chunk.length;
    let undecodable: Set<number> | null = null;
    if (s.escaped.size > 0) {
      chunk.forEach((name, i) => {
        if (s.escaped.has(name)) (undecodable ??= new Set()).add(i);
      });
    }
    const more = s.at < s.window.length || !s.eof;
    if (!more) endStream(req.stream);
    listOne(req.path, { names: chunk, undecodable });
    return more;
  }

  function endStream(id: number): void {
    const dir = streams.get(id)?.dir;
    streams.delete(id);
    try {
      dir?.closeSync();
    } catch {
      // closed already
    }
  }

  parentPort!.on('message', (msg: ListRequest | StreamRequest) => {
    if ('stream' in msg) {
      if (msg.close) return void endStream(msg.stream);
      const errors: Array<ListError | null> = [null];
      let more = false;
      try {
        more = readChunk(msg);
      } catch (error) {
        endStream(msg.stream);
        n = 0;
        names.length = 0;
        const e = error as NodeJS.ErrnoException;
        errors[0] = { code: e.code, message: e.message };
      }
      const reply: ListReply = {
        id: msg.id,
        names: names.join('/'),
        counts: Uint32Array.of(n),
        types: types.slice(0, n),
        sizes: sizes.slice(0, n),
        mtimes: mtimes.slice(0, n),
        errors,
        more,
      };
      n = 0;
      names = [];
      const transfer = [reply.counts, reply.types, reply.sizes, reply.mtimes].map(
        (a) => a.buffer as ArrayBuffer,
      );
      return void parentPort!.postMessage(reply, transfer);
    }
    const req = msg;
    if (native) {
      // The same listing as below (names, types, errors and all), made in C in one call.
      const reply: ListReply = { id: req.id, ...native.listDirs(req.dirs, root, follow, LARGE) };
      const transfer = [reply.counts, reply.types, reply.sizes, reply.mtimes].map(
        (a) => a.buffer as ArrayBuffer,
      );
      return void parentPort!.postMessage(reply, transfer);
    }
    const counts = new Uint32Array(req.dirs.length);
    const errors: Array<ListError | null> = [];
    for (let k = 0; k < req.dirs.length; k++) {
      const before = n;
      const namesBefore = names.length;
      try {
        // A large directory is not read whole here: the main thread streams it instead.
        if (fs.statSync(req.dirs[k]!).size > LARGE) {
          errors.push({ code: STREAM, message: 'a large directory, listed as a stream' });
        } else {
          listOne(req.dirs[k]!);
          errors.push(null);
        }
      } catch (error) {
        // Never a partial listing: what this directory had pushed is taken back.
        n = before;
        names.length = namesBefore;
        const e = error as NodeJS.ErrnoException;
        errors.push({ code: e.code, message: e.message });
      }
      counts[k] = n - before;
    }
    const reply: ListReply = {
      id: req.id,
      names: names.join('/'),
      counts,
      types: types.slice(0, n),
      sizes: sizes.slice(0, n),
      mtimes: mtimes.slice(0, n),
      errors,
    };
    n = 0;
    names = [];
    const transfer = [counts, reply.types, reply.sizes, reply.mtimes].map(
      (a) => a.buffer as ArrayBuffer,
    );
    parentPort!.postMessage(reply, transfer);
  });
}

export const WORKER_SOURCE = `(${workerMain.toString()})()`;

/**
 * The same listing code on the calling thread: `port` receives the requests and posts the
 * replies. A scan of an empty folder, or of a folder of files only, then never starts a
 * thread (a Node isolate: 30–50 ms and ~10 MB at start; bench:startup).
 */
export function listInline(port: InlinePort, config: WorkerConfig, native?: NativeLister): void {
  workerMain({ port, config, native });
}
