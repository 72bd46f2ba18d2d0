/**
 * How a backend turns what a server sent into pages of checked entries. Everything a
 * server says is untrusted: a name, size or time that is not what the contract promises is
 * left out of the listing and remembered, and once the good entries are handed on, the
 * listing ends with a PROTOCOL error naming the bad ones — so the scan applies what could
 * be read but deletes nothing in that directory (a listing with holes is not complete).
 */
import { ProtocolError } from './errors.js';
import { joinPath } from './paths.js';
import { PAGE_ENTRIES, type Entry, type SkipReason } from './types.js';

/** A page is handed on at the latest when its entries are estimated to hold this many bytes. */
export const PAGE_BYTES = 512 * 1024;

/** The longest name accepted, in UTF-8 bytes: S3 keys stop at 1,024, file systems at 255. */
export const MAX_NAME_BYTES = 1024;

/** Latest and earliest modification times accepted: years 1 and 9999, as epoch ms. */
const MTIME_MAX = 253_402_300_799_999;
const MTIME_MIN = -62_135_596_800_000;

/** Bad entries named in the error; the rest are only counted. */
const SAMPLES = 5;

/** Bytes an entry is estimated to cost in memory while it waits in a page (V8 strings, object). */
export function entryBytes(e: Entry): number {
  return 2 * (e.path.length + e.name.length) + (e.etag ? 2 * e.etag.length + 40 : 0) + 120;
}

/** A size as a server wrote it (`"1234"`), or undefined unless it is a safe non-negative integer. */
export function parseByteCount(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (!/^\d{1,16}$/.test(t)) return undefined;
  const n = Number(t);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A size a library already turned into a number, checked the same way. */
export function checkByteCount(value: number | bigint | undefined): number | undefined {
  if (typeof value === 'bigint') {
    return value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
  }
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

/** Epoch milliseconds, truncated to a whole millisecond, or undefined when not a real time. */
export function checkMtime(ms: number | undefined): number | undefined {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return undefined;
  const t = Math.floor(ms);
  return t >= MTIME_MIN && t <= MTIME_MAX ? t : undefined;
}

/** Why a name cannot be one path segment, or undefined when it can. */
export function badName(name: string): string | undefined {
  if (name === '') return 'an empty name';
  if (name === '.' || name === '..') return `the name ${JSON.stringify(name)}`;
  if (name.includes('/')) return `a name with "/" (${JSON.stringify(name.slice(0, 80))})`;
  if (name.includes('\0')) return `a name with NUL (${JSON.stringify(name.slice(0, 80))})`;
  if (name.length > MAX_NAME_BYTES / 3 && Buffer.byteLength(name) > MAX_NAME_BYTES) {
    return `a name longer than ${MAX_NAME_BYTES} bytes (${JSON.stringify(name.slice(0, 40))}…)`;
  }
  return undefined;
}

/** What a backend read of one entry, before it is checked. */
export interface RawEntry {
  name: string;
  isDir: boolean;
  /** Bytes; ignored for directories. undefined: the server gave none or a bad one. */
  size: number | undefined;
  /** Epoch ms; undefined: the server gave none or a bad one. */
  mtime: number | undefined;
  etag?: string | undefined;
  skip?: SkipReason | undefined;
  /** The size and time as the server wrote them, for the message when they are bad. */
  sizeText?: string | undefined;
  mtimeText?: string | undefined;
}

export interface PagerOptions {
  /** Where the listing came from, for messages (`PROPFIND http://host`). */
  where: string;
  /**
   * A file the server sent without any size gets 0 instead of being an error (WebDAV may
   * leave the property out); a size that is there but bad is always an error. @default false
   */
  sizeOptional?: boolean;
  /** The same for a missing time. @default false */
  mtimeOptional?: boolean;
  /** @default {@link PAGE_ENTRIES} */
  pageEntries?: number;
}

/**
 * Collects one directory's entries into pages. `add` checks an entry and returns a full
 * page when one is ready; `reject` records an entry the backend could not read at all;
 * `end` returns the last page, and `finish` (after that page is yielded) throws when
 * anything was left out.
 */
export class ListingPager {
  readonly #dir: string;
  readonly #o: PagerOptions;
  readonly #pageEntries: number;
  #page: Entry[] = [];
  #bytes = 0;
  #rejected = 0;
  readonly #samples: string[] = [];

  constructor(dir: string, options: PagerOptions) {
    this.#dir = dir;
    this.#o = options;
    this.#pageEntries = options.pageEntries ?? PAGE_ENTRIES;
  }

  /** Entries left out so far. */
  get rejected(): number {
    return this.#rejected;
  }

  /** Checks one entry; a full page to hand on, when there is one. */
  add(raw: RawEntry): Entry[] | undefined {
    const why = badName(raw.name) ?? (raw.skip ? undefined : this.#badFields(raw));
    if (why !== undefined) {
      this.reject(why);
      return undefined;
    }
    const entry: Entry = {
      path: joinPath(this.#dir, raw.name),
      name: raw.name,
      isDir: raw.isDir,
      size: raw.isDir || raw.skip ? 0 : (raw.size ?? 0),
      mtime: raw.mtime ?? 0,
    };
    if (raw.etag) entry.etag = raw.etag;
    if (raw.skip) entry.skip = raw.skip;
    this.#page.push(entry);
    this.#bytes += entryBytes(entry);
    if (this.#page.length >= this.#pageEntries || this.#bytes >= PAGE_BYTES) return this.take();
    return undefined;
  }

  /** An entry the server sent that cannot be read at all; `what` names it for the user. */
  reject(what: string): void {
    this.#rejected++;
    if (this.#samples.length < SAMPLES) this.#samples.push(what);
  }

  /** The entries collected and not yet handed on (possibly none). */
  take(): Entry[] {
    const page = this.#page;
    this.#page = [];
    this.#bytes = 0;
    return page;
  }

  /** Throws a PROTOCOL error naming what was left out, if anything was; call after the last page. */
  finish(): void {
    if (this.#rejected === 0) return;
    const more = this.#rejected > this.#samples.length ? '; …' : '';
    throw new ProtocolError(
      `${this.#o.where} (${this.#dir}): ${this.#rejected} ${this.#rejected === 1 ? 'entry' : 'entries'} could not be read, so nothing in this directory was deleted: ${this.#samples.join('; ')}${more}`,
      { path: this.#dir, invalidEntries: this.#rejected },
    );
  }

  #badFields(raw: RawEntry): string | undefined {
    // On the hot path: messages are built only for a bad entry.
    if (
      !raw.isDir &&
      raw.size === undefined &&
      (raw.sizeText !== undefined || !this.#o.sizeOptional)
    ) {
      return `${shown(raw.name, 80)}: size ${shown(raw.sizeText, 40)} is not a byte count`;
    }
    if (raw.mtime === undefined && (raw.mtimeText !== undefined || !this.#o.mtimeOptional)) {
      return `${shown(raw.name, 80)}: time ${shown(raw.mtimeText, 40)} is not a valid time`;
    }
    return undefined;
  }
}

/** A server's text for a message: quoted, cut to `max` characters. */
function shown(text: string | undefined, max: number): string {
  return text === undefined ? 'none' : JSON.stringify(text.slice(0, max));
}

/**
 * Pages from a finished array: for backends whose library hands a directory over whole
 * (it is already in memory; paging keeps what follows flat).
 */
export function* pagesOf(entries: readonly Entry[], size = PAGE_ENTRIES): Generator<Entry[]> {
  for (let i = 0; i < entries.length; i += size) yield entries.slice(i, i + size);
}
