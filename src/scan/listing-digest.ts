/**
 * A directory's listing digest: what a rescan compares with the digest stored on the
 * directory's row (`entries.listing_digest`, migration 021) to know, without reading them,
 * that the directory's child rows are what this listing would make. A digest that matched
 * where the rows differ would leave the index wrong for good, silently, so:
 *
 * - it covers the whole listing as the storage gave it, skipped entries included: every
 *   name (bytes, order), type, size and mtime, and the count;
 * - it is salted with everything else that decides a row: {@link DIGEST_VERSION} (bumped
 *   with any change to how a listing becomes rows), the media table, and the exclude
 *   patterns and marker setting of the scan (a packed listing is only ever reconciled under
 *   inert rules, but a changed setting costs one full comparison, not a wrong index);
 * - it is SHA-256 (cut to 128 bits): names come from whoever wrote the tree, and a digest a
 *   name could be chosen to collide with would let them hide a change;
 * - a listing with an unreadable entry, or a directory loop, gets none (its rows are
 *   compared in full every time).
 *
 * Only a `whole`, packed listing (a local walk's) has one; any other listing is compared in
 * full as before.
 */
import { T_DIR, T_FILE, type PackedListing } from '../storage/packed.js';
import { T_SPECIAL, T_SYMLINK } from '../storage/backends/local-worker.js';
import { MEDIA_TABLE } from './media.js';

/**
 * SHA-256 from `node:crypto`, loaded at the first digest: imported at the top, the module
 * and OpenSSL's digest cost an empty scan ~10 ms of its ~55 (bench:startup).
 */
function sha256() {
  return process.getBuiltinModule('node:crypto').createHash('sha256');
}

/** Bump with any change to what rows a listing makes: every stored digest stops matching. */
export const DIGEST_VERSION = 1;

/** What shapes a scan's rows besides its listings, as the salt of {@link listingDigest}. */
export interface DigestSettings {
  exclude?: readonly string[] | undefined;
  storageExclude?: readonly string[] | undefined;
  markers?: boolean | undefined;
}

/**
 * The salt of a scan's digests, hashed first into every digest: the settings' own digest
 * (the media table alone is ~1 kB, which hashed again per directory tripled its cost).
 * Call it when the first digest is needed (see {@link sha256}).
 */
export function digestSalt(settings: DigestSettings): string {
  const text = JSON.stringify([
    DIGEST_VERSION,
    MEDIA_TABLE,
    settings.exclude ?? [],
    settings.storageExclude ?? [],
    settings.markers ?? true,
  ]);
  return sha256().update(text).digest('base64');
}

/**
 * The digest of `listing` under `salt` (base64url, 22 characters), or null when the listing
 * may not have one (an unreadable entry or a loop).
 */
export function listingDigest(listing: PackedListing, salt: string): string | null {
  const { names, types, sizes, mtimes } = listing.reply;
  const from = listing.offset;
  const to = from + listing.count;
  for (let j = from; j < to; j++) {
    const t = types[j]!;
    if (t !== T_FILE && t !== T_DIR && t !== T_SYMLINK && t !== T_SPECIAL) return null;
  }
  const hash = sha256();
  hash.update(salt);
  // The count first: with it the joined names (no name holds `/`) split one way only. As
  // UTF-16: UTF-8 would encode a lone surrogate as U+FFFD does, and the two names differ.
  hash.update(`\0${listing.count}\0`);
  hash.update(names.slice(listing.at, listing.end), 'utf16le');
  hash.update(new Uint8Array(types.buffer, types.byteOffset + from, listing.count));
  hash.update(new Uint8Array(sizes.buffer, sizes.byteOffset + from * 8, listing.count * 8));
  hash.update(new Uint8Array(mtimes.buffer, mtimes.byteOffset + from * 8, listing.count * 8));
  return hash.digest('base64url').slice(0, 22);
}
