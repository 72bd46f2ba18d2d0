import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { cancelledError, ProtocolError, UnavailableError } from '../errors.js';
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
