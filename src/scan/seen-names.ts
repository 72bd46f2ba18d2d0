import { randomInt } from 'node:crypto';

/**
 * The names one directory's paged listing has shown so far, as 64-bit hashes: 8 bytes a
 * name in one typed array (no objects, nothing for the garbage collector), so a directory
 * of 5,000,000 entries costs 40 MB instead of the ~1 GB its entries would. Once the listing
 * is complete, the index's children of the directory are walked and every one not seen is
 * deleted.
 *
 * A collision can only make a vanished entry look seen, so it is kept (never the reverse:
 * nothing listed is ever deleted). The seeds are drawn per scan, so a collision never
 * repeats: the next scan removes what this one kept. With 64 bits, the chance of any
 * collision in a 5,000,000-entry directory is below one in a million.
 */
export class SeenNames {
  /** Pairs of 32-bit halves: [lo, hi] per name, read as one BigUint64 for sorting. */
  #words: Uint32Array = new Uint32Array(2 * 1024);
  #count = 0;
  #sorted = false;
  readonly #seedHi: number;
  readonly #seedLo: number;

  constructor(seeds: { hi: number; lo: number } = randomSeeds()) {
    this.#seedHi = seeds.hi;
    this.#seedLo = seeds.lo;
  }

  get size(): number {
    return this.#count;
  }

  add(name: string): void {
    if (2 * this.#count === this.#words.length) {
      const grown = new Uint32Array(this.#words.length * 2);
      grown.set(this.#words);
      this.#words = grown;
    }
    this.#words[2 * this.#count] = hash32(name, this.#seedLo);
    this.#words[2 * this.#count + 1] = hash32(name, this.#seedHi);
    this.#count++;
    this.#sorted = false;
  }

  /**
   * Sorts for lookups and returns how many names were seen more than once (a duplicate in
   * the listing, or a collision): the listing cannot be trusted to delete by then.
   */
  seal(): number {
    const view = new BigUint64Array(this.#words.buffer, 0, this.#count);
    view.sort();
    this.#sorted = true;
    let repeats = 0;
    for (let i = 1; i < this.#count; i++) if (view[i] === view[i - 1]) repeats++;
    return repeats;
  }

  /** True when `name` was seen (or collides with a name that was). Call {@link seal} first. */
  has(name: string): boolean {
    if (!this.#sorted) throw new Error('SeenNames.has before seal');
    const lo = hash32(name, this.#seedLo);
    const hi = hash32(name, this.#seedHi);
    const w = this.#words;
    let a = 0;
    let b = this.#count - 1;
    while (a <= b) {
      const m = (a + b) >>> 1;
      const mh = w[2 * m + 1]!;
      const ml = w[2 * m]!;
      if (mh === hi && ml === lo) return true;
      if (mh < hi || (mh === hi && ml < lo)) a = m + 1;
      else b = m - 1;
    }
    return false;
  }
}

function randomSeeds(): { hi: number; lo: number } {
  return { hi: randomInt(2 ** 31), lo: randomInt(2 ** 31) };
}

/** A seeded 32-bit hash of a string's UTF-16 code units (multiply-xorshift, murmur3's finaliser). */
function hash32(s: string, seed: number): number {
  let h = seed ^ s.length;
  for (let i = 0; i < s.length; i++) {
    h = Math.imul(h ^ s.charCodeAt(i), 0x5bd1e995);
    h ^= h >>> 15;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
