import type { IndexedEntry } from '../entries.js';

const TAB = 9;
const MINUS = 45;
const ZERO = 48;
const NINE = 57;
/** Digits that always fit a double exactly; longer numbers go through `Number`. */
const SAFE_DIGITS = 15;

const UNESCAPES: Record<string, string> = { '\\\\': '\\', '\\t': '\t', '\\n': '\n' };
const unescape = (text: string) => text.replace(/\\[\\tn]/g, (c) => UNESCAPES[c]!);

/**
 * The server's text is input like any other: a line that is not what CHILDREN packs fails
 * the read instead of looping or yielding made-up rows.
 */
function malformed(text: string, at: number): never {
  throw new Error(
    `unexpected packed children text at offset ${at}: ${JSON.stringify(text.slice(at, at + 40))}`,
  );
}

/**
 * A cursor over the packed text of the CHILDREN statement. It reads fields in place with
 * `charCodeAt`/`indexOf` instead of splitting: a split allocates a string per line and per
 * field (35,000 a 5,000-entry batch) and every number then goes through `Number`, which
 * was a sixth of an unchanged rescan's Node time and most of its garbage. Now the path,
 * etag and media kind are the only strings made, and numbers are read digit by digit.
 */
class Fields {
  pos = 0;
  /** Where the next backslash is at or after some earlier position (Infinity: none left). */
  #backslash = -1;

  constructor(readonly text: string) {}

  /** A decimal integer ending at the next tab (possibly negative). */
  integer(): number {
    const { text } = this;
    const start = this.pos;
    let i = start;
    let sign = 1;
    if (text.charCodeAt(i) === MINUS) {
      sign = -1;
      i++;
    }
    let value = 0;
    const digits = i;
    let c = text.charCodeAt(i);
    for (; c >= ZERO && c <= NINE; c = text.charCodeAt(++i)) value = value * 10 + c - ZERO;
    // Anything else (the end of the text included: NaN) would have looped or misread.
    if (c !== TAB || i === digits) malformed(text, start);
    this.pos = i + 1;
    return i - start > SAFE_DIGITS ? Number(text.slice(start, i)) : sign * value;
  }

  /** A text field ending at `end`, `\N` as null, escapes undone. */
  field(end: number): string | null {
    const { text, pos } = this;
    this.pos = end + 1;
    if (this.#backslash < pos) {
      const next = text.indexOf('\\', pos);
      this.#backslash = next < 0 ? Infinity : next;
    }
    if (this.#backslash >= end) return text.slice(pos, end);
    if (end - pos === 2 && text.charCodeAt(pos + 1) === 78 /* N */) return null;
    return unescape(text.slice(pos, end));
  }

  /** The end of a field that stops at the next tab. */
  tab(): number {
    const end = this.text.indexOf('\t', this.pos);
    if (end < 0) malformed(this.text, this.pos);
    return end;
  }

  /** The end of the last field of a line: the next newline, or the end of the text. */
  line(): number {
    const end = this.text.indexOf('\n', this.pos);
    return end < 0 ? this.text.length : end;
  }
}

/**
 * One directory's children from the packed text of the CHILDREN statement: lines of
 * `id, is_dir, size, mtime, media_kind, etag, path`, tab-separated, text fields escaped as
 * COPY escapes them (`\\`, `\t`, `\n`; NULL as `\N`). An escaped tab or newline is two
 * characters, so a tab or newline in the text always ends a field; the path is last.
 */
export function unpackChildren(text: string): IndexedEntry[] {
  const out: IndexedEntry[] = [];
  const f = new Fields(text);
  while (f.pos < text.length) {
    const id = f.integer();
    const isDir = text.charCodeAt(f.pos) === 49; /* 1 */
    f.pos += 2;
    const size = f.integer();
    const mtime = f.integer();
    const mediaKind = f.field(f.tab());
    const etag = f.field(f.tab());
    const path = f.field(f.line())!;
    out.push({ id, isDir, size, mtime, mediaKind, etag, path });
  }
  return out;
}
