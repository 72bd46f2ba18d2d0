import type { EntryView } from '../db/queries/index.js';
import type { OutStream } from './context.js';
import { formatBytes, formatCount, isoMtime, printable } from './format.js';

/** How `ls` and `find` print entries: a table for people, JSON lines, or NUL-ended paths. */
export type EntryFormat = 'table' | 'json' | 'nul';

export interface EntryOutput {
  write(e: EntryView): void;
  /** A path alone, as `nul` writes it (`find -0` reads paths only); not in the totals. */
  writePath(path: string): void;
  /** Writes out what is buffered: call it at the end, and before anything else is written. */
  flush(): void;
  /** What was written: directories, files and the files' bytes. */
  readonly totals: { dirs: number; files: number; bytes: number };
}

export interface EntryOutputOptions {
  /** JSON objects also carry the media kind (`find`). @default false */
  kind?: boolean;
  /** The path as printed (`find --absolute`). @default the storage path */
  shown?: (path: string) => string;
}

/**
 * Output is gathered into writes of about this many characters (a write per line costs a
 * system call each: a third of the time of a million-line find), or of this age at most.
 */
const BUFFER_CHARS = 64 * 1024;
const BUFFER_MS = 100;

/**
 * One line per entry: `d` or `-`, the size (files), the ISO mtime and the path, control
 * characters escaped; JSON lines `{path, type, size, mtime}`; or the raw path and a NUL
 * (for `xargs -0`: any name survives).
 */
export function entryOutput(
  out: OutStream,
  format: EntryFormat,
  options: EntryOutputOptions = {},
): EntryOutput {
  const totals = { dirs: 0, files: 0, bytes: 0 };
  const shown = options.shown ?? ((p: string) => p);
  let buffer = '';
  let since = 0;
  const put = (text: string) => {
    if (buffer === '') since = Date.now();
    buffer += text;
    if (buffer.length >= BUFFER_CHARS || Date.now() - since >= BUFFER_MS) flush();
  };
  const flush = () => {
    if (buffer === '') return;
    out.write(buffer);
    buffer = '';
  };
  return {
    totals,
    flush,
    writePath: (path) => put(`${shown(path)}\0`),
    write(e) {
      if (e.isDir) totals.dirs++;
      else {
        totals.files++;
        totals.bytes += e.size;
      }
      const path = shown(e.path);
      if (format === 'nul') {
        put(`${path}\0`);
        return;
      }
      // An S3 prefix has no time: null and `-`, not 1970-01-01 (format.ts).
      const mtime = isoMtime(e.mtime);
      if (format === 'json') {
        // JSON.stringify of {path, type, size, mtime[, kind]}, written out: an object built
        // and walked per line cost a sixth of a 178,802-line `find --json`.
        const type = e.isDir ? '"dir"' : '"file"';
        const time = mtime === undefined ? 'null' : `"${mtime}"`;
        const kind = options.kind ? `,"kind":${JSON.stringify(e.mediaKind)}` : '';
        put(
          `{"path":${JSON.stringify(path)},"type":${type},"size":${JSON.stringify(e.size)},"mtime":${time}${kind}}\n`,
        );
        return;
      }
      const size = e.isDir ? '-' : formatBytes(e.size);
      put(
        `${e.isDir ? 'd' : '-'} ${size.padStart(9)}  ${(mtime ?? '-').padEnd(24)}  ${printable(path)}\n`,
      );
    },
  };
}

/** `total: 2 dirs, 3 files, 1.5 kB` */
export function totalsLine(t: { dirs: number; files: number; bytes: number }): string {
  const n = (count: number, one: string) =>
    `${formatCount(count)} ${count === 1 ? one : `${one}s`}`;
  return `total: ${n(t.dirs, 'dir')}, ${n(t.files, 'file')}, ${formatBytes(t.bytes)}`;
}
