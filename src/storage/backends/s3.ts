import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { ListObjectsV2CommandInput, ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';
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
import { joinPath, ROOT } from '../paths.js';
import { optInt, optString } from '../options.js';
import { backoffDelay } from '../../util/backoff.js';
import { sleep } from '../../util/sleep.js';
import type { BackendInfo, Entry, ListOptions, StorageClient, TreeListing } from '../types.js';
import { pagesOf } from '../pager.js';

export interface S3Options {
  bucket: string;
  /** Key prefix that is the storage's root: `` or `a/b/` (always ending in `/`). */
  prefix: string;
  /** S3-compatible endpoint (`http://127.0.0.1:4568`); none for AWS itself. */
  endpoint?: string;
  /** @default env AWS_REGION, else us-east-1 */
  region?: string;
  /** Bucket in the path, not the host name. @default true with a custom endpoint */
  forcePathStyle: boolean;
  /** @default env AWS_ACCESS_KEY_ID */
  accessKeyId?: string;
  /** @default env AWS_SECRET_ACCESS_KEY */
  secretAccessKey?: string;
  /** @default env AWS_SESSION_TOKEN */
  sessionToken?: string;
  /** Keys per ListObjectsV2 page (S3 caps it at 1000). @default 1000 */
  pageSize: number;
  /** One request may take this long. @default 30000 */
  timeoutMs: number;
  /** Connections kept alive. @default 64 */
  maxSockets: number;
}

/** The subset of the SDK client this backend uses, so tests can hand in a fake. */
export interface S3Like {
  listObjectsV2(
    input: ListObjectsV2CommandInput,
    options?: { abortSignal?: AbortSignal },
  ): Promise<ListObjectsV2CommandOutput>;
  destroy(): void;
}

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { headers?: Record<string, string | undefined> };
}

const AUTH_CODES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'CredentialsProviderError',
  'AuthorizationHeaderMalformed',
]);
const THROTTLE_CODES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
]);
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
]);

/** Every native S3 failure becomes a StorageError here, and nowhere else. */
export function mapS3Error(error: unknown, path: string, where: string): StorageError {
  if (error instanceof StorageError) return error;
  const e = (error ?? {}) as SdkError;
  const name = e.name ?? e.code ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const retryAfter = e.$response?.headers?.['retry-after'];
  const retryAfterMs =
    retryAfter !== undefined && /^\d+$/.test(retryAfter.trim())
      ? Number(retryAfter.trim()) * 1000
      : undefined;
  const at = `${where} (${path}): ${name}${status ? ` ${status}` : ''}`;
  if (name === 'AbortError') return new StorageError('CANCELLED', `${at}: cancelled`, { path });
  if (name === 'NoSuchBucket' || name === 'NoSuchKey' || name === 'NotFound') {
    return new NotFoundError(`${at}: no such bucket or key`, { path });
  }
  if (AUTH_CODES.has(name)) {
    return new AuthFailedError(`${at}: credentials were refused`, { path });
  }
  if (name === 'AccessDenied' || name === 'AllAccessDisabled' || status === 403) {
    return new PermissionDeniedError(`${at}: access denied`, { path });
  }
  if (THROTTLE_CODES.has(name) || status === 429) {
    return new RateLimitedError(`${at}: rate limited`, { path, retryAfterMs });
  }
  if (name === 'TimeoutError' || name === 'RequestTimeout' || e.code === 'ETIMEDOUT') {
    return new TimeoutError(`${at}: timed out`, { path });
  }
  if (
    name === 'InvalidBucketName' ||
    name === 'PermanentRedirect' ||
    name === 'IllegalLocationConstraintException'
  ) {
    return new InvalidConfigError(`${at}: ${e.message ?? 'bad bucket or region'}`, { path });
  }
  if (status === 401) return new AuthFailedError(`${at}: credentials were refused`, { path });
  if (status === 404) return new NotFoundError(`${at}: not found`, { path });
  if (status !== undefined && status >= 500) {
    return new UnavailableError(`${at}: server error`, { path, retryAfterMs });
  }
  if (e.code !== undefined && SOCKET_CODES.has(e.code)) {
    return new UnavailableError(`${at}: ${e.code}`, { path });
  }
  if (SOCKET_CODES.has(name)) return new UnavailableError(`${at}`, { path });
  return new ProtocolError(`${at}: ${e.message ?? 'request failed'}`, { path, cause: error });
}

/** A directory's children, by name: a prefix wins over an object of the same name. */
class Children {
  readonly #byName = new Map<string, Entry>();
  constructor(readonly dir: string) {}

  addDir(name: string): boolean {
    const existing = this.#byName.get(name);
    if (existing?.isDir) return false;
    // An object `a` next to a prefix `a/`: paths must be unique, and the prefix holds more.
    this.#byName.set(name, {
      path: joinPath(this.dir, name),
      name,
      isDir: true,
      size: 0,
      mtime: 0,
    });
    return true;
  }

  addFile(name: string, size: number, mtime: number, etag: string | undefined): void {
    if (this.#byName.get(name)?.isDir) return;
    const entry: Entry = { path: joinPath(this.dir, name), name, isDir: false, size, mtime };
    if (etag) entry.etag = etag;
    this.#byName.set(name, entry);
  }

  get size(): number {
    return this.#byName.size;
  }

  entries(): Entry[] {
    return [...this.#byName.values()];
  }
}

/**
 * Retries of one page inside a tree listing. The StorageService retries whole requests, but
 * cannot retry a tree listing mid-way; the backend can, because it holds the continuation
 * token. A throttled page (SlowDown) is waited out instead of failing the whole scan.
 */
const TREE_PAGE_RETRIES = 4;

/** A name S3 can hold but the path model cannot (`a//b`, a `.` segment). */
function representable(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('\0');
}

/** An S3 bucket (or a prefix of one), listed with ListObjectsV2. */
export class S3StorageClient implements StorageClient {
  readonly #options: S3Options;
  readonly #make: () => Promise<S3Like>;
  #client: S3Like | undefined;

  constructor(options: S3Options, make: () => Promise<S3Like>) {
    this.#options = options;
    this.#make = make;
  }

  async connect(): Promise<void> {
    this.#client ??= await this.#make();
    await this.check();
  }

  async close(): Promise<void> {
    this.#client?.destroy();
    this.#client = undefined;
  }

  async check(): Promise<void> {
    await this.#page(ROOT, { Prefix: this.#options.prefix, MaxKeys: 1 }, undefined);
  }

  async *list(dir: string, options?: ListOptions): AsyncGenerator<Entry[]> {
    yield* pagesOf(await this.#listWhole(dir, options));
  }

  async #listWhole(dir: string, options?: ListOptions): Promise<Entry[]> {
    const prefix = this.#keyPrefix(dir);
    const children = new Children(dir);
    let marker = false;
    for await (const page of this.#pages(
      dir,
      { Prefix: prefix, Delimiter: '/' },
      options?.signal,
    )) {
      for (const p of page.CommonPrefixes ?? []) {
        const name = (p.Prefix ?? '').slice(prefix.length, -1);
        if (representable(name)) children.addDir(name);
      }
      for (const o of page.Contents ?? []) {
        const key = o.Key ?? '';
        if (key === prefix) {
          marker = true; // `dir/`: the directory's own marker object
          continue;
        }
        const name = key.slice(prefix.length);
        if (representable(name))
          children.addFile(name, o.Size ?? 0, o.LastModified?.getTime() ?? 0, o.ETag);
      }
    }
    // S3 has no directories: a prefix with no keys under it and no marker does not exist.
    if (children.size === 0 && !marker && prefix !== '') {
      throw new NotFoundError(`no such directory: s3://${this.#options.bucket}/${prefix}`, {
        path: dir,
      });
    }
    return children.entries();
  }

  /**
   * The root's listing first (one delimited listing), then each top-level subtree from a
   * flat listing — one request per 1,000 keys instead of one per directory — yielded
   * parents first once the subtree is complete. Memory holds one top-level subtree.
   */
  async *listTree(root: string, options?: ListOptions): AsyncIterable<TreeListing> {
    const top = await this.#listWhole(root, options);
    yield { dir: root, entries: top };
    for (const sub of top) {
      if (sub.isDir) yield* this.#subtree(sub.path, options?.signal);
    }
  }

  async *#subtree(dir: string, signal: AbortSignal | undefined): AsyncIterable<TreeListing> {
    const prefix = this.#keyPrefix(dir);
    // Insertion order is parents first: a directory is created before anything inside it.
    const dirs = new Map<string, Children>([[dir, new Children(dir)]]);
    const ensureDir = (path: string, parent: string, name: string) => {
      if (!dirs.has(path)) {
        dirs.get(parent)!.addDir(name);
        dirs.set(path, new Children(path));
      }
    };
    for await (const page of this.#pages(dir, { Prefix: prefix }, signal, TREE_PAGE_RETRIES)) {
      for (const o of page.Contents ?? []) {
        const parts = (o.Key ?? '').slice(prefix.length).split('/');
        if (!parts.slice(0, -1).every(representable)) continue;
        let parent = dir;
        for (const part of parts.slice(0, -1)) {
          const path = joinPath(parent, part);
          ensureDir(path, parent, part);
          parent = path;
        }
        const name = parts[parts.length - 1]!;
        if (name === '') continue; // a directory marker: the directory is already made
        if (representable(name) && !dirs.has(joinPath(parent, name))) {
          dirs.get(parent)!.addFile(name, o.Size ?? 0, o.LastModified?.getTime() ?? 0, o.ETag);
        }
      }
    }
    for (const [path, children] of dirs) yield { dir: path, entries: children.entries() };
  }

  #keyPrefix(dir: string): string {
    return dir === ROOT ? this.#options.prefix : `${this.#options.prefix}${dir.slice(1)}/`;
  }

  #where(): string {
    return `S3 ListObjectsV2 s3://${this.#options.bucket}/${this.#options.prefix}`;
  }

  /** Every page of one listing; a continuation token seen before is a PROTOCOL error. */
  async *#pages(
    dir: string,
    params: { Prefix: string; Delimiter?: string },
    signal: AbortSignal | undefined,
    retries = 0,
  ): AsyncIterable<ListObjectsV2CommandOutput> {
    const seen = new Set<string>();
    let token: string | undefined;
    for (;;) {
      const request = { ...params, MaxKeys: this.#options.pageSize, ContinuationToken: token };
      let page: ListObjectsV2CommandOutput;
      for (let attempt = 0; ; attempt++) {
        try {
          page = await this.#page(dir, request, signal);
          break;
        } catch (error) {
          const e = error as StorageError;
          if (!e.retryable || attempt >= retries) throw e;
          await sleep(
            e.retryAfterMs ?? backoffDelay(attempt, { baseMs: 200, maxMs: 10_000 }),
            signal,
          );
        }
      }
      yield page;
      if (!page.IsTruncated) return;
      token = page.NextContinuationToken;
      if (!token) {
        throw new ProtocolError(
          `${this.#where()} (${dir}): truncated page without a continuation token`,
          {
            path: dir,
          },
        );
      }
      if (seen.has(token)) {
        throw new ProtocolError(
          `${this.#where()} (${dir}): the server repeated a continuation token`,
          {
            path: dir,
          },
        );
      }
      seen.add(token);
    }
  }

  async #page(
    dir: string,
    params: {
      Prefix: string;
      Delimiter?: string;
      MaxKeys: number;
      ContinuationToken?: string | undefined;
    },
    signal: AbortSignal | undefined,
  ): Promise<ListObjectsV2CommandOutput> {
    const client = this.#client;
    if (!client) throw new UnavailableError('S3 client is not connected', { path: dir });
    if (signal?.aborted) throw new StorageError('CANCELLED', 'listing cancelled', { path: dir });
    try {
      return await client.listObjectsV2(
        { Bucket: this.#options.bucket, ...params },
        signal ? { abortSignal: signal } : undefined,
      );
    } catch (error) {
      throw mapS3Error(error, dir, this.#where());
    }
  }
}

// https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html (plus legacy dots/underscores)
const BUCKET = /^[a-z0-9][a-z0-9._-]{1,254}$/i;

function parseS3Options(raw: unknown): S3Options {
  const r = (raw ?? {}) as Record<string, unknown>;
  const bucket = optString(r, 'bucket');
  if (!bucket || !BUCKET.test(bucket)) {
    throw new InvalidConfigError(
      `s3 storage needs a valid "bucket" name, got ${JSON.stringify(r.bucket)}`,
    );
  }
  const rawPrefix = optString(r, 'prefix') ?? '';
  const prefix = rawPrefix
    .replace(/^\/+/, '')
    .replace(/\/*$/, rawPrefix.replace(/^\/+/, '') ? '/' : '');
  const endpoint = optString(r, 'endpoint');
  if (endpoint !== undefined) {
    let u: URL;
    try {
      u = new URL(endpoint);
    } catch {
      throw new InvalidConfigError(
        `s3 "endpoint" must be an http(s) URL, got ${JSON.stringify(endpoint)}`,
      );
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new InvalidConfigError(
        `s3 "endpoint" must be an http(s) URL, got ${JSON.stringify(endpoint)}`,
      );
    }
    if (u.username || u.password) {
      throw new InvalidConfigError(
        's3 "endpoint" must not carry credentials; use accessKeyId/secretAccessKey',
      );
    }
  }
  const pathStyle = r.forcePathStyle;
  const options: S3Options = {
    bucket,
    prefix,
    forcePathStyle:
      pathStyle === undefined || pathStyle === ''
        ? endpoint !== undefined
        : pathStyle === true || pathStyle === 'true' || pathStyle === '1',
    pageSize: optInt(r, 'pageSize', 1000, 1, 1000),
    timeoutMs: optInt(r, 'timeoutMs', 30_000),
    maxSockets: optInt(r, 'maxSockets', 64),
  };
  if (endpoint !== undefined) options.endpoint = endpoint.replace(/\/+$/, '');
  for (const key of ['region', 'accessKeyId', 'secretAccessKey', 'sessionToken'] as const) {
    const v = optString(r, key);
    if (v !== undefined) options[key] = v;
  }
  return options;
}

export const s3Backend: BackendInfo<S3Options> = {
  schemes: ['s3'],
  fromUrl(url) {
    const raw: Record<string, unknown> = {};
    // Query parameters are options (endpoint, region…); unknown ones (maxConcurrency, read
    // by the StorageService) pass through and are ignored here.
    for (const [key, value] of url.searchParams) raw[key] = value;
    raw.bucket = decodeURIComponent(url.hostname);
    raw.prefix = url.pathname
      .split('/')
      .filter((s) => s !== '')
      .map(decodeURIComponent)
      .join('/');
    if (url.username) raw.accessKeyId = decodeURIComponent(url.username);
    if (url.password) raw.secretAccessKey = decodeURIComponent(url.password);
    return raw;
  },
  parseOptions: parseS3Options,
  create(options, deps) {
    const env = deps.env;
    const accessKeyId = options.accessKeyId ?? env.AWS_ACCESS_KEY_ID;
    const secretAccessKey = options.secretAccessKey ?? env.AWS_SECRET_ACCESS_KEY;
    const sessionToken = options.sessionToken ?? env.AWS_SESSION_TOKEN;
    const region = options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1';
    const make = async (): Promise<S3Like> => {
      // Loaded on first connect: the SDK costs every CLI start ~0.3 s otherwise.
      const { S3Client, ListObjectsV2Command } = await import('@aws-sdk/client-s3');
      // The SDK warns on stderr, once per process, that later releases will need Node 22;
      // trawl pins its SDK, and a CLI whose stderr is for the user should not carry that.
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
      const agentOptions = { keepAlive: true, maxSockets: options.maxSockets };
      const sdk = new S3Client({
        region,
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
        forcePathStyle: options.forcePathStyle,
        ...(accessKeyId && secretAccessKey
          ? {
              credentials: {
                accessKeyId,
                secretAccessKey,
                ...(sessionToken ? { sessionToken } : {}),
              },
            }
          : {}),
        // Retries, backoff and rate limits belong to the StorageService, which sees every storage.
        maxAttempts: 1,
        requestHandler: {
          requestTimeout: options.timeoutMs,
          connectionTimeout: options.timeoutMs,
          httpAgent: new HttpAgent(agentOptions),
          httpsAgent: new HttpsAgent(agentOptions),
        },
      });
      return {
        listObjectsV2: (input, opts) => sdk.send(new ListObjectsV2Command(input), opts),
        destroy: () => sdk.destroy(),
      };
    };
    return new S3StorageClient(options, make);
  },
  redact(options) {
    const out: Record<string, unknown> = { ...options };
    if (options.secretAccessKey !== undefined) out.secretAccessKey = '***';
    if (options.sessionToken !== undefined) out.sessionToken = '***';
    return out;
  },
  location(options) {
    const endpoint = options.endpoint ? `?endpoint=${encodeURIComponent(options.endpoint)}` : '';
    return `s3://${options.bucket}/${options.prefix}${endpoint}`;
  },
  limitHost: (options) => (options.endpoint ? new URL(options.endpoint).host : 's3.amazonaws.com'),
};
