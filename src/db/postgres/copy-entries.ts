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

// One pass over the bytes in JavaScript: an `indexOf` per field was a call into C++ each,
// five per row.
function eachEntry(chunk: Buffer, visit: EntryVisitor): void {
  const utf8 = isUtf8(chunk);
  const length = chunk.length;
  let i = 0;
  while (i < length) {
    // The path, and whether any of its bytes needs a format's escape or COPY's.
    const pathStart = i;
    let plain = utf8;
    for (let b = chunk[i]; b !== TAB; b = chunk[++i]) {
      if (b === undefined) throw new Error('a row of COPY output cut short');
      if (b < 0x20 || b === QUOTE || b === BACKSLASH || b === DELETE) plain = false;
    }
    const pathEnd = i;
    const isDirEnd = fieldEnd(chunk, pathEnd + 1, TAB);
    const isDir = int(chunk, pathEnd + 1, isDirEnd) !== 0;
    const sizeEnd = fieldEnd(chunk, isDirEnd + 1, TAB);
    const size = int(chunk, isDirEnd + 1, sizeEnd);
    const mtimeEnd = fieldEnd(chunk, sizeEnd + 1, TAB);
    const mtime = int(chunk, sizeEnd + 1, mtimeEnd);
    const rowEnd = fieldEnd(chunk, mtimeEnd + 1, NEWLINE);
    const kind = kindOf(chunk, mtimeEnd + 1, rowEnd);
    if (plain) visit.plainPath(chunk, pathStart, pathEnd, isDir, size, mtime, kind);
    else visit.path(text(chunk, pathStart, pathEnd), isDir, size, mtime, kind);
    i = rowEnd + 1;
  }
}

/** Where the field from `start` ends: the index of `stop`. */
function fieldEnd(chunk: Buffer, start: number, stop: number): number {
  let i = start;
  for (let b = chunk[i]; b !== stop; b = chunk[++i]) {
    if (b === undefined) throw new Error('a row of COPY output cut short');
  }
  return i;
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

/**
 * The media kinds as met (their bytes as COPY wrote them, and the text), so that a row's
 * kind is found by comparing a few bytes: no string made for it.
 */
const kindBytes: Buffer[] = [];
const kindTexts: string[] = [];

function kindOf(chunk: Buffer, start: number, end: number): string | null {
  const length = end - start;
  if (length === 2 && chunk[start] === BACKSLASH && chunk[start + 1] === 0x4e) return null;
  next: for (let k = 0; k < kindBytes.length; k++) {
    const known = kindBytes[k]!;
    if (known.length !== length) continue;
    for (let j = 0; j < length; j++) if (known[j] !== chunk[start + j]) continue next;
    return kindTexts[k]!;
  }
  const kind = text(chunk, start, end);
  if (kindBytes.length < 16) {
    kindBytes.push(Buffer.from(chunk.subarray(start, end)));
    kindTexts.push(kind);
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
