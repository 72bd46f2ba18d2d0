/**
 * Readers of the filter flags `find`, `ls` and `du` share. Each throws commander's
 * InvalidArgumentError, which prints as one line naming the flag and the bad value.
 */
import { InvalidArgumentError } from 'commander';
import type { MediaKind } from '../scan/media.js';

/**
 * Every media kind the scan assigns. A Record, so that a kind added to MediaKind fails to
 * compile here until it is listed.
 */
const KINDS: Record<MediaKind, true> = { video: true, audio: true, image: true, subtitle: true };
export const MEDIA_KINDS = Object.keys(KINDS) as MediaKind[];

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  ki: 2 ** 10,
  kib: 2 ** 10,
  mi: 2 ** 20,
  mib: 2 ** 20,
  gi: 2 ** 30,
  gib: 2 ** 30,
  ti: 2 ** 40,
  tib: 2 ** 40,
};

export interface SizeBound {
  /** `+`: at least; `-`: at most; none: exactly. */
  op: '+' | '-' | '=';
  bytes: number;
}

/**
 * `--size`, as fd reads it: `+1G` at least, `-10k` at most, `500` exactly; k, m, g, t are
 * powers of 1000 and ki, mi, gi, ti of 1024 (any case, an optional trailing b).
 */
export function parseSize(value: string): SizeBound {
  const m = /^([+-]?)(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value.trim());
  const unit = m ? UNITS[m[3]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new InvalidArgumentError(
      `expected a size such as +1G, -10k or 500 (units k m g t, ki mi gi ti), got ${JSON.stringify(value)}`,
    );
  }
  const bytes = Math.round(Number(m[2]) * unit);
  if (!Number.isSafeInteger(bytes)) {
    throw new InvalidArgumentError(`size too large: ${JSON.stringify(value)}`);
  }
  return { op: (m[1] || '=') as SizeBound['op'], bytes };
}

/** The inclusive byte range several `--size` bounds leave; undefined ends are open. */
export function sizeRange(bounds: readonly SizeBound[]): { min?: number; max?: number } {
  let min: number | undefined;
  let max: number | undefined;
  for (const b of bounds) {
    if (b.op !== '-') min = Math.max(min ?? 0, b.bytes);
    if (b.op !== '+') max = Math.min(max ?? Infinity, b.bytes);
  }
  return { ...(min === undefined ? {} : { min }), ...(max === undefined ? {} : { max }) };
}

const AGES: Record<string, number> = {
  s: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  y: 365 * 86_400_000,
};

/**
 * `--newer` / `--older`: an age back from `now` (`30m`, `12h`, `7d`, `2w`, `1y`) or a date
 * (`2026-01-01`, UTC midnight, or an ISO time such as `2026-01-01T08:00:00Z`). Epoch ms.
 */
export function parseWhen(value: string, now: number = Date.now()): number {
  const text = value.trim();
  const age = /^(\d+)\s*([a-z]+)$/i.exec(text);
  if (age) {
    const unit = AGES[age[2]!.toLowerCase()];
    if (unit !== undefined) return now - Number(age[1]) * unit;
  }
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(text)) {
    const t = Date.parse(text.length === 10 ? `${text}T00:00:00Z` : text.replace(' ', 'T'));
    if (!Number.isNaN(t)) return t;
  }
  throw new InvalidArgumentError(
    `expected an age such as 7d, 12h, 30m, 2w (units s m h d w y) or a date such as 2026-01-01, got ${JSON.stringify(value)}`,
  );
}

/** A comma list, repeatable: `--ext mkv,mp4 --ext avi`. */
export function collectList(value: string, previous: string[] = []): string[] {
  const items = value.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) {
    throw new InvalidArgumentError(`expected a comma-separated list, got ${JSON.stringify(value)}`);
  }
  return [...previous, ...items];
}

export function collectExtensions(value: string, previous: string[] = []): string[] {
  const out = collectList(value, previous);
  for (const ext of out) {
    if (!/^\.?[^./\s][^/\s]*$/.test(ext)) {
      throw new InvalidArgumentError(
        `expected an extension such as mkv, got ${JSON.stringify(ext)}`,
      );
    }
  }
  return out;
}

export function collectKinds(value: string, previous: string[] = []): string[] {
  const out = collectList(value, previous);
  for (const kind of out) {
    if (!(MEDIA_KINDS as string[]).includes(kind)) {
      throw new InvalidArgumentError(
        `expected a media kind (${MEDIA_KINDS.join(', ')}), got ${JSON.stringify(kind)}`,
      );
    }
  }
  return out;
}

export function collectSize(value: string, previous: SizeBound[] = []): SizeBound[] {
  return [...previous, parseSize(value)];
}

/** `--type f|d` (also `file`, `dir`): whether directories are wanted. */
export function parseType(value: string): boolean {
  if (value === 'f' || value === 'file') return false;
  if (value === 'd' || value === 'dir' || value === 'directory') return true;
  throw new InvalidArgumentError(
    `expected f (files) or d (directories), got ${JSON.stringify(value)}`,
  );
}

export type SortFlag = 'name' | 'size' | 'mtime';

export function parseSort(value: string): SortFlag {
  if (value === 'name' || value === 'size' || value === 'mtime') return value;
  throw new InvalidArgumentError(`expected name, size or mtime, got ${JSON.stringify(value)}`);
}

/**
 * The order a sort flag means, as ls has it: names A to Z, sizes largest and times newest
 * first; `reverse` turns it round.
 */
export function orderOf(sort: SortFlag | 'path', reverse: boolean): 'asc' | 'desc' {
  const natural = sort === 'size' || sort === 'mtime' ? 'desc' : 'asc';
  if (!reverse) return natural;
  return natural === 'asc' ? 'desc' : 'asc';
}
