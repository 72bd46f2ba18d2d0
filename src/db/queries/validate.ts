import { normalizePath, subtreeRange } from '../../storage/paths.js';
import { QueryError } from './errors.js';
import type { SortKey, SortOrder } from './types.js';

/** Every query parameter is checked here, once: a bad one is a QueryError naming it. */

/** @default 100 */
export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;
/** Longer needles are no real name (a name is at most 255 bytes on every file system trawl reads). */
const MAX_NEEDLE = 1024;

const bad = (field: string, message: string) => new QueryError('BAD_QUERY', field, message);

/** A positive integer id (tenant, storage). */
export function idOf(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw bad(field, `expected a positive integer, got ${show(value)}`);
  }
  return value;
}

/** An integer in range, or undefined when absent. */
export function optionalInt(field: string, value: unknown, min = 0): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw bad(field, `expected an integer from ${min} up, got ${show(value)}`);
  }
  return value;
}

/** Clamped to 1..1000; only a non-number is refused. */
export function limitOf(value: unknown): number {
  if (value === undefined || value === null) return DEFAULT_LIMIT;
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw bad('limit', `expected a number from 1 to ${MAX_LIMIT}, got ${show(value)}`);
  }
  return Math.min(MAX_LIMIT, Math.max(1, Math.floor(value)));
}

export function sortOf(value: unknown): SortKey {
  if (value === undefined || value === null) return 'name';
  if (value === 'name' || value === 'size' || value === 'mtime') return value;
  throw bad('sort', `expected name, size or mtime, got ${show(value)}`);
}

export function orderOf(value: unknown): SortOrder {
  if (value === undefined || value === null) return 'asc';
  if (value === 'asc' || value === 'desc') return value;
  throw bad('order', `expected asc or desc, got ${show(value)}`);
}

/** A storage path in contract form (`/`, `/a/b`); `..` is refused. */
export function dirOf(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw bad(field, `expected a directory path such as /photos, got ${show(value)}`);
  }
  try {
    return normalizePath(value);
  } catch (error) {
    throw bad(field, (error as Error).message);
  }
}

/** The subtree below `pathPrefix`, as the bytewise range paths sort in. */
export function subtreeOf(value: unknown): { lower: string; upper: string } | undefined {
  if (value === undefined || value === null) return undefined;
  return subtreeRange(dirOf('pathPrefix', value));
}

/** The name substring; an empty one filters nothing. */
export function needleOf(value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw bad('name', `expected a string, got ${show(value)}`);
  if (value.length > MAX_NEEDLE) throw bad('name', `longer than ${MAX_NEEDLE} characters`);
  return value;
}

export function mediaKindOf(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !/^[a-z][a-z0-9-]{0,31}$/.test(value)) {
    throw bad('mediaKind', `expected a media kind such as image or video, got ${show(value)}`);
  }
  return value;
}

export function booleanOf(field: string, value: unknown): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw bad(field, `expected true or false, got ${show(value)}`);
  return value;
}

/** Both ends of an inclusive range; `from` after `to` is refused, naming `toField`. */
export function rangeOf(
  fromField: string,
  from: unknown,
  toField: string,
  to: unknown,
  min: number,
): { from?: number; to?: number } {
  const a = optionalInt(fromField, from, min);
  const b = optionalInt(toField, to, min);
  if (a !== undefined && b !== undefined && a > b) {
    throw bad(toField, `${b} is below ${fromField} ${a}`);
  }
  return { ...(a === undefined ? {} : { from: a }), ...(b === undefined ? {} : { to: b }) };
}

function show(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null)
    return String(value);
  return typeof value;
}
