/**
 * Pieces the network backends share: reading a storage URL's parts (S3 and WebDAV its query), a
 * deadline around one request, and scrubbing secrets out of text a server or library
 * produced. Typed option readers are in `../options.ts`, shared with every backend.
 */
import { StorageError, TimeoutError } from '../errors.js';
import type { RawOptions } from '../options.js';

/**
 * A storage URL's query parameters, each an option (`?endpoint=…`, `timeoutMs=…`); the
 * StorageService's own (maxConcurrency) were taken out before a backend sees the URL.
 */
export function queryOptions(url: URL): RawOptions {
  const raw: RawOptions = {};
  for (const [key, value] of url.searchParams) raw[key] = value;
  return raw;
}

/** `user`, `password`, `host`, `port` and query parameters of a storage URL, decoded. */
export function urlParts(url: URL): RawOptions {
  const raw = queryOptions(url);
  if (url.hostname) raw.host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (url.port) raw.port = url.port;
  if (url.username) raw.user = decodeURIComponent(url.username);
  if (url.password) raw.password = decodeURIComponent(url.password);
  return raw;
}

/** A URL path (percent-encoded) as a decoded absolute path without a trailing slash. */
export function decodedPath(pathname: string): string {
  return trimFolder(decodeURIComponent(pathname || '/'));
}

/** A server folder without trailing slashes, `/` for the top. */
export function trimFolder(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  return trimmed === '' ? '/' : trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}

/** `host` or `[v6]` as it appears in a URL. */
export function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Replaces every occurrence of each secret in `text` (a server may echo what it was sent). */
export function scrub(text: string, secrets: ReadonlyArray<string | undefined>): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 3) out = out.split(s).join('***');
  return out;
}

/**
 * Runs one request with a deadline and an optional abort signal. The request itself is
 * not cancelled (these protocols have no per-request cancel): its late answer is dropped.
 */
export function withDeadline<T>(
  work: Promise<T>,
  timeoutMs: number,
  what: string,
  path: string,
  signal?: AbortSignal,
): Promise<T> {
  if (signal?.aborted) return Promise.reject(new StorageError('CANCELLED', 'cancelled', { path }));
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new TimeoutError(`${what} took longer than ${timeoutMs} ms`, { path })),
      timeoutMs,
    );
    const onAbort = () => reject(new StorageError('CANCELLED', 'cancelled', { path }));
    signal?.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    });
  });
}

/** Storage path (`/a/b`) under a server-side base folder (`/srv/data`). */
export function serverPath(base: string, path: string): string {
  if (path === '/') return base;
  return base === '/' ? path : `${base}${path}`;
}

/**
 * Whether a thrown value is a programming error (trawl's or a library's) rather than
 * something a server said: a backend's error mapping passes these on as INTERNAL (see
 * `toStorageError`) instead of dressing them up as one directory's PROTOCOL error.
 */
export function isBug(error: unknown): boolean {
  return (
    error instanceof TypeError ||
    error instanceof ReferenceError ||
    error instanceof RangeError ||
    error instanceof SyntaxError
  );
}
