/**
 * The webdav storage's definition (URL form, options, parsing): what every command that parses
 * a storage needs. Its client, ./webdav.js with the protocol code under it, loads at the first
 * connect (deferred.ts): a local scan evaluates none of it.
 */
import { InvalidConfigError } from '../errors.js';
import { defineBackend } from '../backend.js';
import {
  connectTimeoutMs,
  TIMEOUT_MS,
  withEnv,
  type OptionSchema,
  type OptionValues,
} from '../options.js';
import type { BackendDeps } from '../types.js';
import { deferredClient } from './deferred.js';
import { queryOptions } from './remote-common.js';
import type { WebdavOptions } from './webdav.js';
import { redactText } from '../../util/redact.js';

/**
 * The default cap on one listing's body. It used to bound a buffered answer (256 MiB, and
 * 4,000,000 entries held whole cost 2.6 GB); now the answer streams through in pages and
 * memory is bounded by the reader's own limits, and a stalled server by the idle timeout.
 * What is left for a cap is a server that streams forever: 16 GiB is ~30 million entries
 * of Apache's ~550 bytes, far above any real directory, and still ends such a listing.
 */
const MAX_RESPONSE_BYTES = 16 * 1024 ** 3;

/** Every webdav option, declared once: parsing, redaction, sealing and docs come from here. */
export const WEBDAV_OPTIONS = {
  url: {
    type: 'string',
    doc: '`http(s)://host[:port]/path` of the root (from the URL; credentials in it move to `username`/`password`).',
  },
  username: { type: 'string', env: ['TRAWL_WEBDAV_USER'], doc: 'Basic-auth user.' },
  password: {
    type: 'string',
    secret: true,
    env: ['TRAWL_WEBDAV_PASSWORD'],
    doc: 'Basic-auth password.',
  },
  timeoutMs: {
    ...TIMEOUT_MS,
    doc: "The longest wait without progress, in ms: for an answer's head, then for each next piece of a streamed listing.",
  },
  connectTimeoutMs: connectTimeoutMs(
    3_600_000,
    'TCP and TLS connect, and the PROPFIND Depth 0 probe of `connect()`/`check()`, in ms.',
  ),
  maxSockets: { type: 'int', default: 64, doc: 'Connections kept alive to the server.' },
  insecure: {
    type: 'bool',
    default: false,
    doc: 'Accept a TLS certificate that does not verify (self-signed).',
  },
  maxResponseBytes: {
    type: 'int',
    default: MAX_RESPONSE_BYTES,
    doc: 'Largest multistatus body of one listing, in bytes: a sanity bound (16 GiB), not a memory bound.',
  },
} as const satisfies OptionSchema;

function finishWebdavOptions(r: OptionValues<typeof WEBDAV_OPTIONS>): WebdavOptions {
  const href = r.url;
  if (href === undefined) {
    throw new InvalidConfigError(
      `webdav storage needs a "url" (http:// or https://), got ${JSON.stringify(href)}`,
    );
  }
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    throw new InvalidConfigError(`webdav "url" is not a valid URL: ${redactText(href)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidConfigError(
      `webdav "url" must be http:// or https://, got ${JSON.stringify(url.protocol)}`,
    );
  }
  // Credentials live in their own options, never inside the stored URL.
  let username = r.username;
  let password = r.password;
  if (url.username) username ??= decodeURIComponent(url.username);
  if (url.password) password ??= decodeURIComponent(url.password);
  url.username = '';
  url.password = '';
  url.search = '';
  url.hash = '';
  const options: WebdavOptions = {
    url: url.href.replace(/\/+$/, ''),
    timeoutMs: r.timeoutMs,
    connectTimeoutMs: r.connectTimeoutMs,
    maxSockets: r.maxSockets,
    insecure: r.insecure,
    maxResponseBytes: r.maxResponseBytes,
  };
  if (username !== undefined) options.username = username;
  if (password !== undefined) options.password = password;
  return options;
}

export const webdavBackend = defineBackend('webdav', {
  schemes: ['webdav', 'webdavs'],
  url: {
    pattern: 'webdav[s]://[user[:password]@]host[:port]/path',
    names: 'host',
    note: 'webdavs:// is HTTPS',
    example: 'webdavs://me@cloud.example.com/remote.php/dav/files/me',
  },
  options: WEBDAV_OPTIONS,
  fromUrl(url) {
    const raw = queryOptions(url);
    const http = new URL(
      url.href.replace(/^webdavs?:/i, (s) => (s.toLowerCase() === 'webdavs:' ? 'https:' : 'http:')),
    );
    if (url.username) raw.username = decodeURIComponent(url.username);
    if (url.password) raw.password = decodeURIComponent(url.password);
    http.username = '';
    http.password = '';
    http.search = '';
    raw.url = http.href;
    return raw;
  },
  finish: finishWebdavOptions,
  create(options, deps: BackendDeps) {
    const withCredentials = withEnv(WEBDAV_OPTIONS, options, deps.env);
    return deferredClient(
      async () =>
        new (await import('./webdav.js')).WebdavClient(withCredentials, deps.addressPolicy),
      { readHead: true },
    );
  },
  location(options) {
    const url = new URL(options.url);
    const scheme = url.protocol === 'https:' ? 'webdavs' : 'webdav';
    const user = options.username ? `${encodeURIComponent(options.username)}@` : '';
    return `${scheme}://${user}${url.host}${url.pathname.replace(/\/+$/, '')}`;
  },
  limitHost: (options) => new URL(options.url).host,
});
