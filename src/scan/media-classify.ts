import { toStorageError } from '../storage/errors.js';
import type { Entry, ReadHeadOptions } from '../storage/types.js';
import { isAmbiguousMedia } from './media.js';
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

/**
 * Which of a listing's `.ts` / `.mts` files are video. Where the storage reads a file's first
 * bytes cheaply (`readHead`), each is probed ({@link isTransportStream}): exact, at most
 * {@link PROBE_BYTES} bytes a file, and only for these ambiguous names. Elsewhere — and for a
 * file whose read fails (gone since the listing, unreadable) — the directory decides
 * ({@link videoByContext}). Files under `node_modules` and files too small to be a stream are
 * TypeScript without a read. Undefined when the listing has no ambiguous file (the common case).
 */
export async function classifyListing(
  dir: string,
  entries: readonly Entry[],
  readHead: ReadHead | undefined,
  signal?: AbortSignal,
): Promise<ReadonlySet<string> | undefined> {
  const ambiguous = entries.filter((e) => !e.isDir && !e.skip && isAmbiguousMedia(e.name));
  if (ambiguous.length === 0) return undefined;
  const byContext = videoByContext(dir, entries);
  if (!readHead || /(^|\/)node_modules(\/|$)/i.test(dir)) return byContext;
  const video = new Set<string>();
  const toProbe = ambiguous.filter((e) => e.size >= MIN_STREAM_BYTES);
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
