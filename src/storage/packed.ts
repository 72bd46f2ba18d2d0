/**
 * A directory's listing as a local listing thread packs it (local-worker.ts): names joined
 * with `/`, one type byte, size and mtime an entry, in arrays shared by every directory of
 * one reply. A scan of a tree nobody has indexed yet needs counts, media kinds and the
 * subdirectories' paths from most listings, not an object per file: an `Entry` with its
 * path and name strings was a quarter of a 200,000-file dry run's garbage, and entries
 * waiting in the scan's channel outlived V8's young generation (docs/benchmarks.md, "Sixth
 * round"). So a listing goes out packed, and {@link PackedListing.entries} makes the objects
 * only when a consumer asks for them (rows to diff against, exclude rules, marker or
 * ambiguous files): anything that reads `entries` sees exactly what it saw before.
 */
import { ROOT } from './paths.js';
import type { Entry, SkipReason, TreeListing } from './types.js';
import { T_DIR, T_LOOP, T_SPECIAL, T_SYMLINK, T_UNREADABLE } from './backends/local-worker.js';

export { T_DIR, T_FILE } from './backends/local-worker.js';

/** Why an entry of each type code is not indexed (none: it is). */
export const SKIP_BY_TYPE: Readonly<Record<number, SkipReason>> = {
  [T_SYMLINK]: 'symlink',
  [T_SPECIAL]: 'special',
  [T_LOOP]: 'loop',
  [T_UNREADABLE]: 'unreadable',
};

/** The parts of a packed reply a listing reads (local-worker.ts's `ListReply`). */
export interface PackedArrays {
  names: string;
  types: Uint8Array;
  sizes: Float64Array;
  mtimes: Float64Array;
}

/** Where the name starting at `at` in joined names ends (a `/`, or the end). */
export function nameEnd(all: string, at: number): number {
  const end = all.indexOf('/', at);
  return end === -1 ? all.length : end;
}

/**
 * One directory's entries inside a packed reply: entries `offset` to `offset + count` of its
 * arrays, names from `at` to `end` of its joined names. The joined names are cut into strings
 * only when the listing is decoded: split on arrival, a read-ahead budget of names outlived
 * V8's young generation and was copied by every scavenge until promoted.
 *
 * A whole listing of a tree walk (`TreeListing`): its `entries` are decoded on first use.
 */
export class PackedListing implements TreeListing {
  readonly dir: string;
  readonly reply: PackedArrays;
  readonly at: number;
  /** Where its last name ends in `reply.names` (`at` when it has none). */
  readonly end: number;
  readonly offset: number;
  readonly count: number;
  #entries: Entry[] | undefined;
  #prefix: string | undefined;

  constructor(
    dir: string,
    reply: PackedArrays,
    at: number,
    end: number,
    offset: number,
    count: number,
  ) {
    this.dir = dir;
    this.reply = reply;
    this.at = at;
    this.end = end;
    this.offset = offset;
    this.count = count;
  }

  /** `/` or the directory's path and a `/`: what its entries' paths start with. */
  get prefix(): string {
    return (this.#prefix ??= this.dir === ROOT ? '/' : this.dir + '/');
  }

  /** Its entries were made already ({@link entries} was read). */
  get decoded(): boolean {
    return this.#entries !== undefined;
  }

  /** Its entries as objects, made on first use and kept. */
  get entries(): Entry[] {
    return (this.#entries ??= this.#decode());
  }

  /** The UTF-16 length of all its names together (what `entryBytes` weighs them by). */
  get nameChars(): number {
    return this.count === 0 ? 0 : this.end - this.at - (this.count - 1);
  }

  #decode(): Entry[] {
    const { names: all, types, sizes, mtimes } = this.reply;
    const prefix = this.prefix;
    const count = this.count;
    const entries = new Array<Entry>(count);
    let at = this.at;
    for (let i = 0; i < count; i++) {
      const j = this.offset + i;
      const end = nameEnd(all, at);
      const name = all.slice(at, end);
      at = end + 1;
      const type = types[j]!;
      const entry: Entry = {
        path: prefix + name,
        name,
        isDir: type === T_DIR,
        size: sizes[j]!,
        mtime: mtimes[j]!,
      };
      const skip = SKIP_BY_TYPE[type];
      if (skip) entry.skip = skip;
      entries[i] = entry;
    }
    return entries;
  }
}
