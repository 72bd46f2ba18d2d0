import { InvalidConfigError } from '../errors.js';

/**
 * Settings that belong to the StorageService, not to a backend, but travel with a storage's
 * options (and so with its URL: `webdav://host/dir?maxConcurrency=16`). The service takes
 * them out before the backend parses the rest, so every backend honours them without
 * knowing them.
 */
export interface ServiceOptions {
  /** Requests in flight to this storage. */
  maxConcurrency?: number;
  /** The shared cap this storage counts against, instead of its `kind:host`. */
  limitKey?: string;
  /** Cap on requests in flight for all storages of this storage's tenant. */
  tenantMaxConcurrency?: number;
  /**
   * Gitignore patterns the storage's scans leave out (docs/excludes.md). The scan's, not the
   * service's: it travels here for the same reason, every kind has it and no backend reads it.
   */
  exclude?: string[];
}

export const SERVICE_OPTION_KEYS = [
  'maxConcurrency',
  'limitKey',
  'tenantMaxConcurrency',
  'exclude',
] as const;

/** Patterns a storage's `exclude` list holds at most, and characters a pattern. */
export const MAX_EXCLUDES = 256;
export const MAX_EXCLUDE_LENGTH = 1024;

/** Splits raw options into the service's settings (validated) and the backend's options. */
export function splitServiceOptions(raw: unknown): {
  service: ServiceOptions;
  backend: unknown;
} {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { service: {}, backend: raw };
  }
  const backend: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  const service: ServiceOptions = {};
  for (const key of SERVICE_OPTION_KEYS) {
    const value = backend[key];
    delete backend[key];
    if (value === undefined) continue;
    if (key === 'exclude') {
      const list = excludeList(value);
      if (list.length > 0) service.exclude = list;
    } else if (key === 'limitKey') {
      if (typeof value !== 'string' || value === '') {
        throw new InvalidConfigError(
          `Expected \`limitKey\` to be a non-empty string, got ${JSON.stringify(value)}`,
        );
      }
      service.limitKey = value;
    } else {
      service[key] = positiveInt(key, value);
    }
  }
  return { service, backend };
}

/**
 * Takes the service's settings out of a storage URL's query string, so a backend's URL
 * parser never sees them; merge the result into the parsed options.
 */
export function serviceOptionsFromUrl(url: URL): ServiceOptions {
  const raw: Record<string, string | string[]> = {};
  for (const key of SERVICE_OPTION_KEYS) {
    const value = key === 'exclude' ? url.searchParams.getAll(key) : url.searchParams.get(key);
    if (value === null || value.length === 0) continue;
    raw[key] = value;
    // Only when present: a delete re-encodes the whole query string.
    url.searchParams.delete(key);
  }
  return splitServiceOptions(raw).service;
}

/**
 * A storage's `exclude` list: one pattern (a string) or a list of them, each a non-empty
 * line. Kept as given (deduplicated), since order decides between a pattern and its `!`.
 */
export function excludeList(value: unknown): string[] {
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list)) {
    throw new InvalidConfigError(
      `Expected \`exclude\` to be a list of gitignore patterns, got ${JSON.stringify(value)}`,
    );
  }
  if (list.length > MAX_EXCLUDES) {
    throw new InvalidConfigError(
      `Expected \`exclude\` to hold at most ${MAX_EXCLUDES} patterns, got ${list.length}`,
    );
  }
  const out: string[] = [];
  for (const p of list) {
    if (
      typeof p !== 'string' ||
      p.trim() === '' ||
      p.length > MAX_EXCLUDE_LENGTH ||
      /[\r\n\0]/.test(p)
    ) {
      throw new InvalidConfigError(
        `Expected each \`exclude\` pattern to be one non-empty line of at most ${MAX_EXCLUDE_LENGTH} characters, got ${JSON.stringify(p)}`,
      );
    }
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

function positiveInt(name: string, value: unknown): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw new InvalidConfigError(
      `Expected \`${name}\` to be an integer from 1 and up, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}
