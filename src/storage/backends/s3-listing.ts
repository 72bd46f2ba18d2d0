/**
 * How ListObjectsV2 answers become directory listings, one answer at a time, never holding a
 * directory whole: the delimited listing of one directory ({@link DirectoryListing}) and the
 * flat listing of a whole subtree ({@link TreeBuilder}). Network and retries are the
 * client's (s3.ts); this file only turns keys into checked entries and pieces.
 *
 * S3 has no directories: `a/b` is one key, and the directory `a` exists because a key starts
 * with `a/`. Keys arrive sorted by UTF-8 bytes. An object `a` may sit next to keys under
 * `a/`; paths must be unique, so the directory wins (it holds more) and the object is left
 * out. Between `a` and `a/` may sort other keys (`a!x`, `a.txt`: bytes below `/`), even across
 * pages, so an object is held back until a later key shows it cannot be shadowed any more:
 * what is held is a chain of names each a prefix of the next (`a`, `a!`, `a!x`…), at most as
 * long as a key (1,024 bytes). If a server does not sort, an object may be released and its
 * directory come later: the directory then lists one name twice, which the scan treats as an
 * unusable listing (nothing deleted) — never as a silent loss.
 *
 * Keys the path model cannot hold (`a//b`, a `.` or `..` segment, NUL) are real objects, so
 * they are rejected entries, not skipped: the directory they would be in lists partial and
 * deletes nothing, and the scan says which key it could not index. A silent skip would pass
 * such a listing as complete while the index misses objects the bucket holds.
 */
import { badName, checkMtime, ListingPager, parseByteCount, type RawEntry } from '../pager.js';
import { joinPath, parentOf } from '../paths.js';
import { PAGE_ENTRIES, type Entry, type TreeListing } from '../types.js';
import type { ListedObject, ListPage } from './s3-xml.js';

const SLASH = 0x2f;

/** One key or common prefix of an answer, relative to the listed prefix. */
export interface KeyItem {
  /** The key (or common prefix, with its trailing `/`) less the listed prefix. */
  rest: string;
  /** Set for an object; a common prefix has none. */
  object?: ListedObject;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$/;

/** The last time read and its value: the objects of one listing often share a time. */
let lastTime: { text: string; ms: number | undefined } = { text: '', ms: undefined };

/** `2024-01-02T03:04:05.678Z` (RFC 3339, as S3 writes LastModified) as epoch ms, or undefined. */
export function parseS3Time(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (text === lastTime.text) return lastTime.ms;
  const t = text.trim();
  const ms = RFC3339.test(t) ? checkMtime(Date.parse(t.replace(' ', 'T'))) : undefined;
  lastTime = { text, ms };
  return ms;
}

/** Compares two strings by code point, which is the order of their UTF-8 bytes (S3's order). */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // UTF-16 puts surrogates (U+10000 and up) below U+E000–U+FFFF; UTF-8 puts them above.
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

function decodeKey(text: string, encoding: string | undefined): string | undefined {
  if (encoding?.trim().toLowerCase() !== 'url') return text;
  try {
    // S3's `url` encoding writes a space as `+`.
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/**
 * The keys and common prefixes of one answer under `prefix`, merged into key order (S3 sends
 * them as two lists). What cannot be read, or lies outside the prefix, is passed to `reject`.
 */
export function keyItems(
  page: ListPage,
  prefix: string,
  reject: (what: string) => void,
): KeyItem[] {
  const objects: KeyItem[] = [];
  for (const o of page.objects) {
    const key = o.key === undefined ? undefined : decodeKey(o.key, page.encodingType);
    if (key === undefined) reject('an object whose Key could not be read');
    else if (!key.startsWith(prefix)) reject(`a key outside the listed prefix (${show(key)})`);
    else objects.push({ rest: key.slice(prefix.length), object: o });
  }
  const prefixes: KeyItem[] = [];
  for (const p of page.prefixes) {
    const text = p === undefined ? undefined : decodeKey(p, page.encodingType);
    if (text === undefined) reject('a common prefix that could not be read');
    else if (!text.startsWith(prefix) || !text.endsWith('/') || text.length === prefix.length) {
      reject(`a common prefix outside the listed prefix (${show(text)})`);
    } else prefixes.push({ rest: text.slice(prefix.length) });
  }
  if (prefixes.length === 0) return objects;
  if (objects.length === 0) return prefixes;
  const out: KeyItem[] = [];
  let i = 0;
  let j = 0;
  while (i < objects.length && j < prefixes.length) {
    out.push(
      compareKeys(objects[i]!.rest, prefixes[j]!.rest) <= 0 ? objects[i++]! : prefixes[j++]!,
    );
  }
  while (i < objects.length) out.push(objects[i++]!);
  while (j < prefixes.length) out.push(prefixes[j++]!);
  return out;
}

export function show(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}

/** An object of a directory as a raw entry for the pager. */
function objectEntry(name: string, o: ListedObject): RawEntry {
  return {
    name,
    isDir: false,
    size: parseByteCount(o.size),
    sizeText: o.size,
    mtime: parseS3Time(o.lastModified),
    mtimeText: o.lastModified,
    etag: o.etag,
  };
}

function dirEntry(name: string): RawEntry {
  // A directory is synthesised from a prefix: it has no size and no time of its own.
  return { name, isDir: true, size: 0, mtime: 0 };
}

interface Held {
  name: string;
  object: ListedObject;
}

/**
 * One directory's children in key order, objects held back while a directory of the same
 * name may still come (see the file comment), into a {@link ListingPager}.
 */
class Children {
  readonly pager: ListingPager;
  /** Names each a prefix of the next; the last is the latest object seen. */
  readonly #held: Held[] = [];
  /** Entries in the pager not yet taken. */
  pending = 0;

  constructor(dir: string, where: string) {
    this.pager = new ListingPager(dir, { where });
  }

  /**
   * A child: an object (`name`) or a directory (`name/`, the rest of a common prefix or the
   * first key under it). Full pages go to `out`.
   */
  add(rest: string, object: ListedObject | undefined, out: Entry[][]): void {
    const held = this.#held;
    while (held.length > 0) {
      const h = held[held.length - 1]!;
      if (rest.length > h.name.length && rest.startsWith(h.name)) {
        const next = rest.charCodeAt(h.name.length);
        if (next === SLASH) {
          held.pop(); // `h/`: the directory shadows the object
          break; // what is held below `h` is followed by a byte below `/` in `h`: still held
        }
        if (next < SLASH) break; // `h/` may still come
      }
      // Past `h/` in key order: `h` is a plain object.
      held.pop();
      this.#put(objectEntry(h.name, h.object), out);
    }
    if (object === undefined) {
      this.#put(dirEntry(rest.slice(0, -1)), out);
    } else if (badName(rest) !== undefined) {
      this.#put(objectEntry(rest, object), out); // the pager rejects and counts it
    } else {
      held.push({ name: rest, object });
    }
  }

  /** No more children: whatever is held is a plain object. */
  release(out: Entry[][]): void {
    const held = this.#held.splice(0);
    for (const h of held) this.#put(objectEntry(h.name, h.object), out);
  }

  /** Forgets what is held: the listing broke, and whether a held object is shadowed is unknown. */
  dropHeld(): void {
    this.#held.length = 0;
  }

  take(): Entry[] {
    this.pending = 0;
    return this.pager.take();
  }

  #put(raw: RawEntry, out: Entry[][]): void {
    const rejected = this.pager.rejected;
    const page = this.pager.add(raw);
    if (page) {
      this.pending = 0;
      out.push(page);
    } else if (this.pager.rejected === rejected) {
      this.pending++;
    }
  }
}

/**
 * One directory's delimited listing (`Delimiter: '/'`), answer by answer: full pages as they
 * fill, the last one when the listing ends.
 */
export class DirectoryListing {
  readonly #dir: string;
  readonly #prefix: string;
  readonly #children: Children;
  /** The directory's own marker object (`dir/`) was listed. */
  #marker = false;
  /** Entries handed on or pending, and entries rejected: the directory is not empty. */
  #seen = 0;

  constructor(dir: string, prefix: string, where: string) {
    this.#dir = dir;
    this.#prefix = prefix;
    this.#children = new Children(dir, where);
  }

  get pager(): ListingPager {
    return this.#children.pager;
  }

  /** Whether anything at all was listed: a prefix with nothing under it does not exist. */
  get empty(): boolean {
    return this.#seen === 0 && !this.#marker && this.#children.pager.rejected === 0;
  }

  /** One answer; full pages to hand on go to `out`. */
  addAnswer(page: ListPage, out: Entry[][]): void {
    const reject = (what: string) => this.#children.pager.reject(what);
    for (const item of keyItems(page, this.#prefix, reject)) {
      if (item.object !== undefined && item.rest === '') {
        this.#marker = true; // `dir/` itself
        continue;
      }
      this.#seen++;
      this.#children.add(item.rest, item.object, out);
    }
  }

  /** The listing ended complete: the last page (possibly empty). */
  end(out: Entry[][]): Entry[] {
    this.#children.release(out);
    return this.#children.take();
  }

  /** The listing broke: what can still be handed on (held objects are dropped). */
  abandon(): Entry[] {
    this.#children.dropHeld();
    return this.#children.take();
  }

  get dir(): string {
    return this.#dir;
  }
}

interface TreeDir {
  path: string;
  children: Children;
  /** Its own entry has been handed on (in its parent's piece, or the root listing). */
  announced: boolean;
}

/**
 * Entries waiting in a subtree's directories, at most, before the largest are handed on as
 * pieces: bounds a subtree's memory by pending entries, not by its size. A piece handed on
 * early makes that directory a paged listing for the scan (one sweep of its own), so this is
 * well above one page.
 */
export const TREE_PENDING_ENTRIES = 8 * PAGE_ENTRIES;

/**
 * One subtree from a flat listing (no delimiter: every key under the subtree's prefix, a
 * thousand to a request instead of one request per directory), yielded as {@link TreeListing}
 * pieces, parents first: a directory's entry is always handed on before any piece of the
 * directory itself. A directory's pieces all end (`more` unset) only when the subtree's
 * listing has ended whole — keys arrive sorted, but completeness is never inferred from the
 * order, which a server may not keep.
 *
 * Memory: the entries pending (bounded by {@link TREE_PENDING_ENTRIES} and one page per
 * directory), what is held back per directory (a chain of names), and one record per
 * distinct directory of the subtree — that last one grows with the number of directories,
 * not with the number of keys, so a flat prefix of millions of objects costs a page.
 */
export class TreeBuilder {
  readonly #where: string;
  readonly #prefix: string;
  readonly #root: TreeDir;
  /** Insertion order is parents first: a directory is created after its parent. */
  readonly #dirs = new Map<string, TreeDir>();
  /** The directories of the latest key, from the subtree's root down. */
  #chain: TreeDir[];
  #pending = 0;
  readonly #pendingLimit: number;
  readonly #out: TreeListing[] = [];
  readonly #pages: Entry[][] = [];

  /** `dir` is the subtree's root, whose own entry the caller has already handed on. */
  constructor(dir: string, prefix: string, where: string, pendingLimit = TREE_PENDING_ENTRIES) {
    this.#where = where;
    this.#prefix = prefix;
    this.#root = { path: dir, children: new Children(dir, where), announced: true };
    this.#dirs.set(dir, this.#root);
    this.#chain = [this.#root];
    this.#pendingLimit = pendingLimit;
  }

  /** One answer of the flat listing; returns the pieces ready to hand on. */
  addAnswer(page: ListPage): TreeListing[] {
    const reject = (what: string) => this.#root.children.pager.reject(what);
    for (const item of keyItems(page, this.#prefix, reject)) {
      // A flat listing has no common prefixes; a server that sends one anyway names a
      // directory, which is what a key under it would do.
      this.#addKey(item.rest, item.object);
    }
    if (this.#pending > this.#pendingLimit) this.#shed();
    return this.#out.splice(0);
  }

  /**
   * The subtree's listing ended whole: every directory's last piece, parents first. A
   * directory with entries that could not be read ends with `more` set (it stays open, so
   * the scan deletes nothing in it) and its error is returned for the caller to throw once
   * everything else is handed on.
   */
  end(): { pieces: TreeListing[]; errors: Error[] } {
    for (const d of this.#dirs.values()) {
      d.children.release(this.#pages);
      this.#flushPages(d);
    }
    const errors: Error[] = [];
    // Parents first: a directory's entry is in its parent's last piece if not handed on before.
    for (const d of this.#dirs.values()) {
      const entries = d.children.take();
      try {
        d.children.pager.finish();
        this.#out.push({ dir: d.path, entries });
      } catch (error) {
        if (entries.length > 0) this.#out.push({ dir: d.path, entries, more: true });
        errors.push(error as Error);
      }
    }
    this.#pending = 0;
    return { pieces: this.#out.splice(0), errors };
  }

  /** The listing broke: the pending entries as pieces (more to come, so nothing is deleted). */
  abandon(): TreeListing[] {
    for (const d of this.#dirs.values()) {
      d.children.dropHeld();
      if (d.children.pending > 0) this.#flush(d);
    }
    this.#pending = 0;
    return this.#out.splice(0);
  }

  /** Entries that could not be read, over all directories of the subtree. */
  get rejected(): number {
    let n = 0;
    for (const d of this.#dirs.values()) n += d.children.pager.rejected;
    return n;
  }

  #addKey(rest: string, object: ListedObject | undefined): void {
    if (rest === '') return; // the subtree's own marker
    let dir = this.#root;
    let depth = 0;
    let start = 0;
    const chain = this.#chain;
    for (;;) {
      const slash = rest.indexOf('/', start);
      if (slash < 0) break;
      const segment = rest.slice(start, slash);
      const why = badName(segment);
      if (why !== undefined) {
        this.#passed(depth + 1);
        dir.children.pager.reject(`key ${show(this.#prefix + rest)}: ${why}`);
        return;
      }
      const path = joinPath(dir.path, segment);
      let child = chain[depth + 1];
      if (child?.path !== path) {
        this.#passed(depth + 1);
        child = this.#dirs.get(path);
        if (!child) {
          child = { path, children: new Children(path, this.#where), announced: false };
          this.#dirs.set(path, child);
          this.#put(dir, `${segment}/`, undefined);
        }
        chain.push(child);
      }
      dir = child;
      depth++;
      start = slash + 1;
    }
    this.#passed(depth + 1);
    if (start === rest.length) return; // a directory marker (`a/b/`): the directory is made
    this.#put(dir, rest.slice(start), object);
  }

  /**
   * Directories of the previous key from `depth` down are behind us in key order: nothing
   * more can shadow their held objects, so those are released (never completed, though).
   */
  #passed(depth: number): void {
    const chain = this.#chain;
    while (chain.length > depth) {
      const d = chain.pop()!;
      const before = d.children.pending;
      d.children.release(this.#pages);
      this.#pending += d.children.pending - before;
      this.#flushPages(d);
    }
  }

  #put(dir: TreeDir, rest: string, object: ListedObject | undefined): void {
    const before = dir.children.pending;
    dir.children.add(rest, object, this.#pages);
    this.#pending += dir.children.pending - before;
    this.#flushPages(dir);
  }

  /** Hands on the full pages `dir` produced. */
  #flushPages(dir: TreeDir): void {
    if (this.#pages.length === 0) return;
    this.#announce(dir);
    for (const entries of this.#pages.splice(0)) this.#emit(dir, entries);
  }

  /** Hands on what `dir` has pending, after its own entry. */
  #flush(dir: TreeDir): void {
    this.#announce(dir);
    this.#pending -= dir.children.pending;
    const entries = dir.children.take();
    if (entries.length > 0) this.#emit(dir, entries);
  }

  /** Makes sure `dir`'s own entry has been handed on: it waits in its parent's pending. */
  #announce(dir: TreeDir): void {
    if (dir.announced) return;
    const parent = this.#dirs.get(parentOf(dir.path))!;
    this.#flush(parent);
    // The parent's entries may have gone out in a full page: then it was announced there.
    dir.announced = true;
  }

  #emit(dir: TreeDir, entries: Entry[]): void {
    this.#out.push({ dir: dir.path, entries, more: true });
    for (const e of entries) {
      if (e.isDir) {
        const child = this.#dirs.get(e.path);
        if (child) child.announced = true;
      }
    }
  }

  /** Too much pending: the directories holding most go out as pieces until half is left. */
  #shed(): void {
    const full = [...this.#dirs.values()]
      .filter((d) => d.children.pending > 0)
      .sort((a, b) => b.children.pending - a.children.pending);
    for (const d of full) {
      if (this.#pending <= this.#pendingLimit / 2) break;
      if (d.children.pending > 0) this.#flush(d);
    }
  }
}
