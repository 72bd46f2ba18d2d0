import { describe, expect, it } from 'vitest';
import { ByteLines } from '../src/cli/byte-lines.js';
import { formatBytes } from '../src/cli/format.js';
import { isoMtime } from '../src/cli/iso-time.js';

/** What `write` hands a ByteLines' stream, as text. */
function written(write: (lines: ByteLines) => void): string {
  const chunks: Buffer[] = [];
  const lines = new ByteLines({ write: (c: string | Uint8Array) => chunks.push(Buffer.from(c)) });
  write(lines);
  lines.flush();
  return Buffer.concat(chunks).toString('latin1');
}

/** A seeded generator: the same values every run. */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

describe(ByteLines.name, () => {
  it('writes sizes as formatBytes(n).padStart(9), around every rounding point and unit', () => {
    const next = random(7);
    const sizes = [0, 1, 999, 1000, 2 ** 53 - 1, -5, 1.5, Number.NaN, 1e15, 999_999_999_999_999];
    for (let unit = 1e3; unit <= 1e15; unit *= 1000) {
      for (const k of [1, 10, 100, 999]) {
        for (const d of [-1, 0, 1]) {
          // k units and .x5 of one (a tie), .x4999…, .x5000…1, 999.95 (rounds to 1000.0).
          sizes.push(k * unit + d, k * unit + unit / 20 + d, k * unit + (unit * 19) / 20 + d);
          sizes.push(999 * unit + (unit * 95) / 100 + d, unit * 1000 - 1 + d);
        }
      }
      for (let i = 0; i < 20_000; i++) sizes.push(Math.floor(next() * unit * 1000));
    }
    const wrong = sizes.filter((n) => {
      const text = written((lines) => lines.size(n, 9));
      return text !== formatBytes(n).padStart(9);
    });
    expect(wrong).toEqual([]);
  });

  it('writes ISO times as isoMtime does, and numbers as String does', () => {
    const next = random(11);
    const times = [1, -1, 999, 86_399_999, 86_400_000, 253_402_300_799_999, 253_402_300_800_000];
    for (let i = 0; i < 20_000; i++) times.push(Math.floor(next() * 253_402_300_800_000));
    for (const ms of times) {
      expect(written((lines) => lines.isoTime(ms))).toBe(isoMtime(ms));
    }
    for (const n of [0, 7, 10, 123_456_789, 2 ** 53 - 1, 2 ** 53, -3, 1.25, 1e21]) {
      expect(written((lines) => lines.number(n))).toBe(String(n));
    }
  });
});
