import { describe, expect, it } from 'vitest';
import { isoMtime } from '../src/cli/iso-time.js';

describe(isoMtime.name, () => {
  it('writes every time as Date#toISOString does, and no time as undefined', () => {
    const edges = [
      1,
      999,
      86_399_999,
      86_400_000,
      951_782_400_000, // 2000-02-29
      1_796_220_679_004,
      Date.UTC(9999, 11, 31, 23, 59, 59, 999),
      Date.UTC(10_000, 0, 1), // six-digit year: as Date writes it
      -1, // before 1970
      1.5, // not a whole millisecond
    ];
    // Random times twice over: the second pass reads the dates it kept.
    let seed = 7;
    const random = () => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647;
    const times = Array.from({ length: 5000 }, () => Math.floor(random() * 253_402_300_800_000));
    for (const ms of [...edges, ...times, ...times]) {
      expect(isoMtime(ms)).toBe(new Date(ms).toISOString());
    }
    expect(isoMtime(0)).toBeUndefined();
  });
});
