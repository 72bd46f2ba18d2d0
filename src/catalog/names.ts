import { basename } from 'node:path';
import { URL_LIKE } from '../storage/url.js';
import { CatalogError } from './errors.js';

/**
 * A storage's name: what the command line takes in place of a path or URL. No `/`, `:` or
 * space, so a name never reads as a path or a URL; a bare word that is also a relative path
 * means the storage (write `./word` for the folder).
 */
export const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function checkName(name: string): string {
  if (!NAME.test(name)) {
    throw new CatalogError(
      'INVALID',
      `Expected a storage name of 1 to 64 letters, digits, '.', '_' or '-' (starting with a letter or digit), got ${JSON.stringify(name)}`,
    );
  }
  return name;
}

/** Whether what the user typed could be a name at all (else it is a path or URL). */
export function couldBeName(text: string): boolean {
  return NAME.test(text) && !URL_LIKE.test(text);
}

/**
 * A readable name for a place: a local folder's last component, a remote's host (or
 * bucket) and last path segment: `Music`, `nas-media`, `photos-2024`.
 */
export function nameFor(location: string): string {
  let parts: string[];
  if (URL_LIKE.test(location)) {
    const url = new URL(location);
    const last = url.pathname.split('/').filter((s) => s !== '');
    const segment = last.length > 0 ? decodeURIComponent(last[last.length - 1]!) : '';
    parts = [url.hostname.replace(/^\[|\]$/g, ''), segment];
  } else {
    parts = [basename(location) || 'root'];
  }
  const slug = parts
    .filter((p) => p !== '')
    .join('-')
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 56)
    .replace(/[-.]+$/, '');
  return slug === '' ? 'storage' : slug;
}

/** `base`, or `base-2`, `base-3`… whichever is not taken. */
export function freeName(base: string, taken: ReadonlySet<string>): string {
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) {
    const candidate = `${base}-${i}`;
    if (!taken.has(candidate)) return candidate;
  }
}
