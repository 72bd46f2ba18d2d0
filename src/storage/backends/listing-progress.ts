/**
 * The guard against a server that never ends a listing, for protocols where the client pages
 * through a cursor the server keeps (SFTP READDIR, SMB QUERY_DIRECTORY) until the server says
 * "no more". A cap on entries would fail real directories of millions of files; what a broken
 * or hostile server does instead is answer without progress — empty answers, or an answer it
 * already gave (a cursor that does not move, or that starts over) — and both are cheap to
 * recognise. The cap that remains is a sanity bound far above any real directory.
 */
import { createHash } from 'node:crypto';
import { ProtocolError } from '../errors.js';

/** Empty answers in a row before the server is taken to be stuck. */
export const MAX_EMPTY_ANSWERS = 1000;
/** Entries in one directory past which a listing is taken to be a server going round. */
export const MAX_LISTING_ENTRIES = 100_000_000;
/**
 * Answers remembered to recognise a repeat (a number each, ~20 bytes: 2 MB at most). A
 * 5,000,000-entry directory is ~12,000 SMB answers or ~50,000 SFTP batches, so every answer
 * of a real directory is remembered; past the cap the memory starts over.
 */
const MAX_REMEMBERED = 100_000;

export class ListingProgress {
  readonly #where: string;
  readonly #dir: string;
  #empty = 0;
  #entries = 0;
  readonly #seen = new Set<number>();

  /** `where` names the server and request for messages (`READDIR on sftp://host:22`). */
  constructor(where: string, dir: string) {
    this.#where = where;
    this.#dir = dir;
  }

  /**
   * One answer of the server: its bytes (or its names, in order) and how many entries it
   * held. Throws PROTOCOL when the listing makes no progress.
   */
  answer(content: Buffer | readonly string[], entries: number): void {
    if (entries === 0) {
      if (++this.#empty > MAX_EMPTY_ANSWERS) {
        throw this.#stuck(`${MAX_EMPTY_ANSWERS} empty answers in a row`);
      }
      return;
    }
    this.#empty = 0;
    this.#entries += entries;
    if (this.#entries > MAX_LISTING_ENTRIES) {
      throw this.#stuck(`more than ${MAX_LISTING_ENTRIES.toLocaleString('en')} entries`);
    }
    const hash = createHash('sha1');
    if (Buffer.isBuffer(content)) hash.update(content);
    else for (const name of content) hash.update(name).update('\0');
    const digest = hash.digest();
    // 53 bits: two different answers of one listing share a key with odds below 1e-6.
    const key = digest.readUIntBE(0, 6) * 32 + (digest[6]! >> 3);
    if (this.#seen.has(key)) {
      throw this.#stuck(`an answer it had already sent (after ${this.#entries} entries)`);
    }
    if (this.#seen.size >= MAX_REMEMBERED) this.#seen.clear();
    this.#seen.add(key);
  }

  #stuck(what: string): ProtocolError {
    return new ProtocolError(
      `${this.#where} does not end the listing of ${this.#dir}: ${what}; nothing in it was deleted`,
      { path: this.#dir },
    );
  }
}
