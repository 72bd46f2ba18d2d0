import { entryBytes } from '../storage/pager.js';
import type { PackedListing } from '../storage/packed.js';
import type { Entry } from '../storage/types.js';

/**
 * How a piece of a directory's listing reaches the reconciler:
 * - `whole`: the complete listing in one piece (almost every directory);
 * - `page`: a piece of a listing too large to hold whole; more of the directory follows;
 * - `last`: the final piece of a complete paged listing — what it did not show is deleted;
 * - `broken`: the final piece of a listing that did not complete (a failure after some
 *   pages, unreadable entries, a server's truncation): its entries are true and applied,
 *   and nothing in the directory is deleted.
 */
export type PartKind = 'whole' | 'page' | 'last' | 'broken';

export interface ListingPart {
  dir: string;
  entries: Entry[];
  kind: PartKind;
  /** Its charge on the process's memory budget, returned once it is reconciled or dropped. */
  bytes: number;
  /** Called once it is reconciled or dropped (a lister waiting before it lists again). */
  reconciled?: (() => void) | undefined;
  /**
   * `broken` only: the listing was let go to list the directory again at once (a marker file
   * came late), so what it counted is taken back — the relisting counts the directory anew.
   */
  relisted?: boolean | undefined;
  /** Its `.ts` / `.mts` files found to be video (see `classifyListing`); the rest are not media. */
  video?: ReadonlySet<string> | undefined;
  /** Its entries packed, as the storage sent them (see {@link PackedPart}). */
  packed?: PackedListing | undefined;
}

/** Bytes a listing's entries are charged while they wait for the reconciler. */
export function partBytes(entries: readonly Entry[]): number {
  let bytes = 0;
  for (const e of entries) bytes += entryBytes(e);
  return bytes;
}

/**
 * {@link partBytes} of a packed listing, as its entries would be charged (it may be decoded
 * before it is reconciled): `entryBytes` summed, without an etag.
 */
export function packedBytes(listing: PackedListing): number {
  return listing.count * (120 + 2 * listing.prefix.length) + 4 * listing.nameChars;
}

/**
 * A `whole` piece of a packed listing (a local tree walk's): its entries are made only if
 * something reads them — the reconciler of a directory the index holds rows for, a rule, a
 * relisting. Of a directory new to the index, it writes rows (or, in a dry run, counts)
 * from the packed listing itself.
 */
export class PackedPart implements ListingPart {
  readonly dir: string;
  readonly packed: PackedListing;
  readonly kind: PartKind;
  readonly bytes: number;
  readonly reconciled: (() => void) | undefined;
  readonly relisted: boolean;
  readonly video: ReadonlySet<string> | undefined;

  constructor(
    packed: PackedListing,
    kind: PartKind,
    bytes: number,
    video: ReadonlySet<string> | undefined,
    reconciled: (() => void) | undefined,
  ) {
    this.dir = packed.dir;
    this.packed = packed;
    this.kind = kind;
    this.bytes = bytes;
    this.video = video;
    this.reconciled = reconciled;
    this.relisted = !!reconciled;
  }

  get entries(): Entry[] {
    return this.packed.entries;
  }
}

/**
 * Pages of one directory held by a lister until they are worth sending: a directory whose
 * listing ends within {@link COALESCE_ENTRIES} goes as one `whole` piece (one read of its
 * indexed children, deletions in the same batch); a larger one goes in pieces.
 */
export const COALESCE_ENTRIES = 2000;

export class HeldPages {
  #pages: Entry[][] = [];
  #count = 0;

  get count(): number {
    return this.#count;
  }

  get full(): boolean {
    return this.#count >= COALESCE_ENTRIES;
  }

  push(page: Entry[]): void {
    this.#pages.push(page);
    this.#count += page.length;
  }

  /** The held entries as one array, and nothing held any more. */
  take(): Entry[] {
    const pages = this.#pages;
    this.#pages = [];
    this.#count = 0;
    return pages.length === 1 ? pages[0]! : pages.flat();
  }
}
