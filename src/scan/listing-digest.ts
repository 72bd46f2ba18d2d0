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
 * `node:crypto`, loaded at the first digest: imported at the top, the module and OpenSSL's
 * digest cost an empty scan ~10 ms of its ~55 (bench:startup).
 */
let crypto: typeof import('node:crypto') | undefined;
function nodeCrypto(): typeof import('node:crypto') {
  return (crypto ??= process.getBuiltinModule('node:crypto'));
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
 * Call it when the first digest is needed (see {@link nodeCrypto}).
 */
export function digestSalt(settings: DigestSettings): string {
  const text = JSON.stringify([
    DIGEST_VERSION,
    MEDIA_TABLE,
    settings.exclude ?? [],
    settings.storageExclude ?? [],
    settings.markers ?? true,
  ]);
  return nodeCrypto().createHash('sha256').update(text).digest('base64');
}

/**
 * The input of the last digests: the salt's UTF-8 bytes at its start (kept while the salt
 * is the same), then one listing's. Up to {@link SCRATCH_BYTES}: a larger listing is hashed
 * in pieces instead, so that one huge directory leaves no buffer of its size behind.
 */
let scratch = Buffer.alloc(0);
const SCRATCH_BYTES = 64 * 1024;
let scratchSalt: string | undefined;
let saltBytes = 0;

/**
 * The digest of `listing` under `salt` (base64url, 22 characters), or null when the listing
 * may not have one (an unreadable entry or a loop).
 *
 * SHA-256 of the salt (UTF-8), `\0<count>\0`, the names as UTF-16 (a lone surrogate and
 * U+FFFD are two names; UTF-8 would make them one), then the entries' type bytes, sizes
 * and mtimes as the listing thread packed them. The count comes before the joined names (no
 * name holds `/`): with it they split one way only. Those bytes are laid out in one buffer
 * and hashed by one `crypto.hash` call: one `Hash` object and five `update` calls a
 * directory cost more than the hashing (2.2 → ~1.6 µs a directory of 20 entries,
 * bench/listing-digest.mjs); the bytes, and so every stored digest, are the same.
 */
export function listingDigest(listing: PackedListing, salt: string): string | null {
  const { names, types, sizes, mtimes } = listing.reply;
  const from = listing.offset;
  const count = listing.count;
  const to = from + count;
  for (let j = from; j < to; j++) {
    const t = types[j]!;
    if (t !== T_FILE && t !== T_DIR && t !== T_SYMLINK && t !== T_SPECIAL) return null;
  }
  // Bounds: UTF-8 takes at most 3 bytes a UTF-16 unit, the count at most 16 digits, a
  // name's UTF-16 2 bytes a unit, an entry 1 + 8 + 8 bytes.
  const need = salt.length * 3 + 18 + (listing.end - listing.at) * 2 + count * 17;
  if (need > SCRATCH_BYTES) return piecewiseDigest(listing, salt);
  if (need > scratch.length || salt !== scratchSalt) {
    if (need > scratch.length) scratch = Buffer.allocUnsafeSlow(SCRATCH_BYTES);
    saltBytes = scratch.write(salt, 0, 'utf8');
    scratchSalt = salt;
  }
  let at = saltBytes;
  at += scratch.write(`\0${count}\0`, at, 'latin1');
  at += scratch.write(names.slice(listing.at, listing.end), at, 'utf16le');
  scratch.set(new Uint8Array(types.buffer, types.byteOffset + from, count), at);
  at += count;
  scratch.set(new Uint8Array(sizes.buffer, sizes.byteOffset + from * 8, count * 8), at);
  at += count * 8;
  scratch.set(new Uint8Array(mtimes.buffer, mtimes.byteOffset + from * 8, count * 8), at);
  at += count * 8;
  return nodeCrypto().hash('sha256', scratch.subarray(0, at), 'base64url').slice(0, 22);
}

/** {@link listingDigest} of a large listing: the same bytes, given to one `Hash` in pieces. */
export function piecewiseDigest(listing: PackedListing, salt: string): string {
  const { names, types, sizes, mtimes } = listing.reply;
  const from = listing.offset;
  const count = listing.count;
  const hash = nodeCrypto().createHash('sha256');
  hash.update(salt);
  hash.update(`\0${count}\0`);
  hash.update(names.slice(listing.at, listing.end), 'utf16le');
  hash.update(new Uint8Array(types.buffer, types.byteOffset + from, count));
  hash.update(new Uint8Array(sizes.buffer, sizes.byteOffset + from * 8, count * 8));
  hash.update(new Uint8Array(mtimes.buffer, mtimes.byteOffset + from * 8, count * 8));
  return hash.digest('base64url').slice(0, 22);
}
