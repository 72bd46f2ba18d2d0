import { InvalidConfigError } from './errors.js';
import { redactText } from '../util/redact.js';
import { BACKENDS, backendFor, type StorageKind } from './registry.js';
import { serviceOptionsFromUrl, splitServiceOptions } from './limits/options.js';

export interface StorageSpec {
  kind: StorageKind;
  /** Validated options. */
  options: unknown;
  /** Stable, secret-free name of the place (finds the storage again on the next scan). */
  location: string;
}

/** Text that is a URL (`scheme://…`) rather than a local path. */
export const URL_LIKE = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * Reads what a user typed: a URL (`webdav://…`, `memory://name`) or a plain local path.
 * Extra options (from flags) are merged over what the URL says.
 */
export function parseStorageSpec(input: string, extra: Record<string, unknown> = {}): StorageSpec {
  let kind: StorageKind;
  let raw: Record<string, unknown>;
  if (URL_LIKE.test(input)) {
    let url: URL;
    try {
      url = new URL(input);
    } catch {
      throw new InvalidConfigError(`not a valid storage URL: ${redactText(input)}`);
    }
    const scheme = url.protocol.slice(0, -1).toLowerCase();
    const found = (
      Object.entries(BACKENDS) as [StorageKind, (typeof BACKENDS)[StorageKind]][]
    ).find(([, b]) => (b.schemes as readonly string[]).includes(scheme));
    if (!found?.[1].fromUrl) {
      throw new InvalidConfigError(`unsupported storage URL scheme "${scheme}:"`);
    }
    kind = found[0];
    // The StorageService's settings (`?maxConcurrency=16`) are not the backend's business.
    const own = serviceOptionsFromUrl(url);
    raw = { ...found[1].fromUrl(url), ...own, ...extra };
  } else {
    kind = 'local';
    raw = { root: input, ...extra };
  }
  const backend = backendFor(kind);
  const split = splitServiceOptions(raw);
  const options = backend.parseOptions(split.backend);
  // Kept beside the backend's options; the StorageService takes them out again at connect.
  return {
    kind,
    options: { ...(options as object), ...split.service },
    location: backend.location(options),
  };
}
