/**
 * Reading what an FTP server sends for a listing, line by line as it arrives: the split into
 * lines, the LIST and MLSD line formats, and the final reply that says whether the listing
 * is whole. Everything here is untrusted input: a line that cannot be read is reported (the
 * backend counts it through its ListingPager and deletes nothing in that directory), never
 * skipped in silence and never allowed to fail the lines around it.
 */
import { checkMtime, parseByteCount, type RawEntry } from '../pager.js';

/** The longest listing line accepted, in bytes: a longer one is a bad entry and is dropped. */
export const MAX_LINE_BYTES = 64 * 1024;

/** One line may be this long before the listing is taken for garbage and ended. */
export const MAX_DROPPED_LINE_BYTES = 16 * 1024 * 1024;

/** Stands for a line longer than {@link MAX_LINE_BYTES}, whose bytes were dropped. */
export const TOO_LONG = Symbol('line too long');
export type ListingLine = string | typeof TOO_LONG;

const CR = 0x0d;
const LF = 0x0a;

/**
 * Splits a listing's bytes into lines as chunks arrive, holding at most one unfinished line
 * (bounded by `maxLineBytes`) between chunks.
 *
 * Lines end with CRLF on the wire; a bare LF inside a line belongs to a filename (vsftpd sends
 * such names raw), so a listing that uses CRLF is split on CRLF alone. A server that ends its
 * lines with a bare LF is recognised by having sent a whole line's worth (or all of its data)
 * without any CRLF.
 */
export class LineSplitter {
  readonly #max: number;
  readonly #encoding: BufferEncoding;
  #pending: Buffer | undefined;
  #crlf: boolean | undefined;
  /** Inside a line already reported as too long: its bytes are dropped up to its end. */
  #dropping = false;
  #dropped = 0;

  constructor(encoding: BufferEncoding = 'utf8', maxLineBytes = MAX_LINE_BYTES) {
    this.#encoding = encoding;
    this.#max = maxLineBytes;
  }

  /** Bytes dropped so far of the too-long line under way (0 when there is none). */
  get droppedBytes(): number {
    return this.#dropping ? this.#dropped : 0;
  }

  /** The whole lines completed by `chunk`. */
  push(chunk: Buffer): ListingLine[] {
    const buf = this.#pending ? Buffer.concat([this.#pending, chunk]) : chunk;
    this.#pending = undefined;
    return this.#split(buf, false);
  }

  /** The last line, when the data ended without a line end. */
  end(): ListingLine[] {
    const buf = this.#pending;
    this.#pending = undefined;
    return buf ? this.#split(buf, true) : [];
  }

  #split(buf: Buffer, final: boolean): ListingLine[] {
    const out: ListingLine[] = [];
    if (this.#crlf === undefined) {
      if (buf.indexOf('\r\n') >= 0) this.#crlf = true;
      else if (buf.indexOf(LF) >= 0 && (final || buf.length >= this.#max)) this.#crlf = false;
    }
    let start = 0;
    if (this.#crlf !== undefined) {
      const sep = this.#crlf ? '\r\n' : '\n';
      const sepLength = sep.length;
      for (;;) {
        const end = buf.indexOf(sep, start);
        if (end < 0) break;
        if (this.#dropping) this.#dropping = false;
        else if (end - start > this.#max) out.push(TOO_LONG);
        else out.push(buf.toString(this.#encoding, start, end));
        start = end + sepLength;
      }
    }
    const rest = buf.length - start;
    if (final) {
      if (rest > 0 && !this.#dropping) {
        out.push(rest > this.#max ? TOO_LONG : buf.toString(this.#encoding, start));
      }
      this.#dropping = false;
    } else if (rest > this.#max || (this.#dropping && rest > 0)) {
      if (!this.#dropping) {
        out.push(TOO_LONG);
        this.#dropped = 0;
      }
      this.#dropped += rest;
      this.#dropping = true;
      // Keep a CR that may start the CRLF ending the dropped line in the next chunk.
      if (buf[buf.length - 1] === CR) this.#pending = Buffer.from([CR]);
    } else if (rest > 0) {
      // A copy: the chunk's memory is not held on to by a few bytes of it.
      this.#pending = Buffer.from(buf.subarray(start));
    }
    return out;
  }
}

/** How a listing is formatted: MLSD (RFC 3659) when the server offers it, LIST otherwise. */
export type ListFormat = 'MLSD' | 'LIST';

/**
 * What one listing line says: an entry (its size and time still unchecked: the pager checks
 * them), `undefined` for a line that names no entry (blank, `total`, `.`, `..`), or a string
 * saying why the line cannot be read.
 */
export type LineResult = RawEntry | string | undefined;

export function parseLine(format: ListFormat, line: ListingLine, now: number): LineResult {
  if (line === TOO_LONG) return `a ${format} line longer than ${MAX_LINE_BYTES} bytes`;
  return format === 'MLSD' ? parseMlsdLine(line) : parseUnixLine(line, now);
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

// type, permissions, links, owner, group, size (or "major, minor"), month, day, time or year, name.
const UNIX_LINE =
  /^([-dlbcpsD])[-rwxsStTlL]{9}[+@.]?\s+\d+\s+\S+\s+\S+\s+(\d+|\d+,\s*\d+)\s+([A-Za-z]{3})\s+(\d{1,2})\s+(\d{1,2}:\d{2}|\d{4})\s([\s\S]*)$/;

/**
 * One `ls -l` style line (LIST), read as UTC. Precision: the minute for entries of the last
 * six months (`Nov 27 01:29`), the day for older ones (`Mar 04  2020`); a recent entry's year
 * is the one that puts it in the past relative to `now`.
 */
export function parseUnixLine(line: string, now: number): LineResult {
  if (line === '' || (line.startsWith('total ') && /^total \d+$/.test(line))) return undefined;
  const m = UNIX_LINE.exec(line);
  if (!m) return `unreadable LIST line ${quote(line)}`;
  const [, type, size, mon, day, timeOrYear, rawName] = m as unknown as string[];
  let name = rawName!;
  if (type === 'l') {
    const arrow = name.indexOf(' -> ');
    if (arrow >= 0) name = name.slice(0, arrow);
  }
  if (name === '.' || name === '..') return undefined;
  const mtimeText = `${mon} ${day} ${timeOrYear}`;
  const entry: RawEntry = {
    name,
    isDir: type === 'd',
    size: type === '-' ? parseByteCount(size) : 0,
    mtime: listTime(mon!, Number(day), timeOrYear!, now),
    sizeText: size,
    mtimeText,
  };
  if (type === 'l') entry.skip = 'symlink';
  else if (type !== '-' && type !== 'd') entry.skip = 'special';
  return entry;
}

function listTime(mon: string, day: number, timeOrYear: string, now: number): number | undefined {
  const month = MONTHS.indexOf(mon.toLowerCase());
  if (month < 0 || day < 1 || day > 31) return undefined;
  if (!timeOrYear.includes(':')) {
    return utc(Number(timeOrYear), month, day, 0, 0, 0, 0);
  }
  const colon = timeOrYear.indexOf(':');
  const hh = Number(timeOrYear.slice(0, colon));
  const mm = Number(timeOrYear.slice(colon + 1));
  if (hh > 23 || mm > 59) return undefined;
  const year = yearOf(now);
  const t = utc(year, month, day, hh, mm, 0, 0);
  // `ls` shows the time only for recent entries; one "in the future" is from last year.
  return t !== undefined && t > now + 2 * 86_400_000 ? utc(year - 1, month, day, hh, mm, 0, 0) : t;
}

/** Epoch ms of a UTC time, undefined when out of the contract's range. */
function utc(
  year: number,
  month: number,
  day: number,
  hh: number,
  mm: number,
  ss: number,
  ms: number,
): number | undefined {
  if (year >= 100) return checkMtime(Date.UTC(year, month, day, hh, mm, ss, ms));
  // Date.UTC reads years 0–99 as 1900–1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month, day);
  date.setUTCHours(hh, mm, ss, ms);
  return checkMtime(date.getTime());
}

let yearAt = Number.NaN;
let yearValue = 0;
/** The UTC year of `now`, remembered: a listing asks once per line with the same `now`. */
function yearOf(now: number): number {
  if (now !== yearAt) {
    yearAt = now;
    yearValue = new Date(now).getUTCFullYear();
  }
  return yearValue;
}

/** One RFC 3659 MLSD line: `fact=value;…; name`, times `YYYYMMDDHHMMSS[.sss]` in UTC. */
export function parseMlsdLine(line: string): LineResult {
  if (line === '') return undefined;
  const space = line.indexOf(' ');
  if (space < 0) return `unreadable MLSD line ${quote(line)}`;
  const name = line.slice(space + 1);
  const facts = new Map<string, string>();
  for (const fact of line.slice(0, space).split(';')) {
    const eq = fact.indexOf('=');
    if (eq > 0) facts.set(fact.slice(0, eq).toLowerCase(), fact.slice(eq + 1));
  }
  const type = (facts.get('type') ?? '').toLowerCase();
  if (type === 'cdir' || type === 'pdir' || name === '.' || name === '..') return undefined;
  const modify = facts.get('modify');
  const sizeText = facts.get('size');
  const isDir = type === 'dir';
  const entry: RawEntry = {
    name,
    isDir,
    // A file without a size fact is 0 (the pager is told sizes are optional); a bad one is bad.
    size: type === 'file' ? parseByteCount(sizeText) : undefined,
    mtime: modify === undefined ? undefined : mlsdTime(modify),
    sizeText,
    mtimeText: modify,
  };
  if (type.startsWith('os.unix=slink') || type === 'os.unix=symlink') entry.skip = 'symlink';
  else if (type !== 'file' && !isDir) entry.skip = 'special';
  return entry;
}

function mlsdTime(value: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d{1,3}))?$/.exec(value);
  if (!m) return undefined;
  const [year, month, day, hh, mm, ss] = m.slice(1, 7).map(Number) as number[];
  if (month! < 1 || month! > 12 || day! < 1 || day! > 31 || hh! > 23 || mm! > 59 || ss! > 60) {
    return undefined;
  }
  const ms = m[7] ? Number(m[7].padEnd(3, '0')) : 0;
  return utc(year!, month! - 1, day!, hh!, mm!, ss!, ms);
}

function quote(line: string): string {
  return JSON.stringify(line.length > 120 ? `${line.slice(0, 120)}…` : line);
}

/**
 * Final replies that say the server cut the listing short. Each names its source; they are
 * specific on purpose: a quota line ("226-Maximum disk quota limited to 0 kBytes", Serv-U)
 * or a count ("226 42 matches total", Pure-FTPd) must not read as a cut.
 *
 * - Pure-FTPd ends a listing at its cap (`LimitRecursion`, 10,000 by default), LIST and MLSD
 *   alike, with `226 Output truncated to 10000 matches`; its translations say the same
 *   ("Salida truncada", "Sortie tronquee", "Anzeige auf … beschränkt", "Resultado truncado",
 *   "Output troncato", "Utdata trunkeras", "Výstup zkrácen", "Resultat er avkortet"…).
 * - Generic wordings other servers and proxies use: "listing truncated", "too many files",
 *   "partial listing", "limited to N entries", "limit reached/exceeded", "incomplete".
 *
 * ProFTPD's `ListOptions maxfiles` cuts LIST without saying so ("226 Transfer complete"):
 * nothing in the reply can tell, which is one more reason to prefer MLSD (not capped there).
 */
const CUT_SHORT: readonly RegExp[] = [
  /\btrunc(?:at|ad)/i,
  /\btrunkeras\b|\btronqu|\btroncat|\btrunchiat|\bbeschr\S*nkt\b|\bzkr\S*cen\b|\bskraten|\bavkortet\b|\bafgekort\b|\bcsonk/i,
  /\btoo many (?:files|entries|items|matches|results|names|lines|objects)\b/i,
  /\bpartial (?:listing|list|output|results?|directory|transfer)\b/i,
  /\blimited to [\d,.]+ (?:files|entries|items|matches|results|names|lines|objects)\b/i,
  /\b(?:limit|maximum)\b[^\n]{0,40}\b(?:reached|exceeded)\b/i,
  /\b(?:listing|list|output|directory|results?)\b[^\n]{0,20}\bincomplete\b/i,
  /\bcut (?:short|off)\b/i,
];

/**
 * Final replies that say the listing failed although their code says success: vsftpd's
 * "226 Transfer done (but failed to open directory)", Pure-FTPd's "226 Sorry, we were unable
 * to read [.]" and "(This probably means "Permission denied")", and ProFTPD's and Pure-FTPd's
 * "226 Read error / Out of memory / Unknown error during globbing of …". An abort reported as
 * done ("226 Abort successful", after an ABOR nobody sent) is a failed listing too.
 */
const REFUSED =
  /fail|unable to read|could not (?:open|read)|can't (?:open|read)|permission denied/i;
const FAILED = /\berror\b|\bout of memory\b|\babort/i;

/** What a listing's final reply says about it, when it is not plainly a complete listing. */
export type ReplyProblem =
  | { kind: 'refused'; text: string }
  | { kind: 'failed'; text: string }
  | { kind: 'cut'; text: string }
  | { kind: 'unexpected'; text: string };

/**
 * Reads a listing's final (2xx) reply. Only 226 and 250 end a transfer; any other code, or a
 * text that says the listing failed or was cut short, means the listing is not whole.
 */
export function replyProblem(code: number, message: string): ReplyProblem | undefined {
  const text = message.replace(/\s+/g, ' ').trim().slice(0, 300);
  if (code !== 226 && code !== 250) return { kind: 'unexpected', text };
  if (REFUSED.test(message)) return { kind: 'refused', text };
  if (CUT_SHORT.some((re) => re.test(message))) return { kind: 'cut', text };
  if (FAILED.test(message)) return { kind: 'failed', text };
  return undefined;
}

/**
 * A whole listing text's entries and unreadable lines: for tests and benches, which hand
 * over a text at once (the backend feeds its data connection's chunks instead).
 */
export function parseListingText(
  text: string | Buffer,
  format: ListFormat,
  now: number,
): { entries: RawEntry[]; bad: string[] } {
  const splitter = new LineSplitter();
  const entries: RawEntry[] = [];
  const bad: string[] = [];
  const lines = splitter.push(typeof text === 'string' ? Buffer.from(text) : text);
  lines.push(...splitter.end());
  for (const line of lines) {
    const r = parseLine(format, line, now);
    if (typeof r === 'string') bad.push(r);
    else if (r) entries.push(r);
  }
  return { entries, bad };
}
