#!/usr/bin/env node
/**
 * The cost of a listing digest alone (src/scan/listing-digest.ts): 10,100 digests (the bench
 * tree's directories) of a packed listing of 20 entries, three rounds, after `npm run build`.
 * Run under the bench lock: `flock /tmp/bench.lock node bench/listing-digest.mjs`.
 */
import { digestSalt, listingDigest } from '../dist/scan/listing-digest.js';
import { PackedListing } from '../dist/storage/packed.js';

const n = 20;
const names = Array.from({ length: n }, (_, i) => `file-number-${i}.jpg`).join('/');
const reply = {
  names,
  types: new Uint8Array(n),
  sizes: new Float64Array(n).fill(12345),
  mtimes: new Float64Array(n).fill(1.6e12),
};
const salt = digestSalt({});
const listing = new PackedListing('/some/dir', reply, 0, names.length, 0, n);
for (let round = 0; round < 3; round++) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < 10_100; i++) listingDigest(listing, salt);
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  console.log(`10,100 digests: ${ms.toFixed(1)} ms (${((ms * 1000) / 10_100).toFixed(2)} µs each)`);
}
