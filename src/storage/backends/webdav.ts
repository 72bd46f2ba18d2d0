import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { cancelledError, InvalidConfigError, ProtocolError, UnavailableError } from '../errors.js';
import { defineBackend } from '../backend.js';
import {
  connectTimeoutMs,
  TIMEOUT_MS,
  withEnv,
  type OptionSchema,
  type OptionValues,
} from '../options.js';
import { redactText } from '../../util/redact.js';
import type { AddressPolicy } from '../net/address-policy.js';
import { guardAgent } from '../net/guard.js';
import type { Entry, ListOptions, ReadHeadOptions, StorageClient } from '../types.js';
import { getHead, propfind, type PropfindAnswer } from './webdav/http.js';
import { MultistatusListing, hrefPath } from './webdav/multistatus.js';

export { mapWebdavError, parseRetryAfter } from './webdav/errors.js';
export {
  MultistatusListing,
  decodeSegment,
  hrefPath,
  type ListingPlace,
} from './webdav/multistatus.js';

export interface WebdavOptions {
  /** `http(s)://host[:port]/path` of the storage's root, without credentials. */
  url: string;
  /** Basic-auth user. @default env TRAWL_WEBDAV_USER, else none */
  username?: string;
  /** Basic-auth password. @default env TRAWL_WEBDAV_PASSWORD, else none */
  password?: string;
  /**
   * The longest wait for the server without progress: for an answer's head, then for each
   * next piece of a listing's body (a listing that keeps streaming may take longer). @default 30000
   */
  timeoutMs: number;
  /**
   * Establishing a connection (TCP and TLS) may take this long; so may the probe that
   * `connect()` and `check()` send (PROPFIND Depth 0 of the root). @default 10000
   */
  connectTimeoutMs: number;
  /** Connections kept alive to the server. @default 64 */
  maxSockets: number;
  /** Accept a TLS certificate that does not verify (self-signed). @default false */
  insecure: boolean;
  /**
   * Largest multistatus body accepted, in bytes: a sanity bound on one streamed listing,
   * not a memory bound (nothing is buffered). @default 17179869184 (16 GiB)
   */
  maxResponseBytes: number;
}

/**
 * The default cap on one listing's body. It used to bound a buffered answer (256 MiB, and
 * 4,000,000 entries held whole cost 2.6 GB); now the answer streams through in pages and
 * memory is bounded by the reader's own limits, and a stalled server by the idle timeout.
 * What is left for a cap is a server that streams forever: 16 GiB is ~30 million entries
 * of Apache's ~550 bytes, far above any real directory, and still ends such a listing.
 */
const MAX_RESPONSE_BYTES = 16 * 1024 ** 3;

/** A Depth 0 answer is one response: read this much of it at most. */
const PROBE_BYTES = 1024 * 1024;

function encodePath(path: string): string {
  if (path === '/') return '';
  return path
    .split('/')
    .slice(1)
    .map((s) => encodeURIComponent(s))
    .join('/');
}

/** A WebDAV server, listed with PROPFIND Depth 1 over keep-alive connections. */
export class WebdavClient implements StorageClient {
  readonly #options: WebdavOptions;
  readonly #base: URL;
  /** Server path of the root, decoded, no trailing slash (`` for the server root). */
  readonly #basePath: string;
  readonly #authorization: string | undefined;
  #agent: HttpAgent | undefined;
  readonly #policy: AddressPolicy | undefined;

  constructor(options: WebdavOptions, policy?: AddressPolicy) {
    this.#options = options;
    this.#policy = policy;
    this.#base = new URL(options.url);
    this.#basePath = hrefPath(this.#base.pathname).replace(/^\/$/, '');
    this.#authorization =
      options.username !== undefined
        ? 'Basic ' +
          Buffer.from(`${options.username}:${options.password ?? ''}`, 'utf8').toString('base64')
        : undefined;
  }

  async connect(): Promise<void> {
    if (!this.#agent) {
      const agentOptions = {
        keepAlive: true,
        maxSockets: this.#options.maxSockets,
        maxFreeSockets: this.#options.maxSockets,
      };
      this.#agent = guardAgent(
        this.#base.protocol === 'https:'
          ? new HttpsAgent({ ...agentOptions, rejectUnauthorized: !this.#options.insecure })
          : new HttpAgent(agentOptions),
        this.#policy,
      );
    }
    await this.check();
  }

  async close(): Promise<void> {
    this.#agent?.destroy();
    this.#agent = undefined;
  }

  /** PROPFIND Depth 0 of the root, bounded as a whole by `connectTimeoutMs`. */
  async check(): Promise<void> {
    const answer = await this.#propfind('/', '0', undefined, this.#options.connectTimeoutMs);
    try {
      let bytes = 0;
      for (let chunk = await answer.read(); chunk !== null; chunk = await answer.read()) {
        bytes += chunk.length;
        if (bytes > PROBE_BYTES) break; // enough: the server answers 207 (the rest is dropped)
      }
    } finally {
      answer.close();
    }
  }

  /**
   * Streams the answer: pages are handed on as its responses arrive, and the socket is read
   * only while the caller asks for more. Bad responses are left out and counted (PROTOCOL
   * at the end); a document that breaks off or is not well-formed fails after the pages
   * already handed on, which are true.
   */
  async *list(dir: string, options?: ListOptions): AsyncGenerator<Entry[]> {
    const answer = await this.#propfind(dir, '1', options?.signal, this.#options.timeoutMs);
    try {
      const serverPath = dir === '/' ? this.#basePath || '/' : this.#basePath + dir;
      const listing = new MultistatusListing(
        {
          dir,
          origin: this.#base.origin,
          protocol: this.#base.protocol,
          // Already decoded: split, not decoded again (a name may hold a literal `%25`).
          dirSegments: serverPath.split('/').filter((s) => s !== ''),
          requestPath: this.#requestPath(dir),
        },
        this.#where(),
      );
      const decoder = new TextDecoder();
      const limit = this.#options.maxResponseBytes;
      let bytes = 0;
      for (let chunk = await answer.read(); chunk !== null; chunk = await answer.read()) {
        bytes += chunk.length;
        if (bytes > limit) {
          throw new ProtocolError(
            `${this.#where()} (${dir}): multistatus larger than ${limit} bytes (maxResponseBytes)`,
            { path: dir },
          );
        }
        for (const page of listing.write(decoder.decode(chunk, { stream: true }))) yield page;
      }
      for (const page of listing.write(decoder.decode())) yield page;
      const last = listing.end();
      if (last.length > 0) yield last;
      listing.finish();
    } finally {
      answer.close();
    }
  }

  /**
   * One ranged GET, bounded by `timeoutMs` per wait like a listing; never more than `bytes`
   * of the server's answer are kept, whatever it sends.
   */
  async readHead(path: string, bytes: number, options?: ReadHeadOptions): Promise<Uint8Array> {
    if (options?.signal?.aborted) throw cancelledError(path);
    if (bytes <= 0) return new Uint8Array();
    const agent = this.#agent;
    if (!agent) throw new UnavailableError('WebDAV client is not connected', { path });
    const base = this.#base.pathname.endsWith('/')
      ? this.#base.pathname
      : `${this.#base.pathname}/`;
    return getHead(
      {
        base: this.#base,
        path: base + encodePath(path),
        agent,
        authorization: this.#authorization,
        connectTimeoutMs: this.#options.connectTimeoutMs,
        answerTimeoutMs: this.#options.timeoutMs,
        answerTimeoutOption: 'timeoutMs',
        signal: options?.signal,
        dir: path,
        where: `GET ${redactText(this.#base.origin)}`,
      },
      bytes,
    );
  }

  #where(): string {
    return `PROPFIND ${redactText(this.#base.origin)}`;
  }

  /** The encoded request path of a storage directory, with a trailing slash. */
  #requestPath(dir: string): string {
    const base = this.#base.pathname.endsWith('/')
      ? this.#base.pathname
      : `${this.#base.pathname}/`;
    const encoded = encodePath(dir);
    return base + encoded + (encoded ? '/' : '');
  }

  async #propfind(
    dir: string,
    depth: '0' | '1',
    signal: AbortSignal | undefined,
    answerTimeoutMs: number,
  ): Promise<PropfindAnswer> {
    const agent = this.#agent;
    if (!agent) throw new UnavailableError('WebDAV client is not connected', { path: dir });
    return propfind({
      base: this.#base,
      path: this.#requestPath(dir),
      depth,
      agent,
      authorization: this.#authorization,
      connectTimeoutMs: this.#options.connectTimeoutMs,
      answerTimeoutMs,
      answerTimeoutOption: depth === '0' ? 'connectTimeoutMs' : 'timeoutMs',
      signal,
      dir,
      where: this.#where(),
    });
  }
}
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
    const raw: Record<string, unknown> = {};
    // Query parameters are options (timeoutMs=…); the StorageService's own (maxConcurrency)
    // were taken out before this sees the URL.
    for (const [key, value] of url.searchParams) raw[key] = value;
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
  create(options, deps) {
    const withCredentials = withEnv(WEBDAV_OPTIONS, options, deps.env);
    return new WebdavClient(withCredentials, deps.addressPolicy);
  },
  location(options) {
    const url = new URL(options.url);
    const scheme = url.protocol === 'https:' ? 'webdavs' : 'webdav';
    const user = options.username ? `${encodeURIComponent(options.username)}@` : '';
    return `${scheme}://${user}${url.host}${url.pathname.replace(/\/+$/, '')}`;
  },
  limitHost: (options) => new URL(options.url).host,
});
