/**
 * Marker files: a directory says of itself what is not to be indexed.
 *
 * - `.nomedia` (Android's media scanner, Nextcloud's recognize…): the directory's content is
 *   excluded, the whole subtree below it.
 * - `.ignore` (Jellyfin): empty, or without a pattern, the same; with patterns, they are
 *   gitignore rules for the subtree, as Jellyfin reads them.
 * - `.trawlignore`: gitignore rules for the subtree, anchored at its directory, as a nested
 *   `.gitignore` is (an empty one excludes nothing).
 *
 * Only regular files count (not a directory of that name, nor a symlink that is not
 * followed). The directory itself stays indexed: its marker is only known once it has been
 * listed, and dropping it then would delete and re-create it on every scan.
 */
import { StorageError, toStorageError } from '../../storage/errors.js';
import { joinPath } from '../../storage/paths.js';
import { nameEnd, T_FILE, type PackedListing } from '../../storage/packed.js';
import type { Entry } from '../../storage/types.js';
import type { Exclusions } from './exclusions.js';
import { linesOf, RuleSet } from './rules.js';

export const NOMEDIA = '.nomedia';
export const DOT_IGNORE = '.ignore';
export const TRAWLIGNORE = '.trawlignore';
export const MARKER_NAMES: readonly string[] = [NOMEDIA, DOT_IGNORE, TRAWLIGNORE];

/** The most of a marker file that is read: rules longer than this are refused, not cut. */
export const MARKER_MAX_BYTES = 64 * 1024;

/** Reads the start of a small file (the storage handle's `readHead`). */
export type Reader = (
  path: string,
  bytes: number,
  options?: { signal?: AbortSignal },
) => Promise<Uint8Array>;

/** A marker file found in a listing (content unread) or by {@link probeMarkers} (read). */
export interface Marker {
  name: string;
  size: number;
  content?: Uint8Array;
}

/** Marker files among a listing's entries, by name; undefined when there is none. */
export function findMarkers(entries: readonly Entry[]): Map<string, Marker> | undefined {
  let found: Map<string, Marker> | undefined;
  for (const e of entries) {
    // '.' first: most names are passed over on one comparison.
    if (e.name.charCodeAt(0) !== 46 || e.isDir || e.skip) continue;
    if (!MARKER_NAMES.includes(e.name)) continue;
    (found ??= new Map()).set(e.name, { name: e.name, size: e.size });
  }
  return found;
}

/** {@link findMarkers} of a packed listing: only names that start with `.` are cut out. */
export function findPackedMarkers(listing: PackedListing): Map<string, Marker> | undefined {
  const { names: all, types, sizes } = listing.reply;
  let found: Map<string, Marker> | undefined;
  let at = listing.at;
  for (let j = listing.offset, last = j + listing.count; j < last; j++) {
    const end = nameEnd(all, at);
    // A file, not skipped, named with a leading '.': what findMarkers asks of an entry.
    if (all.charCodeAt(at) === 46 && types[j] === T_FILE) {
      const name = all.slice(at, end);
      if (MARKER_NAMES.includes(name)) (found ??= new Map()).set(name, { name, size: sizes[j]! });
    }
    at = end + 1;
  }
  return found;
}

/**
 * Asks the storage for each marker file of `dir` (three small reads): for a directory too
 * large to hold whole, whose listing goes out in parts before it has been seen to its end.
 * What it finds is checked against the complete listing afterwards (a directory of that name
 * is no marker), see `DirectoryExclusion.misprobed`.
 */
export async function probeMarkers(
  dir: string,
  read: Reader,
  signal: AbortSignal,
): Promise<Map<string, Marker>> {
  const found = await Promise.all(
    MARKER_NAMES.map(async (name): Promise<Marker | undefined> => {
      const path = joinPath(dir, name);
      try {
        const content = await read(path, MARKER_MAX_BYTES + 1, { signal });
        return { name, size: content.length, content };
      } catch (error) {
        const e = toStorageError(error, path);
        if (e.code === 'NOT_FOUND') return undefined;
        throw unreadable(e, path);
      }
    }),
  );
  return new Map(found.filter((m) => m !== undefined).map((m) => [m.name, m]));
}

/** A marker file that could not be read: its directory is neither indexed anew nor pruned. */
export class MarkerError extends Error {
  override name = 'MarkerError';
  readonly code: string;
  readonly path: string;

  constructor(code: string, path: string, message: string) {
    super(message);
    this.code = code;
    this.path = path;
  }
}

/**
 * The rules for the entries of `dir`, given its marker files and the rules of its parent.
 * Reads `.ignore` and `.trawlignore` when they hold anything.
 * Throws a MarkerError when one cannot be read (the storage cannot read files, the file is
 * too large, the read failed), and the CANCELLED StorageError when the scan stops.
 */
export async function rulesFor(
  dir: string,
  markers: ReadonlyMap<string, Marker>,
  parent: Exclusions,
  read: Reader | undefined,
  signal: AbortSignal,
): Promise<Exclusions> {
  if (markers.has(NOMEDIA) || markers.get(DOT_IGNORE)?.size === 0) return parent.excludingAll();
  const sets: RuleSet[] = [];
  for (const name of [DOT_IGNORE, TRAWLIGNORE]) {
    const marker = markers.get(name);
    if (!marker || marker.size === 0) continue;
    const path = joinPath(dir, name);
    if (marker.size > MARKER_MAX_BYTES) throw tooLarge(path);
    // A file that grew since it was listed is read as far as the bound, and refused beyond.
    const content = marker.content ?? (await readMarker(path, read, signal));
    if (content.length > MARKER_MAX_BYTES) throw tooLarge(path);
    const set = RuleSet.parse(dir, path, linesOf(content));
    // Jellyfin: an `.ignore` without a rule ignores the whole directory.
    if (name === DOT_IGNORE && set.size === 0) return parent.excludingAll();
    sets.push(set);
  }
  return parent.withMarkers(sets);
}

function tooLarge(path: string): MarkerError {
  return new MarkerError(
    'TOO_LARGE',
    path,
    `${path} is larger than ${MARKER_MAX_BYTES} bytes, so its rules were not read; nothing in its directory was indexed anew or removed`,
  );
}

/** A failed read as the scan records it (CANCELLED stays itself: the scan is stopping). */
function unreadable(e: StorageError, path: string): Error {
  if (e.code === 'CANCELLED') return e;
  return new MarkerError(
    e.code,
    path,
    `could not read ${path} (${e.message}); nothing in its directory was indexed anew or removed`,
  );
}

async function readMarker(
  path: string,
  read: Reader | undefined,
  signal: AbortSignal,
): Promise<Uint8Array> {
  if (!read) {
    throw new MarkerError(
      'UNSUPPORTED',
      path,
      `${path} holds rules, but this storage cannot read files; nothing in its directory was indexed anew or removed (exclude it by a pattern instead)`,
    );
  }
  try {
    return await read(path, MARKER_MAX_BYTES + 1, { signal });
  } catch (error) {
    throw unreadable(toStorageError(error, path), path);
  }
}
