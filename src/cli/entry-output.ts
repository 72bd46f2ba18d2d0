import type { EntryView, EntryVisitor } from '../db/queries/index.js';
import { ByteLines } from './byte-lines.js';
import type { OutStream } from './context.js';
import { formatBytes, formatCount, printable } from './format.js';

/** How `ls` and `find` print entries: a table for people, JSON lines, or NUL-ended paths. */
export type EntryFormat = 'table' | 'json' | 'nul';

export interface EntryOutput extends EntryVisitor {
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
  /** Put before every path as printed (`find --absolute`: the local folder). @default '' */
  prefix?: string;
}

/**
 * One line per entry: `d` or `-`, the size (files), the ISO mtime and the path, control
 * characters escaped; JSON lines `{path, type, size, mtime}`; or the raw path and a NUL
 * (for `xargs -0`: any name survives). Written as bytes (byte-lines.ts), each line byte for
 * byte what `JSON.stringify` of the object, or the table's template, gave as a string
 * (test/cli.entry-output.test.ts, test/cli.find-bytes.test.ts).
 */
export function entryOutput(
  out: OutStream,
  format: EntryFormat,
  options: EntryOutputOptions = {},
): EntryOutput {
  const totals = { dirs: 0, files: 0, bytes: 0 };
  const prefix = options.prefix ?? '';
  const prefixPlain = !NEEDS_ESCAPE.test(prefix);
  const lines = new ByteLines(out);
  const kinds = new Map<string | null, string>();
  /** The kind as JSON, by the few kinds there are. */
  const kindJson = (kind: string | null): string => {
    let text = kinds.get(kind);
    if (text === undefined) {
      text = JSON.stringify(kind);
      if (kinds.size < 64) kinds.set(kind, text);
    }
    return text;
  };
  /** All of a line but its path: the part before it (table) or after it (JSON). */
  const before = (isDir: boolean, size: number, mtime: number) => {
    if (isDir) lines.ascii(DIR_SIZE);
    else {
      lines.ascii('- ');
      lines.size(size, 9);
    }
    lines.ascii('  ');
    // An S3 prefix has no time: `-`, not 1970-01-01 (iso-time.ts).
    if (mtime === 0) lines.ascii(NO_TIME);
    else lines.repeat(SPACE, 24 - lines.isoTime(mtime));
    lines.ascii('  ');
  };
  const after = (isDir: boolean, size: number, mtime: number, kind: string | null) => {
    // JSON.stringify of {path, type, size, mtime[, kind]}, written out: an object built and
    // walked per line cost a sixth of a 178,802-line `find --json`.
    lines.ascii(isDir ? ',"type":"dir","size":' : ',"type":"file","size":');
    if (Number.isFinite(size)) lines.number(size);
    else lines.ascii('null');
    if (mtime === 0) lines.ascii(',"mtime":null');
    else {
      lines.ascii(',"mtime":"');
      lines.isoTime(mtime);
      lines.ascii('"');
    }
    if (options.kind) {
      lines.ascii(',"kind":');
      lines.utf8(kindJson(kind));
    }
    lines.ascii('}\n');
  };
  const count = (isDir: boolean, size: number) => {
    if (isDir) totals.dirs++;
    else {
      totals.files++;
      totals.bytes += size;
    }
  };
  const entry = (
    path: string,
    isDir: boolean,
    size: number,
    mtime: number,
    kind: string | null,
  ) => {
    count(isDir, size);
    const shown = prefix + path;
    if (format === 'nul') {
      lines.utf8(shown);
      lines.repeat(0, 1);
    } else if (format === 'json') {
      lines.ascii('{"path":"');
      // U+FFFD's bytes (0xEF…) may be a lone surrogate written as UTF-8: JSON escapes it.
      if (!lines.utf8Unless(shown, JSON_ESCAPES)) {
        if (NEEDS_JSON_ESCAPE.test(shown)) lines.utf8(JSON.stringify(shown).slice(1, -1));
        else lines.utf8(shown);
      }
      lines.ascii('"');
      after(isDir, size, mtime, kind);
    } else {
      before(isDir, size, mtime);
      if (!lines.utf8Unless(shown, CONTROLS)) lines.utf8(printable(shown));
      lines.ascii('\n');
    }
    lines.endLine();
  };
  return {
    totals,
    flush: () => lines.flush(),
    writePath(path) {
      lines.utf8(prefix + path);
      lines.repeat(0, 1);
      lines.endLine();
    },
    write: (e) => entry(e.path, e.isDir, e.size, e.mtime, e.mediaKind),
    plainPath(bytes, start, end, isDir, size, mtime, kind) {
      if (!prefixPlain) {
        entry(bytes.toString('utf8', start, end), isDir, size, mtime, kind);
        return;
      }
      count(isDir, size);
      if (format === 'table') before(isDir, size, mtime);
      else if (format === 'json') lines.ascii('{"path":"');
      if (prefix !== '') lines.utf8(prefix);
      lines.bytes(bytes, start, end);
      if (format === 'nul') lines.repeat(0, 1);
      else if (format === 'json') {
        lines.ascii('"');
        after(isDir, size, mtime, kind);
      } else lines.ascii('\n');
      lines.endLine();
    },
    path: entry,
  };
}

const SPACE = 0x20;
const NO_TIME = '-'.padEnd(24);
const DIR_SIZE = `d ${'-'.padStart(9)}`;
/** What `printable` escapes in a table, or JSON.stringify in a JSON line. */
const NEEDS_ESCAPE = /[\u0000-\u001f\u007f"\\\ud800-\udfff]/;
/** What JSON.stringify escapes: `"`, `\`, controls and lone surrogates (pairs too, to be simple). */
const NEEDS_JSON_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;
/** Bytes of UTF-8 text a table escapes (printable: controls and DEL). */
const CONTROLS = new Uint8Array(256).fill(1, 0, 0x20).fill(1, 0x7f, 0x80);
/** Bytes of UTF-8 text that JSON escapes, or that may be a lone surrogate's U+FFFD (0xEF). */
const JSON_ESCAPES = new Uint8Array(256)
  .fill(1, 0, 0x20)
  .fill(1, 0x22, 0x23)
  .fill(1, 0x5c, 0x5d)
  .fill(1, 0xef, 0xf0);

/** `total: 2 dirs, 3 files, 1.5 kB` */
export function totalsLine(t: { dirs: number; files: number; bytes: number }): string {
  const n = (count: number, one: string) =>
    `${formatCount(count)} ${count === 1 ? one : `${one}s`}`;
  return `total: ${n(t.dirs, 'dir')}, ${n(t.files, 'file')}, ${formatBytes(t.bytes)}`;
}
