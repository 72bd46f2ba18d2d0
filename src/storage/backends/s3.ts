import { createRequire } from 'node:module';
import {
  AuthFailedError,
  cancelledError,
  ForbiddenAddressError,
  toStorageError,
  InvalidConfigError,
  NotFoundError,
  PermissionDeniedError,
  ProtocolError,
  RateLimitedError,
  StorageError,
  TimeoutError,
  UnavailableError,
} from '../errors.js';
import { ROOT } from '../paths.js';
import { ListingProgress } from './listing-progress.js';
import { guardAgent } from '../net/guard.js';
import { isBug } from './remote-common.js';
import { backoffDelay } from '../../util/backoff.js';
import { sleep } from '../../util/sleep.js';
import type {
  BackendDeps,
  Entry,
  ListOptions,
  ReadHeadOptions,
  StorageClient,
  TreeListing,
} from '../types.js';
import {
  ConnectTimeoutError,
  sendGetHead,
  sendListObjects,
  type RequestControl,
  type SdkClient,
  type SdkCommand,
} from './s3-http.js';
import { DirectoryListing, show, TreeBuilder } from './s3-listing.js';
import { ListingXmlError, type ListPage } from './s3-xml.js';

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
  /**
   * A request may wait this long for its answer, or between two pieces of it, before it is
   * aborted (TIMEOUT); a page that trickles in may take ten times this in all. @default 30000
   */
  timeoutMs: number;
  /**
   * Connecting (TCP and TLS) may take this long, and so may the first answer of `connect()`:
   * a server that accepts and never answers is given up quickly. @default 10000
   */
  connectTimeoutMs: number;
  /** Connections kept alive. @default 64 */
  maxSockets: number;
}

/** One ListObjectsV2 request. */
export interface ListInput {
  Bucket: string;
  Prefix: string;
  Delimiter?: string;
  MaxKeys: number;
  ContinuationToken?: string;
}

/**
 * The subset of the SDK client this backend uses, so tests can hand in a fake: one
 * ListObjectsV2 answer as read (values as the server wrote them, see s3-xml.ts). It must
 * stop when `control.abortSignal` aborts and call `control.progress()` as bytes arrive.
 */
export interface HeadInput {
  Bucket: string;
  Key: string;
  /** `bytes=0-(n-1)`. */
  Range: string;
}

export interface S3Like {
  listObjectsV2(input: ListInput, control: RequestControl): Promise<ListPage>;
  /** The first `bytes` bytes of an object (GetObject with `Range`), never more kept. */
  getObjectHead?(input: HeadInput, control: RequestControl, bytes: number): Promise<Uint8Array>;
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
  // A programming error in trawl (or the SDK) is a bug, not something this server said: the
  // SDK marks what comes of an answer with its metadata, so only an unmarked one is a bug.
  if (isBug(error) && e.$metadata === undefined) return toStorageError(error, path);
  const name = e.name ?? e.code ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const retryAfter = e.$response?.headers?.['retry-after'];
  const retryAfterMs =
    retryAfter !== undefined && /^\d+$/.test(retryAfter.trim())
      ? Number(retryAfter.trim()) * 1000
      : undefined;
  const at = `${where} (${path}): ${name}${status ? ` ${status}` : ''}`;
  if (error instanceof ConnectTimeoutError) {
    return new TimeoutError(`${where} (${path}): ${error.message}`, { path });
  }
  if (error instanceof ListingXmlError) {
    return new ProtocolError(`${where} (${path}): unreadable answer: ${error.message}`, {
      path,
      cause: error,
    });
  }
  if (name === 'AbortError') return new StorageError('CANCELLED', `${at}: cancelled`, { path });
  // The SDK names a reset connection a TimeoutError; the server went away, it did not stall.
  if (e.code !== undefined && SOCKET_CODES.has(e.code) && status === undefined) {
    return new UnavailableError(`${at}: ${e.code}`, { path });
  }
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

/**
 * Retries of one page inside a listing. The StorageService retries whole requests, but
 * cannot retry a listing mid-way; the backend can, because it holds the continuation
 * token. So a transient failure or a throttled page (SlowDown) on page 3,000 of a 5,000-page
 * listing is waited out instead of failing the directory.
 */
const PAGE_RETRIES = 4;
/** A server's Retry-After is honoured up to this long per retry. */
const MAX_RETRY_WAIT_MS = 30_000;
/** One page may take this many times `timeoutMs` in all, however steadily it trickles in. */
const PAGE_TIME_FACTOR = 10;

type ListParams = Omit<ListInput, 'Bucket'>;

/** One PROTOCOL error for every directory of a tree listing that held unreadable entries. */
function combined(errors: Error[], path: string): StorageError {
  const first = errors[0] as StorageError;
  if (errors.length === 1) return first;
  let invalid = 0;
  for (const e of errors) invalid += (e as StorageError).invalidEntries ?? 0;
  return new ProtocolError(
    `${first.message} (and ${errors.length - 1} more ${errors.length === 2 ? 'directory' : 'directories'} with entries that could not be read)`,
    { path, invalidEntries: invalid },
  );
}

/** `error`, counting the entries of the broken listing that could not be read. */
function withInvalid(error: unknown, invalid: number): unknown {
  if (invalid === 0 || !(error instanceof StorageError) || error.invalidEntries !== undefined) {
    return error;
  }
  return new StorageError(
    error.code,
    `${error.message} (and ${invalid} ${invalid === 1 ? 'entry' : 'entries'} could not be read)`,
    {
      path: error.path,
      retryable: error.retryable,
      retryAfterMs: error.retryAfterMs,
      invalidEntries: invalid,
      cause: error,
    },
  );
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
    // S3 has no session: the first answer is what shows the endpoint and credentials work,
    // so it is bounded by the connect timeout, not the (longer) request timeout.
    await this.#request(
      ROOT,
      { Prefix: this.#options.prefix, MaxKeys: 1 },
      undefined,
      this.#options.connectTimeoutMs,
    );
  }

  async close(): Promise<void> {
    this.#client?.destroy();
    this.#client = undefined;
  }

  async check(): Promise<void> {
    await this.#request(
      ROOT,
      { Prefix: this.#options.prefix, MaxKeys: 1 },
      undefined,
      this.#options.timeoutMs,
    );
  }

  /**
   * A delimited listing, streamed: each page as ListObjectsV2 answers fill it. Pages after
   * the first request are retried here (the continuation token is held); a failure of the
   * first is the StorageService's to retry.
   */
  async *list(dir: string, options?: ListOptions): AsyncGenerator<Entry[]> {
    const listing = new DirectoryListing(dir, this.#keyPrefix(dir), this.#where());
    const pieces = this.#delimited(listing, options?.signal, { retryFirst: false, always: false });
    for await (const { entries } of pieces) if (entries.length > 0) yield entries;
    listing.pager.finish();
  }

  /**
   * The root's listing first (one delimited listing, streamed), then each top-level subtree
   * from a flat listing — one request per 1,000 keys instead of one per directory — as
   * pieces, parents first (see {@link TreeBuilder}). Every request is retried here: a tree
   * listing cannot be retried from outside. A directory with entries that could not be read
   * stays open (its pieces have `more`), and once everything else is handed on the listing
   * ends with one PROTOCOL error for them, so the scan deletes nothing in those directories.
   *
   * Memory: pending entries and one record per directory of the subtree being listed, plus
   * the paths of the top-level directories.
   */
  async *listTree(root: string, options?: ListOptions): AsyncGenerator<TreeListing> {
    const signal = options?.signal;
    const errors: Error[] = [];
    const listing = new DirectoryListing(root, this.#keyPrefix(root), this.#where());
    const subtrees: string[] = [];
    for await (const { entries, last } of this.#delimited(listing, signal, {
      retryFirst: true,
      always: true,
    })) {
      for (const e of entries) if (e.isDir) subtrees.push(e.path);
      if (!last) {
        if (entries.length > 0) yield { dir: root, entries, more: true };
        continue;
      }
      try {
        listing.pager.finish();
        yield { dir: root, entries };
      } catch (error) {
        if (entries.length > 0) yield { dir: root, entries, more: true };
        errors.push(error as Error);
      }
    }
    for (const dir of subtrees) {
      const tree = new TreeBuilder(dir, this.#keyPrefix(dir), this.#where());
      try {
        for await (const answer of this.#answers(
          dir,
          { Prefix: this.#keyPrefix(dir) },
          signal,
          true,
        )) {
          yield* tree.addAnswer(answer);
        }
      } catch (error) {
        // What was read is true and goes on; nothing in this subtree is completed.
        if ((error as StorageError).code !== 'CANCELLED') yield* tree.abandon();
        let invalid = tree.rejected;
        for (const e of errors) invalid += (e as StorageError).invalidEntries ?? 0;
        throw withInvalid(error, invalid);
      }
      const { pieces, errors: bad } = tree.end();
      yield* pieces;
      errors.push(...bad);
    }
    if (errors.length > 0) throw combined(errors, root);
  }

  /**
   * One directory's delimited listing as pages, the last one marked. When the listing
   * breaks, what was read is yielded first (unless nothing was yielded yet and the failure
   * is worth retrying whole, or `always`), then the error is thrown.
   */
  async *#delimited(
    listing: DirectoryListing,
    signal: AbortSignal | undefined,
    how: { retryFirst: boolean; always: boolean },
  ): AsyncGenerator<{ entries: Entry[]; last: boolean }> {
    const dir = listing.dir;
    const prefix = this.#keyPrefix(dir);
    const out: Entry[][] = [];
    let yielded = false;
    try {
      for await (const answer of this.#answers(
        dir,
        { Prefix: prefix, Delimiter: '/' },
        signal,
        how.retryFirst,
      )) {
        listing.addAnswer(answer, out);
        for (const entries of out.splice(0)) {
          yielded = true;
          yield { entries, last: false };
        }
      }
    } catch (error) {
      const e = error as StorageError;
      if (e.code !== 'CANCELLED' && (yielded || how.always || !e.retryable)) {
        yield { entries: listing.abandon(), last: false };
      }
      throw withInvalid(error, listing.pager.rejected);
    }
    // S3 has no directories: a prefix with no keys under it and no marker does not exist.
    if (listing.empty && prefix !== '') {
      throw new NotFoundError(`no such directory: s3://${this.#options.bucket}/${prefix}`, {
        path: dir,
      });
    }
    const last = listing.end(out);
    for (const entries of out.splice(0)) yield { entries, last: false };
    yield { entries: last, last: true };
  }

  #keyPrefix(dir: string): string {
    return dir === ROOT ? this.#options.prefix : `${this.#options.prefix}${dir.slice(1)}/`;
  }

  #where(operation = 'ListObjectsV2'): string {
    return `S3 ${operation} s3://${this.#options.bucket}/${this.#options.prefix}`;
  }

  /**
   * Every answer of one listing, in order. The server's word on whether the listing is
   * complete is checked after each answer is handed on, so the entries before a cut are
   * used: an answer that says it is truncated without a continuation token, a token seen
   * before, or no word at all end the listing with PROTOCOL — never as complete, which would
   * delete what the server did not list. So does a server that goes round without progress
   * (empty answers with ever new tokens, or an answer it already sent): it is stopped before
   * the repeat is handed on.
   */
  async *#answers(
    dir: string,
    params: { Prefix: string; Delimiter?: string },
    signal: AbortSignal | undefined,
    retryFirst: boolean,
  ): AsyncGenerator<ListPage> {
    const seen = new Set<string>();
    const progress = new ListingProgress(this.#where(), dir);
    const cut = (why: string) =>
      new ProtocolError(
        `${this.#where()} (${dir}): ${why}, so the listing is incomplete and nothing in this directory was deleted`,
        { path: dir },
      );
    let token: string | undefined;
    for (let n = 0; ; n++) {
      const request: ListParams = { ...params, MaxKeys: this.#options.pageSize };
      if (token !== undefined) request.ContinuationToken = token;
      const retries = n > 0 || retryFirst ? PAGE_RETRIES : 0;
      const answer = await this.#requestWithRetries(dir, request, signal, retries);
      const keys = answer.objects
        .map((o) => o.key ?? '')
        .concat(answer.prefixes.map((p) => p ?? ''));
      progress.answer(keys, keys.length);
      yield answer;
      const truncated = answer.isTruncated?.trim().toLowerCase();
      if (truncated === 'false') return;
      if (truncated !== 'true') {
        throw cut(
          `the answer does not say whether more follows (IsTruncated ${show(answer.isTruncated ?? 'missing')})`,
        );
      }
      token = answer.nextToken;
      if (!token)
        throw cut('the server cut the listing short (truncated, with no continuation token)');
      if (seen.has(token)) throw cut('the server repeated a continuation token');
      seen.add(token);
    }
  }

  async #requestWithRetries(
    dir: string,
    params: ListParams,
    signal: AbortSignal | undefined,
    retries: number,
  ): Promise<ListPage> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#request(dir, params, signal, this.#options.timeoutMs);
      } catch (error) {
        const e = error as StorageError;
        if (e.code === 'CANCELLED' || !e.retryable || attempt >= retries) throw e;
        const backoff = backoffDelay(attempt, { baseMs: 200, maxMs: 10_000 });
        try {
          await sleep(Math.min(e.retryAfterMs ?? backoff, MAX_RETRY_WAIT_MS), signal);
        } catch {
          throw cancelledError(dir);
        }
      }
    }
  }

  /** One ListObjectsV2 request under trawl's own timers (see `#timed`). */
  async #request(
    dir: string,
    params: ListParams,
    signal: AbortSignal | undefined,
    timeoutMs: number,
  ): Promise<ListPage> {
    return this.#timed(dir, signal, timeoutMs, this.#where(), (client, control) =>
      client.listObjectsV2({ Bucket: this.#options.bucket, ...params }, control),
    );
  }

  /**
   * One ranged GetObject under the same timers as a listing's page; never more than `bytes`
   * of the answer are kept, whatever the server sends. An object that became empty since it
   * was listed answers 416 (InvalidRange): no bytes.
   */
  async readHead(path: string, bytes: number, options?: ReadHeadOptions): Promise<Uint8Array> {
    const signal = options?.signal;
    if (signal?.aborted) throw cancelledError(path);
    if (bytes <= 0) return new Uint8Array();
    const key = this.#options.prefix + path.slice(1);
    const where = this.#where('GetObject');
    return this.#timed(path, signal, this.#options.timeoutMs, where, async (client, control) => {
      if (!client.getObjectHead) {
        throw new ProtocolError('this S3 client cannot read objects', { path });
      }
      try {
        return await client.getObjectHead(
          { Bucket: this.#options.bucket, Key: key, Range: `bytes=0-${bytes - 1}` },
          control,
          bytes,
        );
      } catch (error) {
        const e = error as SdkError;
        if (e.name === 'InvalidRange' || e.$metadata?.httpStatusCode === 416) {
          return new Uint8Array();
        }
        throw error;
      }
    });
  }

  /**
   * `work` under trawl's own timers: aborted when no byte of the answer has come for
   * `timeoutMs` (TIMEOUT), when it has taken {@link PAGE_TIME_FACTOR} times that in all
   * (TIMEOUT), or when `signal` aborts (CANCELLED) — at once, whatever the SDK is doing, and
   * the request's socket is destroyed with it.
   */
  async #timed<T>(
    dir: string,
    signal: AbortSignal | undefined,
    timeoutMs: number,
    where: string,
    send: (client: S3Like, control: RequestControl) => Promise<T>,
  ): Promise<T> {
    const client = this.#client;
    if (!client) throw new UnavailableError('S3 client is not connected', { path: dir });
    if (signal?.aborted) throw cancelledError(dir);
    const stop = new AbortController();
    let timedOut: string | undefined;
    const expire = (why: string) => () => {
      timedOut = why;
      stop.abort();
    };
    const idle = setTimeout(expire(`no answer for ${timeoutMs} ms`), timeoutMs);
    const ceiling = setTimeout(
      expire(`the answer took longer than ${PAGE_TIME_FACTOR * timeoutMs} ms`),
      PAGE_TIME_FACTOR * timeoutMs,
    );
    const onAbort = () => stop.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const stopped = new Promise<never>((_, reject) => {
      stop.signal.addEventListener('abort', () => reject(stop.signal.reason), { once: true });
    });
    const control: RequestControl = { abortSignal: stop.signal, progress: () => idle.refresh() };
    const work = send(client, control);
    // Whichever loses the race below settles later with nobody listening.
    work.catch(() => undefined);
    stopped.catch(() => undefined);
    try {
      return await Promise.race([work, stopped]);
    } catch (error) {
      if (timedOut !== undefined) {
        throw new TimeoutError(`${where} (${dir}): ${timedOut}`, { path: dir });
      }
      if (signal?.aborted) throw cancelledError(dir);
      throw mapS3Error(error, dir, where);
    } finally {
      clearTimeout(idle);
      clearTimeout(ceiling);
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

/**
 * The SDK warns on stderr, once per process, that its releases after January 2027 will need
 * Node 22; trawl pins its SDK, and a CLI whose stderr is for the user should not carry that.
 * The SDK stays quiet when `AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true` (the
 * user's environment, not trawl's to write) or when its own once-per-process flag is set:
 * the exported `state` of `@aws-sdk/core/client`. That module is required from beside the S3
 * client, as the client requires it, so both see one instance. Must run before the first
 * `new S3Client`; an SDK without the flag just warns.
 */
function muteNodeVersionWarning(): void {
  try {
    const sdkRequire = createRequire(createRequire(import.meta.url).resolve('@aws-sdk/client-s3'));
    const core = sdkRequire('@aws-sdk/core/client') as { state?: { warningEmitted?: boolean } };
    if (core.state) core.state.warningEmitted = true;
  } catch {
    // Not where it was: the warning shows, nothing else changes.
  }
}

/**
 * The client of options with the environment's credentials applied (s3-backend.ts, at the
 * first connect): the SDK itself loads at the client's own first connect.
 */
export function createS3Client(options: S3Options, deps: BackendDeps): S3StorageClient {
  const { accessKeyId, secretAccessKey, sessionToken } = options;
  const region = options.region ?? 'us-east-1';
  const make = async (): Promise<S3Like> => {
    if (deps.addressPolicy && !(accessKeyId && secretAccessKey)) {
      // The SDK would fall back on the server's own credentials — its environment, ~/.aws,
      // or the cloud's metadata service at 169.254.169.254, over its own connections —
      // and a tenant's storage would act as the server.
      throw new ForbiddenAddressError(
        `s3://${options.bucket}: no accessKeyId and secretAccessKey; under the server's address policy the server's own AWS credentials (environment, ~/.aws, instance metadata) are not used for a storage`,
      );
    }
    // Loaded on first connect: the SDK costs every CLI start ~0.3 s otherwise.
    const { S3Client, ListObjectsV2Command, GetObjectCommand } = await import('@aws-sdk/client-s3');
    const { ConnectTimeoutHttpAgent, ConnectTimeoutHttpsAgent } = await import('./s3-agents.js');
    const quiet = { debug() {}, info() {}, warn() {}, error() {} };
    muteNodeVersionWarning();
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
      // A ranged head has no whole-object checksum to check, and its body is read by
      // trawl (s3-http.ts), not by the SDK's validating stream.
      responseChecksumValidation: 'WHEN_REQUIRED',
      // Every wait is bounded by trawl's own timers (#request, s3-http.ts): the SDK's
      // request timeout would only print a warning, and nothing of the SDK's goes to stderr.
      logger: quiet,
      requestHandler: {
        // Under the SSRF guard every connection of the SDK goes through these two agents.
        httpAgent: guardAgent(
          new ConnectTimeoutHttpAgent(agentOptions, options.connectTimeoutMs),
          deps.addressPolicy,
        ),
        httpsAgent: guardAgent(
          new ConnectTimeoutHttpsAgent(agentOptions, options.connectTimeoutMs),
          deps.addressPolicy,
        ),
        logger: quiet,
      },
    });
    return {
      listObjectsV2: (input, control) =>
        sendListObjects(
          sdk as unknown as SdkClient,
          new ListObjectsV2Command(input) as unknown as SdkCommand,
          control,
        ),
      getObjectHead: (input, control, bytes) =>
        sendGetHead(
          sdk as unknown as SdkClient,
          new GetObjectCommand(input) as unknown as SdkCommand,
          control,
          bytes,
        ),
      destroy: () => sdk.destroy(),
    };
  };
  return new S3StorageClient(options, make);
}
