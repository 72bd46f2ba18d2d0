/**
 * Pieces the network backends (sftp, ftp, smb) share: reading raw options from a URL, the
 * database or the API into typed values with messages that name the bad value, a deadline
 * around one request, and scrubbing secrets out of text a server or library produced.
 */
import { InvalidConfigError, StorageError, TimeoutError } from '../errors.js';

export type RawOptions = Record<string, unknown>;

export function asRaw(raw: unknown, kind: string): RawOptions {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InvalidConfigError(`${kind} options must be an object, got ${JSON.stringify(raw)}`);
  }
  return raw as RawOptions;
}

export function optString(raw: RawOptions, key: string): string | undefined {
  const v = raw[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') {
    throw new InvalidConfigError(`Expected \`${key}\` to be a string, got ${JSON.stringify(v)}`);
  }
  return v;
}

export function reqString(raw: RawOptions, key: string, kind: string): string {
  const v = optString(raw, key);
  if (v === undefined) {
    throw new InvalidConfigError(
      `${kind} storage needs \`${key}\`, got ${JSON.stringify(raw[key])}`,
    );
  }
  return v;
}

export function optBool(raw: RawOptions, key: string, fallback: boolean): boolean {
  const v = raw[key];
  if (v === undefined || v === null || v === '') return fallback;
  if (v === true || v === 'true' || v === '1' || v === 'yes') return true;
  if (v === false || v === 'false' || v === '0' || v === 'no') return false;
  throw new InvalidConfigError(`Expected \`${key}\` to be true or false, got ${JSON.stringify(v)}`);
}

export function optInt(
  raw: RawOptions,
  key: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const v = raw[key];
  if (v === undefined || v === null || v === '') return fallback;
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new InvalidConfigError(
      `Expected \`${key}\` to be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`,
    );
  }
  return n;
}

/** `user`, `password`, `host`, `port` and query parameters of a storage URL, decoded. */
export function urlParts(url: URL): RawOptions {
  const raw: RawOptions = {};
  for (const [key, value] of url.searchParams) raw[key] = value;
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
