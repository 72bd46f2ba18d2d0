import type { EntryWrite, IndexedEntry, ListingDigest, Removal } from '../db/entries.js';
import { nameEnd, SKIP_BY_TYPE, T_DIR, T_FILE, type PackedListing } from '../storage/packed.js';
import type { Entry } from '../storage/types.js';
import { isCountedMedia, mediaKindIn, mediaKindOf, type MediaKind } from './media.js';

/** What one directory's listing means for the index. */
export interface DirDiff {
  writes: EntryWrite[];
  removals: Removal[];
  /** Of the writes, how many are files that are new to the index (dry-run counts). */
  newFiles: number;
  changedFiles: number;
  unchangedFiles: number;
  dirs: number;
  files: number;
  mediaFiles: number;
  bytes: number;
  skipped: number;
  /** Listing digests to store with the writes (see EntryRepository.apply). */
  digests: ListingDigest[];
}

export function emptyDiff(): DirDiff {
  return {
    writes: [],
    removals: [],
    digests: [],
    newFiles: 0,
    changedFiles: 0,
    unchangedFiles: 0,
    dirs: 0,
    files: 0,
    mediaFiles: 0,
    bytes: 0,
    skipped: 0,
  };
}

/** Adds one part's diff to a batch's (the part's own is kept to count per listing). */
export function mergeDiff(into: DirDiff, part: DirDiff): void {
  for (const w of part.writes) into.writes.push(w);
  for (const r of part.removals) into.removals.push(r);
  for (const d of part.digests) into.digests.push(d);
  into.newFiles += part.newFiles;
  into.changedFiles += part.changedFiles;
  into.unchangedFiles += part.unchangedFiles;
  into.dirs += part.dirs;
  into.files += part.files;
  into.mediaFiles += part.mediaFiles;
  into.bytes += part.bytes;
  into.skipped += part.skipped;
}

/** The index's rows by path, for {@link diffDirectory}. */
export function byPath(indexed: readonly IndexedEntry[] | undefined): Map<string, IndexedEntry> {
  const old = new Map<string, IndexedEntry>();
  if (indexed) for (const e of indexed) old.set(e.path, e);
  return old;
}

/**
 * Diffs listed entries of `dir` (checked: every entry is a child of `dir`) against what the
 * index holds at their paths (`old`, by path), adding the result to `into`. Only differences
 * produce writes, so an unchanged directory costs one read and no write. A child whose type
 * changed (file ↔ directory) is removed and written anew, so a directory that became a file
 * loses its subtree.
 *
 * Matched rows are taken out of `old`, except with `removeMissing` — only for a directory's
 * whole, complete listing (checked: no name twice), when `old` holds all its indexed children
 * and is not used again — where they are counted instead: what `old` holds beyond them has
 * vanished and is removed. (Taking each out made V8 shrink and rebuild the Map as it
 * emptied: ~11 MB of a 200,000-file rescan's garbage.)
 *
 * `video` holds the listing's `.ts` / `.mts` files judged video (see `classifyListing`): a
 * name alone cannot say, and without the set they are not media.
 *
 * `countOnly` (a dry run): the writes are counted, not built — a dry run of a first scan
 * would otherwise make an object per entry only to drop it.
 */
export function diffDirectory(
  dir: string,
  listing: readonly Entry[],
  old: Map<string, IndexedEntry>,
  into: DirDiff,
  removeMissing: boolean,
  video?: ReadonlySet<string>,
  countOnly = false,
): void {
  let matched = 0;
  for (const e of listing) {
    if (e.skip) {
      into.skipped++;
      continue;
    }
    const prev = old.get(e.path);
    if (prev) {
      if (removeMissing) matched++;
      else old.delete(e.path);
    }
    diffEntry(dir, e, prev, into, video, countOnly);
  }
  if (!removeMissing || matched === old.size) return;
  // A skipped entry is not matched: its row goes, as a vanished one does.
  const listed = new Set<string>();
  for (const e of listing) if (!e.skip) listed.add(e.path);
  for (const gone of old.values()) {
    if (!listed.has(gone.path)) into.removals.push({ path: gone.path, isDir: gone.isDir });
  }
}

/**
 * {@link diffDirectory} of a directory's whole, complete listing against its rows as the
 * index read them, without a Map while the two run in step. SQLite reads a directory's rows
 * by its (parent, is_dir, name) index — files, then directories, each by name — and the
 * local listing comes sorted by name: so an unchanged directory matches row for row, the
 * files against the first rows and the directories against the rest. At the first entry
 * that does not (a change, a skipped entry, another order), the rest goes through the Map
 * of the rows not matched yet, as before. (A Map per directory was 17 MB of a
 * 200,000-file rescan's garbage, heap sampling.)
 */
export function diffWhole(
  dir: string,
  listing: readonly Entry[],
  indexed: readonly IndexedEntry[] | undefined,
  into: DirDiff,
  video?: ReadonlySet<string>,
  countOnly = false,
): void {
  const rows = indexed ?? [];
  let dirsAt = 0;
  while (dirsAt < rows.length && !rows[dirsAt]!.isDir) dirsAt++;
  let f = 0;
  let d = dirsAt;
  let i = 0;
  for (; i < listing.length; i++) {
    const e = listing[i]!;
    if (e.skip) break;
    let prev: IndexedEntry | undefined;
    if (e.isDir) {
      prev = d < rows.length ? rows[d] : undefined;
      if (prev === undefined || prev.path !== e.path) break;
      d++;
    } else {
      prev = f < dirsAt ? rows[f] : undefined;
      if (prev === undefined || prev.path !== e.path) break;
      f++;
    }
    diffEntry(dir, e, prev, into, video, countOnly);
  }
  if (i === listing.length && f === dirsAt && d === rows.length) return;
  // Matched so far: rows [0, f) and [dirsAt, d). The rest, by path.
  const old = new Map<string, IndexedEntry>();
  for (let k = f; k < dirsAt; k++) old.set(rows[k]!.path, rows[k]!);
  for (let k = d; k < rows.length; k++) old.set(rows[k]!.path, rows[k]!);
  diffDirectory(dir, i === 0 ? listing : listing.slice(i), old, into, true, video, countOnly);
}

/**
 * {@link diffWhole} of a packed listing of a directory the index holds no row under, with
 * no `.ts` / `.mts` verdicts: every entry is new. Counted from the packed arrays, and with
 * `countOnly` (a dry run) nothing else is made; otherwise a write per entry, as
 * {@link diffEntry} makes it, without the entry objects in between.
 */
export function diffFresh(listing: PackedListing, into: DirDiff, countOnly = false): void {
  const { names: all, types, sizes, mtimes } = listing.reply;
  const dir = listing.dir;
  const prefix = listing.prefix;
  let at = listing.at;
  for (let j = listing.offset, last = j + listing.count; j < last; j++) {
    const start = at;
    const end = nameEnd(all, at);
    at = end + 1;
    const type = types[j]!;
    if (SKIP_BY_TYPE[type] !== undefined) {
      into.skipped++;
      continue;
    }
    const isDir = type === T_DIR;
    const size = sizes[j]!;
    let mediaKind: MediaKind | null = null;
    if (isDir) into.dirs++;
    else {
      mediaKind = mediaKindIn(all, start, end);
      into.files++;
      into.bytes += size;
      if (isCountedMedia(mediaKind)) into.mediaFiles++;
      into.newFiles++;
    }
    if (countOnly) continue;
    const name = all.slice(start, end);
    into.writes.push({
      path: prefix + name,
      parent: dir,
      name,
      isDir,
      size,
      mtime: mtimes[j]!,
      etag: null,
      mediaKind,
      isNew: true,
    });
  }
}

/**
 * A packed listing whose digest is the one stored on its directory's row: its child rows
 * are what it makes (listing-digest.ts), unread. Counted from the packed arrays as
 * {@link diffUnchanged} counts a listing that matches its rows, with its skipped entries as
 * {@link diffWhole} counts them: exactly what comparing it with its rows would count.
 */
export function diffSame(listing: PackedListing, into: DirDiff): void {
  const { names: all, types, sizes } = listing.reply;
  let at = listing.at;
  for (let j = listing.offset, last = j + listing.count; j < last; j++) {
    const start = at;
    const end = nameEnd(all, at);
    at = end + 1;
    const type = types[j]!;
    if (SKIP_BY_TYPE[type] !== undefined) {
      into.skipped++;
      continue;
    }
    if (type === T_DIR) {
      into.dirs++;
      continue;
    }
    const size = sizes[j]!;
    into.files++;
    into.bytes += size;
    into.unchangedFiles++;
    if (isCountedMedia(mediaKindIn(all, start, end))) into.mediaFiles++;
  }
}

/**
 * {@link diffWhole} of a packed listing whose every entry is its row unchanged, in the order
 * SQLite reads a directory's rows (files, then directories, each by name; see diffWhole):
 * counted in place, and true — an unchanged directory of a rescan makes no entry object.
 * False, with nothing counted, at the first entry that is not (a change, a skipped entry,
 * another order, a row left over): the caller diffs the decoded entries instead.
 */
export function diffUnchanged(
  listing: PackedListing,
  rows: readonly IndexedEntry[],
  into: DirDiff,
): boolean {
  if (rows.length !== listing.count) return false;
  const { names: all, types, sizes, mtimes } = listing.reply;
  const prefix = listing.prefix;
  let dirsAt = 0;
  while (dirsAt < rows.length && !rows[dirsAt]!.isDir) dirsAt++;
  let f = 0;
  let d = dirsAt;
  let dirs = 0;
  let files = 0;
  let bytes = 0;
  let mediaFiles = 0;
  let at = listing.at;
  for (let j = listing.offset, last = j + listing.count; j < last; j++) {
    const start = at;
    const end = nameEnd(all, at);
    at = end + 1;
    const type = types[j]!;
    let row: IndexedEntry | undefined;
    if (type === T_DIR) row = d < rows.length ? rows[d++] : undefined;
    else if (type === T_FILE) row = f < dirsAt ? rows[f++] : undefined;
    // A directory's row may be a file's: rows after the first directory's need not all be
    // directories' (PostgreSQL reads them in no order), and a file that became a directory
    // can match its row's path, size 0, mtime and null media kind.
    if (row === undefined || row.isDir !== (type === T_DIR)) return false;
    // The row's path is the entry's: the directory's prefix and this name.
    const path = row.path;
    if (path.length !== prefix.length + end - start || !path.startsWith(prefix)) return false;
    for (let k = start, i = prefix.length; k < end; k++, i++) {
      if (path.charCodeAt(i) !== all.charCodeAt(k)) return false;
    }
    const size = sizes[j]!;
    const mediaKind = type === T_DIR ? null : mediaKindIn(all, start, end);
    if (row.size !== size || row.mtime !== mtimes[j]! || row.etag !== null) return false;
    if (row.mediaKind !== mediaKind) return false;
    if (type === T_DIR) dirs++;
    else {
      files++;
      bytes += size;
      if (isCountedMedia(mediaKind)) mediaFiles++;
    }
  }
  into.dirs += dirs;
  into.files += files;
  into.bytes += bytes;
  into.mediaFiles += mediaFiles;
  into.unchangedFiles += files;
  return true;
}

/** One listed entry (not skipped) against its row, `prev` (undefined: none). */
function diffEntry(
  dir: string,
  e: Entry,
  prev: IndexedEntry | undefined,
  into: DirDiff,
  video: ReadonlySet<string> | undefined,
  countOnly: boolean,
): void {
  const mediaKind = e.isDir ? null : video?.has(e.path) ? 'video' : mediaKindOf(e.name);
  const etag = e.etag ?? null;
  if (e.isDir) into.dirs++;
  else {
    into.files++;
    into.bytes += e.size;
    if (isCountedMedia(mediaKind)) into.mediaFiles++;
  }
  if (prev && prev.isDir === e.isDir) {
    if (
      prev.size === e.size &&
      prev.mtime === e.mtime &&
      prev.etag === etag &&
      prev.mediaKind === mediaKind
    ) {
      if (!e.isDir) into.unchangedFiles++;
      return;
    }
    if (!e.isDir) into.changedFiles++;
  } else {
    if (prev) into.removals.push({ path: prev.path, isDir: prev.isDir });
    if (!e.isDir) into.newFiles++;
  }
  if (countOnly) return;
  into.writes.push({
    path: e.path,
    parent: dir,
    name: e.name,
    isDir: e.isDir,
    size: e.size,
    mtime: e.mtime,
    etag,
    mediaKind,
    isNew: prev === undefined || prev.isDir !== e.isDir,
  });
}
