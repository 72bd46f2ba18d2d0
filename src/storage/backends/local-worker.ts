/**
 * The body of a local-listing worker thread, run with `new Worker(source, { eval: true })`
 * so that it works the same from compiled JS and from TypeScript under the test runner.
 * It must therefore be self-contained: no imports, `require` only.
 *
 * Why a thread at all: `fs.promises.stat` per entry costs a libuv round trip each (several
 * times slower than `find`), while sync `readdirSync` + `lstatSync` in a thread runs at
 * near-`find` speed and overlaps with the database writes on the main thread.
 */

/** Entry type codes sent back in a Uint8Array. */
export const T_FILE = 0;
export const T_DIR = 1;
export const T_SYMLINK = 2;
export const T_SPECIAL = 3;
export const T_LOOP = 4;
export const T_GONE = 5;
export const T_UNREADABLE = 6;

export interface ListRequest {
  id: number;
  /** Absolute filesystem path of the directory. */
  fsPath: string;
  /** Absolute filesystem paths of the storage root and every directory down to fsPath (for loop checks). */
  ancestors: string[];
  follow: boolean;
}

export interface ListReply {
  id: number;
  names?: string[];
  types?: Uint8Array;
  sizes?: Float64Array;
  mtimes?: Float64Array;
  error?: { code: string | undefined; message: string };
}

function workerMain(): void {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { parentPort } = require('node:worker_threads') as typeof import('node:worker_threads');
  const fs = require('node:fs') as typeof import('node:fs');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const FILE = 0,
    DIR = 1,
    SYMLINK = 2,
    SPECIAL = 3,
    LOOP = 4,
    GONE = 5,
    UNREADABLE = 6;

  parentPort!.on('message', (req: ListRequest) => {
    try {
      const names = fs.readdirSync(req.fsPath);
      const n = names.length;
      const types = new Uint8Array(n);
      const sizes = new Float64Array(n);
      const mtimes = new Float64Array(n);
      const base = req.fsPath.endsWith('/') ? req.fsPath : req.fsPath + '/';
      let ancestorIds: string[] | undefined;
      for (let i = 0; i < n; i++) {
        const full = base + names[i];
        let st = fs.lstatSync(full, { throwIfNoEntry: false });
        if (st === undefined) {
          // Vanished between readdir and lstat, or a name that is not valid UTF-8 and so
          // cannot be named again: either way nothing to index.
          types[i] = GONE;
          continue;
        }
        if (st.isSymbolicLink()) {
          if (!req.follow) {
            types[i] = SYMLINK;
            continue;
          }
          const target = fs.statSync(full, { throwIfNoEntry: false });
          if (target === undefined) {
            types[i] = UNREADABLE; // dangling link
            continue;
          }
          if (target.isDirectory()) {
            ancestorIds ??= req.ancestors.map((p) => {
              const a = fs.statSync(p);
              return a.dev + ':' + a.ino;
            });
            if (ancestorIds.includes(target.dev + ':' + target.ino)) {
              types[i] = LOOP;
              continue;
            }
          }
          st = target;
        }
        if (st.isDirectory()) types[i] = DIR;
        else if (st.isFile()) {
          types[i] = FILE;
          sizes[i] = st.size;
        } else {
          types[i] = SPECIAL;
          continue;
        }
        mtimes[i] = Math.floor(st.mtimeMs);
      }
      const reply: ListReply = { id: req.id, names, types, sizes, mtimes };
      parentPort!.postMessage(reply, [types.buffer, sizes.buffer, mtimes.buffer]);
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      const reply: ListReply = { id: req.id, error: { code: e.code, message: e.message } };
      parentPort!.postMessage(reply);
    }
  });
}

export const WORKER_SOURCE = `(${workerMain.toString()})()`;
