import { isUtf8 } from 'node:buffer';
import type { CompiledQuery } from 'kysely';
import type pg from 'pg';
import type { EntryChunk, EntryVisitor } from '../queries/types.js';
import { copyRows, unescapeCopyText } from './copy-out.js';

/**
 * Rows of `COPY (SELECT path, is_dir, size, mtime, media_kind …) TO STDOUT` (text format)
 * read from their bytes for `find`'s table and JSON lines: no string is made for a path
 * that no format escapes, and none for a number (queries/find-read.ts's `copyEntries`).
 *
 * COPY's text format: fields split by a tab and rows ended by a newline, both never inside
 * a value (a value's own are written `\t`, `\n`); a backslash, `\b`, `\f`, `\r`, `\v` also
 * escaped; other control bytes as they are; a NULL as `\N`. Any byte may be in a name: a
 * path with a backslash or a byte a format escapes (below 0x20, 0x7f, `"`) is unescaped
 * and decoded as `pg` decodes text, and handed on as a string, as are all the paths of a
 * chunk that is not valid UTF-8 (a database whose encoding lets any byte through): so every
 * line is byte for byte what the rows read as strings gave (test/cli.find-bytes.test.ts).
 */
export function entryChunk(chunk: Buffer): EntryChunk {
  return { each: (visit) => eachEntry(chunk, visit) };
}

const TAB = 0x09;
const NEWLINE = 0x0a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const DELETE = 0x7f;

function eachEntry(chunk: Buffer, visit: EntryVisitor): void {
  const utf8 = isUtf8(chunk);
  let i = 0;
  while (i < chunk.length) {
    // The path, and whether any of its bytes needs a format's escape or COPY's.
    const pathStart = i;
    const pathEnd = chunk.indexOf(TAB, i);
    if (pathEnd < 0) throw new Error('a row of COPY output cut short');
    let plain = utf8;
    for (; i < pathEnd && plain; i++) {
      const b = chunk[i]!;
      if (b < 0x20 || b === QUOTE || b === BACKSLASH || b === DELETE) plain = false;
    }
    const isDirEnd = chunk.indexOf(TAB, pathEnd + 1);
    const isDir = int(chunk, pathEnd + 1, isDirEnd) !== 0;
    const sizeEnd = chunk.indexOf(TAB, isDirEnd + 1);
    const size = int(chunk, isDirEnd + 1, sizeEnd);
    const mtimeEnd = chunk.indexOf(TAB, sizeEnd + 1);
    const mtime = int(chunk, sizeEnd + 1, mtimeEnd);
    const rowEnd = chunk.indexOf(NEWLINE, mtimeEnd + 1);
    if (isDirEnd < 0 || sizeEnd < 0 || mtimeEnd < 0 || rowEnd < 0) {
      throw new Error('a row of COPY output cut short');
    }
    const kind = kindOf(chunk, mtimeEnd + 1, rowEnd);
    if (plain) visit.plainPath(chunk, pathStart, pathEnd, isDir, size, mtime, kind);
    else visit.path(text(chunk, pathStart, pathEnd), isDir, size, mtime, kind);
    i = rowEnd + 1;
  }
}

/** An integer column: its digits read here, or as Number reads them past 15 digits. */
function int(chunk: Buffer, start: number, end: number): number {
  if (end - start > 15 || end <= start) return Number(chunk.toString('latin1', start, end));
  let i = start;
  const negative = chunk[i] === 0x2d;
  if (negative) i++;
  let n = 0;
  for (; i < end; i++) {
    const digit = chunk[i]! - 0x30;
    if (digit < 0 || digit > 9) return Number(chunk.toString('latin1', start, end));
    n = n * 10 + digit;
  }
  return negative ? -n : n;
}

/** A text column unescaped and decoded as `pg` decodes it (invalid UTF-8 as U+FFFD). */
function text(chunk: Buffer, start: number, end: number): string {
  const raw = chunk.subarray(start, end);
  return (raw.includes(BACKSLASH) ? unescapeCopyText(raw) : raw).toString('utf8');
}

/** The media kinds as met, so that each row's is not a new string. */
const kinds = new Map<string, string>();

function kindOf(chunk: Buffer, start: number, end: number): string | null {
  if (end - start === 2 && chunk[start] === BACKSLASH && chunk[start + 1] === 0x4e) return null;
  const key = chunk.toString('latin1', start, end);
  let kind = kinds.get(key);
  if (kind === undefined) {
    kind = text(chunk, start, end);
    if (kinds.size < 64) kinds.set(key, kind);
  }
  return kind;
}

/**
 * The rows of `query` (columns path, is_dir, size, mtime, media_kind) through COPY, as
 * {@link copyRows} reads them (read-only, the sort in memory, a reader that pauses or stops).
 */
export async function* copyEntries(pool: pg.Pool, query: CompiledQuery): AsyncIterable<EntryChunk> {
  for await (const chunk of copyRows(pool, query)) yield entryChunk(chunk);
}
