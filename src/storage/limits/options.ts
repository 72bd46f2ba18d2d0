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
}

export const SERVICE_OPTION_KEYS = ['maxConcurrency', 'limitKey', 'tenantMaxConcurrency'] as const;

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
    if (key === 'limitKey') {
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
  const raw: Record<string, string> = {};
  for (const key of SERVICE_OPTION_KEYS) {
    const value = url.searchParams.get(key);
    if (value === null) continue;
    raw[key] = value;
    // Only when present: a delete re-encodes the whole query string.
    url.searchParams.delete(key);
  }
  return splitServiceOptions(raw).service;
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
