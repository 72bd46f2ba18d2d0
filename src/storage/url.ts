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

/** `scheme://` with nothing (or only a user) before the path: no host, no bucket. */
const EMPTY_AUTHORITY = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?(?:[/?#]|$)/i;

/** Every URL scheme a user can write a storage with, for messages: `ftp://, ftps://, …`. */
function knownSchemes(): string {
  return Object.values(BACKENDS)
    .filter((b) => !b.url.hidden)
    .flatMap((b) => b.schemes.map((s) => `${s}://`))
    .join(', ');
}

/**
 * Reads what a user typed: a URL (`webdav://…`, `memory://name`) or a plain local path.
 * Extra options (from flags) are merged over what the URL says.
 */
export function parseStorageSpec(input: string, extra: Record<string, unknown> = {}): StorageSpec {
  let kind: StorageKind;
  let raw: Record<string, unknown>;
  if (URL_LIKE.test(input)) {
    const scheme = input.slice(0, input.indexOf(':')).toLowerCase();
    const found = (
      Object.entries(BACKENDS) as [StorageKind, (typeof BACKENDS)[StorageKind]][]
    ).find(([, b]) => (b.schemes as readonly string[]).includes(scheme));
    const toRaw = found?.[1].fromUrl?.bind(found[1]);
    if (!found || !toRaw) {
      throw new InvalidConfigError(
        `unsupported storage URL scheme "${scheme}:"; trawl knows ${knownSchemes()} (or a plain folder path)`,
      );
    }
    const [foundKind, backend] = found;
    const form = backend.url;
    // `webdav://` alone: say what is missing rather than what the URL parser says ("Invalid URL").
    // The example, not the pattern, is quoted: `user[:password]@` in a pattern reads as a
    // URL with a password to every redaction on the way to the terminal.
    const like = `as in ${form.example} (trawl --help shows every storage URL)`;
    if (form.names && EMPTY_AUTHORITY.test(input)) {
      throw new InvalidConfigError(`${scheme}:// needs a ${form.names}, ${like}`);
    }
    const invalid = () =>
      new InvalidConfigError(
        `not a valid ${foundKind} storage URL: ${redactText(input)}; write it ${like}`,
      );
    let url: URL;
    try {
      url = new URL(input);
    } catch {
      throw invalid();
    }
    kind = foundKind;
    // The StorageService's settings (`?maxConcurrency=16`) are not the backend's business.
    const own = serviceOptionsFromUrl(url);
    let fromUrl: Record<string, unknown>;
    try {
      fromUrl = toRaw(url);
    } catch (error) {
      // A URL the WHATWG parser accepts for one scheme may not survive the backend's own
      // rewrite (webdav: to http:); a TypeError here is that, never a bug of the user's.
      if (error instanceof TypeError) throw invalid();
      throw error;
    }
    raw = { ...fromUrl, ...own, ...extra };
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
