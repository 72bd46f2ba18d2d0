import { toStorageError } from '../storage/errors.js';
import type { IndexedEntry } from '../db/entries.js';
import type { Entry, ReadHeadOptions } from '../storage/types.js';
import { nameEnd, T_FILE, type PackedListing } from '../storage/packed.js';
import { isAmbiguousMedia, isAmbiguousMediaIn } from './media.js';
import { videoByContext } from './media-context.js';
import { isTransportStream, MIN_STREAM_BYTES, PROBE_BYTES } from './media-probe.js';

/** A storage's cheap read of a file's first bytes (`StorageHandle.readHead`). */
export type ReadHead = (
  path: string,
  bytes: number,
  options?: ReadHeadOptions,
) => Promise<Uint8Array>;

/** Reads of one listing in flight at once (the StorageService caps the storage's requests too). */
const PROBES_AT_ONCE = 4;

/** What the index holds at some paths (`EntryRepository.lookup`). */
export type IndexedAt = (
  paths: readonly string[],
) => Promise<ReadonlyMap<string, Pick<IndexedEntry, 'size' | 'mtime' | 'etag' | 'mediaKind'>>>;

export interface ClassifyOptions {
  /** The storage's cheap read of a file's first bytes; judged by context without it. */
  readHead?: ReadHead | undefined;
  /** The index's rows: a file it holds unchanged and not as video is not read again. */
  indexed?: IndexedAt;
  signal?: AbortSignal;
}

/** A file whose name alone does not say whether it is media (`.ts`, `.mts`). */
function isAmbiguousFile(e: Entry): boolean {
  return !e.isDir && !e.skip && isAmbiguousMedia(e.name);
}

/** Whether {@link classifyListing} has anything to decide in `entries` (mostly not). */
export function hasAmbiguousMedia(entries: readonly Entry[]): boolean {
  return entries.some(isAmbiguousFile);
}

/** {@link hasAmbiguousMedia} of a packed listing, read in place. */
export function hasAmbiguousPacked(listing: PackedListing): boolean {
  const { names: all, types } = listing.reply;
  let at = listing.at;
  for (let j = listing.offset, last = j + listing.count; j < last; j++) {
    const end = nameEnd(all, at);
    // A file, not skipped: what isAmbiguousFile asks of an entry.
    if (types[j] === T_FILE && isAmbiguousMediaIn(all, at, end)) return true;
    at = end + 1;
  }
  return false;
}

/**
 * Which of a listing's `.ts` / `.mts` files are video. Where the storage reads a file's first
 * bytes cheaply (`readHead`), each is probed ({@link isTransportStream}): exact, at most
 * {@link PROBE_BYTES} bytes a file, and only for these ambiguous names. Elsewhere — and for a
 * file whose read fails (gone since the listing, unreadable) — the directory decides
 * ({@link videoByContext}). Files under `node_modules` and files too small to be a stream are
 * TypeScript without a read. Undefined when the listing has no ambiguous file (the common case).
 *
 * A rescan reads again only what is new or changed: a file the index holds with the same size,
 * time and etag and not as video keeps that verdict (measured: a tree of 5,000 TypeScript
 * files rescans in the time it took without probes, where reading each again cost ~0.7 s).
 * One indexed as video is read again, so rows written before `.ts` was probed are corrected.
 */
export async function classifyListing(
  dir: string,
  entries: readonly Entry[],
  options: ClassifyOptions = {},
): Promise<ReadonlySet<string> | undefined> {
  const { readHead, indexed, signal } = options;
  const ambiguous = entries.filter(isAmbiguousFile);
  if (ambiguous.length === 0) return undefined;
  const byContext = videoByContext(dir, entries);
  if (!readHead || /(^|\/)node_modules(\/|$)/i.test(dir)) return byContext;
  const video = new Set<string>();
  let toProbe = ambiguous.filter((e) => e.size >= MIN_STREAM_BYTES);
  if (indexed && toProbe.length > 0) {
    const rows = await indexed(toProbe.map((e) => e.path));
    toProbe = toProbe.filter((e) => {
      const row = rows.get(e.path);
      const same =
        row !== undefined &&
        row.size === e.size &&
        row.mtime === e.mtime &&
        row.etag === (e.etag ?? null) &&
        row.mediaKind === null;
      return !same;
    });
  }
  let next = 0;
  const prober = async () => {
    while (next < toProbe.length) {
      const e = toProbe[next++]!;
      let head: Uint8Array;
      try {
        head = await readHead(e.path, Math.min(PROBE_BYTES, e.size), { signal });
      } catch (error) {
        if (toStorageError(error, e.path).code === 'CANCELLED') throw error;
        if (byContext.has(e.path)) video.add(e.path);
        continue;
      }
      if (isTransportStream(head)) video.add(e.path);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PROBES_AT_ONCE, toProbe.length) }, prober));
  return video;
}
