import { isDeepStrictEqual } from 'node:util';

/**
 * `isDeepStrictEqual(a, b)`, answered here for what storage options hold (primitives, and
 * arrays and plain objects of them) and handed to it for anything else (a Date, a Map, a
 * class instance, symbol keys, holes). Why: its first call loads Node's comparison module,
 * ~0.6 ms of every `trawl scan`, which compares a storage's options with the stored ones
 * (bench:startup, docs/benchmarks.md).
 */
export function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const proto = plainPrototype(a);
  if (proto === undefined || proto !== plainPrototype(b)) return isDeepStrictEqual(a, b);
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  return keys.every((key) => Object.hasOwn(y, key) && sameValue(x[key], y[key]));
}

/**
 * The prototype of a plain array (no holes, no other keys, no symbols) or plain object
 * (`{}` or `Object.create(null)`, no symbols); undefined for anything else.
 */
function plainPrototype(value: object): object | null | undefined {
  if (Object.getOwnPropertySymbols(value).length > 0) return undefined;
  const proto = Object.getPrototypeOf(value) as object | null;
  if (Array.isArray(value)) {
    return proto === Array.prototype && Object.keys(value).length === value.length
      ? proto
      : undefined;
  }
  return proto === Object.prototype || proto === null ? proto : undefined;
}
