import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import {
  AuthFailedError,
  InvalidConfigError,
  NotFoundError,
  PermissionDeniedError,
  ProtocolError,
  RateLimitedError,
  StorageError,
  TimeoutError,
  UnavailableError,
} from '../errors.js';
import { joinPath } from '../paths.js';
import { optInt, optString } from '../options.js';
import { redactText } from '../../util/redact.js';
import type { BackendInfo, Entry, ListOptions, StorageClient } from '../types.js';
import { pagesOf } from '../pager.js';

export interface WebdavOptions {
  /** `http(s)://host[:port]/path` of the storage's root, without credentials. */
  url: string;
  /** Basic-auth user. @default env TRAWL_WEBDAV_USER, else none */
  username?: string;
  /** Basic-auth password. @default env TRAWL_WEBDAV_PASSWORD, else none */
  password?: string;
  /** One request (headers and body) may take this long. @default 30000 */
  timeoutMs: number;
  /** Connections kept alive to the server. @default 64 */
  maxSockets: number;
  /** Accept a TLS certificate that does not verify (self-signed). @default false */
  insecure: boolean;
  /** Largest multistatus body accepted, in bytes. @default 268435456 (256 MiB) */
  maxResponseBytes: number;
}

/** Only what the scan needs: an empty body makes many servers compute every property. */
const PROPFIND_BODY =
  '<?xml version="1.0" encoding="utf-8"?>\n' +
  '<d:propfind xmlns:d="DAV:"><d:prop>' +
  '<d:resourcetype/><d:getcontentlength/><d:getlastmodified/><d:getetag/>' +
  '</d:prop></d:propfind>';

const SOCKET_UNAVAILABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
]);

interface HttpFailure {
  status?: number;
  retryAfter?: string | undefined;
  /** Node / OpenSSL error code for failures below HTTP. */
  code?: string | undefined;
  message?: string;
}

/** Parses Retry-After (seconds or an HTTP date) into milliseconds from now. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Every native WebDAV failure becomes a StorageError here, and nowhere else. */
export function mapWebdavError(failure: HttpFailure, path: string, where: string): StorageError {
  const at = `${where} (${path})`;
  const { status, code } = failure;
  if (status !== undefined) {
    const retryAfterMs = parseRetryAfter(failure.retryAfter);
    switch (status) {
      case 401:
        return new AuthFailedError(`${at}: 401 Unauthorized: wrong or missing credentials`, {
          path,
        });
      case 403:
        return new PermissionDeniedError(`${at}: 403 Forbidden`, { path });
      case 404:
      case 410:
        return new NotFoundError(`${at}: ${status}: no such directory`, { path });
      case 405:
      case 501:
        return new InvalidConfigError(
          `${at}: ${status}: the server does not accept PROPFIND here; is this a WebDAV URL?`,
          { path },
        );
      case 408:
      case 504:
        return new TimeoutError(`${at}: ${status}: the server timed out`, { path });
      case 429:
        return new RateLimitedError(`${at}: 429 Too Many Requests`, { path, retryAfterMs });
      case 500:
      case 502:
      case 503:
        return new UnavailableError(`${at}: ${status} from the server`, {
          path,
          retryAfterMs,
        });
      default:
        if (status >= 300 && status < 400) {
          return new ProtocolError(`${at}: unexpected redirect (${status}); not followed`, {
            path,
          });
        }
        return new ProtocolError(`${at}: unexpected HTTP status ${status}`, {
          path,
          retryable: status >= 500,
        });
    }
  }
  const message = failure.message ?? 'request failed';
  if (code === 'TIMEOUT' || code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT') {
    return new TimeoutError(`${at}: ${message}`, { path });
  }
  if (code !== undefined && SOCKET_UNAVAILABLE.has(code)) {
    return new UnavailableError(`${at}: ${code}: ${message}`, { path });
  }
  if (code !== undefined && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) {
    return new InvalidConfigError(
      `${at}: TLS certificate not trusted (${code}); set insecure=true only for a server you trust`,
      { path },
    );
  }
  return new ProtocolError(`${at}: ${code ? `${code}: ` : ''}${message}`, { path });
}

const XML_ENTITY = /&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos|[^;\s&]*);?/g;
const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** XML's predefined and numeric character references; anything else is not well-formed. */
function decodeXmlText(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(XML_ENTITY, (match, ref: string) => {
    if (match.endsWith(';')) {
      if (ref in NAMED) return NAMED[ref]!;
      if (ref.startsWith('#')) {
        const cp =
          ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : Number(ref.slice(1));
        if (Number.isInteger(cp) && cp > 0 && cp <= 0x10ffff) return String.fromCodePoint(cp);
      }
    }
    throw new ProtocolError(`undefined or malformed XML entity ${JSON.stringify(match)}`);
  });
}

/**
 * Percent-decodes one path segment as UTF-8. A segment that is not valid percent-encoded
 * UTF-8 (a raw `%` from a careless server, Latin-1 bytes) is decoded where it can be and
 * kept literally where it cannot, rather than failing the directory.
 */
export function decodeSegment(segment: string): string {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment.replace(/(?:%[0-9a-fA-F]{2})+/g, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run;
      }
    });
  }
}

/** The decoded path of an href (absolute URL or absolute path), without a trailing slash. */
export function hrefPath(href: string): string {
  let raw = href.trim();
  const scheme = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(raw);
  if (scheme) raw = raw.slice(scheme[0].length);
  const segments = raw.split('/').filter((s) => s !== '');
  return '/' + segments.map(decodeSegment).join('/');
}

/** What one `<response>` says, as raw (still entity-encoded) text. */
interface DavResponse {
  href?: string;
  status?: string;
  /** Properties of the propstats whose status is 2xx (or absent). */
  props: { collection: boolean; length?: string; modified?: string; etag?: string };
}

/**
 * One token of XML at a time: a tag (name without prefix, closing, self-closing), CDATA, a
 * comment or a processing instruction. Attribute values may hold `>` inside quotes.
 */
const TOKEN =
  /<(\/?)(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)(?:\s(?:[^>"'/]|"[^"]*"|'[^']*'|\/(?!>))*)?(\/?)>|<!\[CDATA\[([\s\S]*?)\]\]>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>/g;

/**
 * A small, strict reader for the one document shape trawl needs (DAV: multistatus): it
 * checks that tags nest, collects only href, status and the four requested properties, and
 * has no notion of a DTD, so entity expansion and external entities cannot happen. About
 * ten times faster than a general XML parser on listings, which matters at thousands of
 * directories a second.
 */
function readMultistatus(body: string, dir: string): DavResponse[] {
  const fail = (why: string) =>
    new ProtocolError(`multistatus for ${dir} is not well-formed: ${why}`, { path: dir });
  const stack: string[] = [];
  const responses: DavResponse[] = [];
  let response: DavResponse | undefined;
  let propstat: { status?: string; props: DavResponse['props'] } | undefined;
  let text = '';
  let last = 0;
  TOKEN.lastIndex = 0;
  for (let m = TOKEN.exec(body); m; m = TOKEN.exec(body)) {
    const between = body.slice(last, m.index);
    if (between.includes('<'))
      throw fail(`unexpected markup near ${JSON.stringify(between.slice(0, 40))}`);
    text += between;
    last = TOKEN.lastIndex;
    if (m[4] !== undefined) {
      text += m[4].replace(/&/g, '&amp;'); // CDATA is literal; re-escaped for decodeXmlText
      continue;
    }
    const name = m[2];
    if (name === undefined) continue; // comment or processing instruction
    if (m[1] === '') {
      if (stack.length === 0 && name !== 'multistatus') throw fail(`root element is <${name}>`);
      const parent = stack[stack.length - 1];
      if (name === 'response' && parent === 'multistatus') {
        response = { props: { collection: false } };
      } else if (name === 'propstat' && response && parent === 'response') {
        propstat = { props: { collection: false } };
      } else if (name === 'collection' && parent === 'resourcetype' && propstat) {
        propstat.props.collection = true;
      }
      text = '';
      if (m[3] === '/') continue; // <x/>: opened and closed
      stack.push(name);
      continue;
    }
    if (stack.pop() !== name) throw fail(`</${name}> closes nothing open`);
    const parent = stack[stack.length - 1];
    const value = text.trim();
    text = '';
    if (!response) continue;
    if (parent === 'response' && name === 'href') response.href = value;
    else if (parent === 'response' && name === 'status') response.status = value;
    else if (parent === 'propstat' && name === 'status' && propstat) propstat.status = value;
    else if (parent === 'prop' && propstat) {
      if (name === 'getcontentlength') propstat.props.length = value;
      else if (name === 'getlastmodified') propstat.props.modified = value;
      else if (name === 'getetag') propstat.props.etag = value;
    } else if (name === 'propstat' && propstat) {
      const s = statusCode(propstat.status);
      if (s === undefined || (s >= 200 && s <= 299)) {
        const p = propstat.props;
        const into = response.props;
        if (p.collection) into.collection = true;
        if (p.length !== undefined) into.length = p.length;
        if (p.modified !== undefined) into.modified = p.modified;
        if (p.etag !== undefined) into.etag = p.etag;
      }
      propstat = undefined;
    } else if (name === 'response') {
      responses.push(response);
      response = undefined;
    }
  }
  if (body.slice(last).trim() !== '') throw fail('text after the document');
  if (stack.length > 0) throw fail(`<${stack[stack.length - 1]}> is never closed (truncated?)`);
  if (last === 0) throw fail('no elements');
  return responses;
}

function statusCode(value: string | undefined): number | undefined {
  const m = /^HTTP\/\S+\s+(\d{3})/.exec(value === undefined ? '' : decodeXmlText(value));
  return m ? Number(m[1]) : undefined;
}

/**
 * Parses a PROPFIND Depth 1 multistatus into the directory's children. `dirPath` is the
 * decoded server path of the directory; its own response is left out. Throws
 * ProtocolError on anything that could make the listing incomplete or wrong: a DOCTYPE
 * (entity expansion, external entities), a truncated document, a child that is not a
 * direct child, a child with an error status.
 */
export function parseMultistatus(body: string, dirPath: string, dir: string): Entry[] {
  if (/<!DOCTYPE|<!ENTITY/i.test(body)) {
    throw new ProtocolError(
      `refusing a multistatus with a DOCTYPE or ENTITY declaration (${dir})`,
      {
        path: dir,
      },
    );
  }
  if (!/<\/(?:[A-Za-z_][\w.-]*:)?multistatus\s*>\s*$/.test(body)) {
    throw new ProtocolError(`multistatus for ${dir} is truncated or not a multistatus`, {
      path: dir,
    });
  }
  const self = dirPath.replace(/\/+$/, '');
  const entries: Entry[] = [];
  for (const r of readMultistatus(body, dir)) {
    if (r.href === undefined) {
      throw new ProtocolError(`a response without href in ${dir}`, { path: dir });
    }
    const href = decodeXmlText(r.href);
    const path = hrefPath(href);
    // The collection itself (some servers leave it out, some omit its trailing slash).
    if (path === (self || '/')) continue;
    const slash = path.lastIndexOf('/');
    const parent = path.slice(0, slash);
    const name = path.slice(slash + 1);
    if (parent !== self) {
      throw new ProtocolError(
        `multistatus for ${dir} lists ${JSON.stringify(href)}, which is not a direct child`,
        { path: dir },
      );
    }
    const responseStatus = statusCode(r.status);
    if (responseStatus !== undefined && (responseStatus < 200 || responseStatus > 299)) {
      throw new ProtocolError(
        `server answered ${responseStatus} for child ${JSON.stringify(name)} of ${dir}`,
        { path: dir },
      );
    }
    const { collection: isDir, length, modified, etag } = r.props;
    const size = length === undefined ? 0 : Number(decodeXmlText(length));
    const mtime = modified === undefined ? NaN : Date.parse(decodeXmlText(modified));
    const entry: Entry = {
      path: joinPath(dir, name),
      name,
      isDir,
      size: isDir || !Number.isFinite(size) ? 0 : size,
      mtime: Number.isNaN(mtime) ? 0 : mtime,
    };
    if (etag) entry.etag = decodeXmlText(etag);
    entries.push(entry);
  }
  return entries;
}

function encodePath(path: string): string {
  if (path === '/') return '';
  return path
    .split('/')
    .slice(1)
    .map((s) => encodeURIComponent(s))
    .join('/');
}

interface Response {
  status: number;
  body: string;
}

/** A WebDAV server, listed with PROPFIND Depth 1 over keep-alive connections. */
export class WebdavClient implements StorageClient {
  readonly #options: WebdavOptions;
  readonly #base: URL;
  /** Server path of the root, decoded, no trailing slash (`` for the server root). */
  readonly #basePath: string;
  readonly #authorization: string | undefined;
  #agent: HttpAgent | undefined;

  constructor(options: WebdavOptions) {
    this.#options = options;
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
      this.#agent =
        this.#base.protocol === 'https:'
          ? new HttpsAgent({ ...agentOptions, rejectUnauthorized: !this.#options.insecure })
          : new HttpAgent(agentOptions);
    }
    await this.check();
  }

  async close(): Promise<void> {
    this.#agent?.destroy();
    this.#agent = undefined;
  }

  async check(): Promise<void> {
    const res = await this.#propfind('/', '0', undefined);
    if (res.status !== 207) throw mapWebdavError({ status: res.status }, '/', this.#where());
  }

  async *list(dir: string, options?: ListOptions): AsyncGenerator<Entry[]> {
    yield* pagesOf(await this.#listWhole(dir, options));
  }

  async #listWhole(dir: string, options?: ListOptions): Promise<Entry[]> {
    const res = await this.#propfind(dir, '1', options?.signal);
    if (res.status !== 207) {
      throw new ProtocolError(
        `${this.#where()} (${dir}): expected 207 Multi-Status, got ${res.status}`,
        { path: dir },
      );
    }
    const dirPath = dir === '/' ? this.#basePath || '/' : this.#basePath + dir;
    return parseMultistatus(res.body, dirPath, dir);
  }

  #where(): string {
    return `PROPFIND ${redactText(this.#base.origin)}`;
  }

  async #propfind(
    dir: string,
    depth: '0' | '1',
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    if (signal?.aborted) throw new StorageError('CANCELLED', 'listing cancelled', { path: dir });
    try {
      return await this.#request(dir, depth, signal);
    } catch (error) {
      // A kept-alive socket the server closed while idle fails at once on reuse; one
      // fresh connection is the documented remedy, not a retry of a failed request.
      if ((error as { reusedSocket?: boolean }).reusedSocket)
        return this.#request(dir, depth, signal);
      throw error;
    }
  }

  #request(dir: string, depth: '0' | '1', signal: AbortSignal | undefined): Promise<Response> {
    const agent = this.#agent;
    if (!agent) {
      return Promise.reject(new UnavailableError('WebDAV client is not connected', { path: dir }));
    }
    const base = this.#base.pathname.endsWith('/')
      ? this.#base.pathname
      : `${this.#base.pathname}/`;
    const encoded = encodePath(dir);
    const path = base + encoded + (encoded ? '/' : '');
    const headers: Record<string, string | number> = {
      Depth: depth,
      'Content-Type': 'application/xml; charset=utf-8',
      'Content-Length': Buffer.byteLength(PROPFIND_BODY),
    };
    if (this.#authorization) headers.Authorization = this.#authorization;
    const send = this.#base.protocol === 'https:' ? httpsRequest : httpRequest;
    const where = this.#where();
    const limit = this.#options.maxResponseBytes;

    return new Promise<Response>((resolve, reject) => {
      let settled = false;
      const fail = (error: StorageError) => {
        if (settled) return;
        settled = true;
        cleanup();
        req.destroy();
        reject(error);
      };
      const req = send({
        protocol: this.#base.protocol,
        hostname: this.#base.hostname,
        port: this.#base.port || undefined,
        method: 'PROPFIND',
        path,
        headers,
        agent,
      });
      const timer = setTimeout(
        () =>
          fail(
            mapWebdavError(
              {
                code: 'TIMEOUT',
                message: `no complete answer within ${this.#options.timeoutMs} ms`,
              },
              dir,
              where,
            ),
          ),
        this.#options.timeoutMs,
      );
      const onAbort = () => fail(new StorageError('CANCELLED', 'listing cancelled', { path: dir }));
      signal?.addEventListener('abort', onAbort, { once: true });
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (settled) return;
        const mapped = mapWebdavError({ code: error.code, message: error.message }, dir, where);
        if (req.reusedSocket && !responded) Object.assign(mapped, { reusedSocket: true });
        fail(mapped);
      });
      let responded = false;
      req.on('response', (res: IncomingMessage) => {
        responded = true;
        const status = res.statusCode ?? 0;
        if (status !== 207) {
          const error =
            status >= 200 && status < 300
              ? new ProtocolError(`${where} (${dir}): expected 207 Multi-Status, got ${status}`, {
                  path: dir,
                })
              : mapWebdavError({ status, retryAfter: res.headers['retry-after'] }, dir, where);
          // Read the (small) error body to its end so the connection stays alive for the
          // next request: a 429 storm must not turn into a reconnect storm.
          res.on('end', () => {
            if (settled) return;
            settled = true;
            cleanup();
            reject(error);
          });
          res.on('error', () => fail(error));
          res.on('close', () => fail(error));
          res.resume();
          return;
        }
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > limit) {
            fail(
              new ProtocolError(`${where} (${dir}): multistatus larger than ${limit} bytes`, {
                path: dir,
              }),
            );
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (error: NodeJS.ErrnoException) =>
          fail(
            mapWebdavError(
              { code: error.code ?? 'ECONNRESET', message: error.message },
              dir,
              where,
            ),
          ),
        );
        res.on('close', () => {
          if (!res.complete) {
            fail(
              mapWebdavError(
                { code: 'ECONNRESET', message: 'connection closed before the answer was complete' },
                dir,
                where,
              ),
            );
          }
        });
        res.on('end', () => {
          if (settled) return;
          if (!res.complete) return; // 'close' reports it
          settled = true;
          cleanup();
          resolve({ status, body: Buffer.concat(chunks).toString('utf8') });
        });
      });
      req.end(PROPFIND_BODY);
    });
  }
}

const KNOWN = new Set([
  'url',
  'username',
  'password',
  'timeoutMs',
  'maxSockets',
  'insecure',
  'maxResponseBytes',
]);

function parseWebdavOptions(raw: unknown): WebdavOptions {
  const r = (raw ?? {}) as Record<string, unknown>;
  if (typeof r.url !== 'string' || r.url === '') {
    throw new InvalidConfigError(
      `webdav storage needs a "url" (http:// or https://), got ${JSON.stringify(r.url)}`,
    );
  }
  let url: URL;
  try {
    url = new URL(r.url);
  } catch {
    throw new InvalidConfigError(`webdav "url" is not a valid URL: ${redactText(r.url)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidConfigError(
      `webdav "url" must be http:// or https://, got ${JSON.stringify(url.protocol)}`,
    );
  }
  // Credentials live in their own options, never inside the stored URL.
  let username = optString(r, 'username');
  let password = optString(r, 'password');
  if (url.username) username ??= decodeURIComponent(url.username);
  if (url.password) password ??= decodeURIComponent(url.password);
  url.username = '';
  url.password = '';
  url.search = '';
  url.hash = '';
  const insecure = r.insecure === true || r.insecure === 'true' || r.insecure === '1';
  const options: WebdavOptions = {
    url: url.href.replace(/\/+$/, ''),
    timeoutMs: optInt(r, 'timeoutMs', 30_000),
    maxSockets: optInt(r, 'maxSockets', 64),
    insecure,
    maxResponseBytes: optInt(r, 'maxResponseBytes', 256 * 1024 * 1024),
  };
  if (username !== undefined) options.username = username;
  if (password !== undefined) options.password = password;
  return options;
}

export const webdavBackend: BackendInfo<WebdavOptions> = {
  schemes: ['webdav', 'webdavs'],
  fromUrl(url) {
    const raw: Record<string, unknown> = {};
    // Query parameters are options (timeoutMs=…); unknown ones (maxConcurrency, read by
    // the StorageService) pass through and are ignored here.
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
  parseOptions: parseWebdavOptions,
  create(options, deps) {
    const withEnv = { ...options };
    withEnv.username ??= deps.env.TRAWL_WEBDAV_USER || undefined;
    withEnv.password ??= deps.env.TRAWL_WEBDAV_PASSWORD || undefined;
    if (withEnv.username === undefined) delete withEnv.username;
    if (withEnv.password === undefined) delete withEnv.password;
    return new WebdavClient(withEnv);
  },
  redact(options) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(options)) if (KNOWN.has(k)) out[k] = v;
    if (options.password !== undefined) out.password = '***';
    return out;
  },
  location(options) {
    const url = new URL(options.url);
    const scheme = url.protocol === 'https:' ? 'webdavs' : 'webdav';
    const user = options.username ? `${encodeURIComponent(options.username)}@` : '';
    return `${scheme}://${user}${url.host}${url.pathname.replace(/\/+$/, '')}`;
  },
  limitHost: (options) => new URL(options.url).host,
};
