import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { sameValue } from '../src/util/same-value.js';

/** Pairs on which sameValue must answer as isDeepStrictEqual does (catalog/storages.ts). */
function pairs(): [unknown, unknown][] {
  const holed: unknown[] = [];
  holed[1] = 1;
  const named = Object.assign([undefined, 1], { extra: 2 });
  const sym = Symbol('s');
  return [
    [1, 1],
    [1, '1'],
    [0, -0],
    [NaN, NaN],
    [null, undefined],
    [null, {}],
    ['a', 'a'],
    [true, false],
    [[], []],
    [
      ['a', 'b'],
      ['a', 'b'],
    ],
    [
      ['a', 'b'],
      ['b', 'a'],
    ],
    [['a'], ['a', 'b']],
    [holed, [undefined, 1]],
    [named, [undefined, 1]],
    [named, Object.assign([undefined, 1], { extra: 2 })],
    [
      { a: 1, b: [1, 2] },
      { b: [1, 2], a: 1 },
    ],
    [{ a: 1 }, { a: 1, b: undefined }],
    [{ a: undefined }, { b: undefined }],
    [{ a: { b: { c: 'x' } } }, { a: { b: { c: 'x' } } }],
    [{ a: { b: { c: 'x' } } }, { a: { b: { c: 'y' } } }],
    [{}, Object.create(null)],
    [Object.assign(Object.create(null), { a: 1 }), Object.assign(Object.create(null), { a: 1 })],
    [{}, []],
    [{ 0: 'a', length: 1 }, ['a']],
    [{ [sym]: 1 }, {}],
    [{ [sym]: 1 }, { [sym]: 1 }],
    [new Date(0), new Date(0)],
    [new Date(0), new Date(1)],
    [{ d: new Date(0) }, { d: new Date(0) }],
    [{ d: new Date(0) }, { d: {} }],
    [new Map([[1, 2]]), new Map([[1, 2]])],
    [/a/g, /a/g],
    [/a/g, /a/i],
    [new (class A {})(), {}],
  ];
}

describe('sameValue', () => {
  it('answers every pair as isDeepStrictEqual does', () => {
    for (const [i, [a, b]] of pairs().entries()) {
      const expected = isDeepStrictEqual(a, b);
      expect(sameValue(a, b), `pair ${i}`).toBe(expected);
      expect(sameValue(b, a), `pair ${i}, swapped`).toBe(expected);
    }
  });
});
