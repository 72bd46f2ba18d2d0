/**
 * SMB 2.x (`@tryjsky/v9u-smb2`: dialects 2.0.2 and 2.1, NTLMv2). The library opens the
 * session (negotiate, NTLM, tree connect); listings are sent by this file with the library's
 * message builders, because its own `readdir` can neither report a dropped connection (its
 * callbacks never fire) nor wait out an interim STATUS_PENDING answer. Everything runs on one
 * TCP connection: SMB2 tags each request with a message id, so listings run concurrently.
 *
 * A listing opens the folder, repeats QUERY_DIRECTORY until the server answers
 * STATUS_NO_MORE_FILES (anything else fails the listing) and closes the handle. It streams:
 * each answer (at most 64 KiB, a few hundred entries) is parsed here, bounds-checked, and
 * handed through a {@link ListingPager}; pages are yielded as they fill and the next
 * QUERY_DIRECTORY is sent only when the consumer asks for more. A server that answers
 * without progress (empty answers, an answer it already gave) is caught by
 * {@link ListingProgress} instead of a cap on entries.
 *
 * Every wait is bounded by trawl's own timers: `connectTimeoutMs` for the TCP connect,
 * negotiate, NTLM login and tree connect, `timeoutMs` for each request (for a listing: no
 * answer for that long), and an abort signal ends any wait at once.
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import {
  AuthFailedError,
  cancelledError,
  InvalidConfigError,
  NotFoundError,
  PermissionDeniedError,
  ProtocolError,
  StorageError,
  TimeoutError,
  toStorageError,
  UnavailableError,
} from '../errors.js';
import type { Entry, ListOptions, ReadHeadOptions, StorageClient } from '../types.js';
import { checkByteCount, checkMtime, ListingPager, type RawEntry } from '../pager.js';
import { ListingProgress } from './listing-progress.js';
import type { AddressPolicy } from '../net/address-policy.js';
import { guardSocket } from '../net/guard.js';
import { isBug, scrub, serverPath, urlHost, withDeadline } from './remote-common.js';

export interface SmbOptions {
  host: string;
  /** @default 445 */
  port: number;
  share: string;
  /** Folder inside the share that is the storage's root. @default / */
  root: string;
  /** `TRAWL_SMB_USER` when absent. */
  user: string | undefined;
  /** `TRAWL_SMB_PASSWORD` when absent. */
  password: string | undefined;
  /**
   * Accepted for the URL form `smb://DOMAIN;user@…`. NTLMv2 in this client answers for the
   * domain the server names in its challenge, so this cannot select another one.
   */
  domain: string | undefined;
  /**
   * Per request, in ms; for a listing, the longest wait for the next QUERY_DIRECTORY answer
   * (not the whole listing). @default 30000
   */
  timeoutMs: number;
  /** For the TCP connect, negotiate, login and tree connect, in ms. @default 10000 */
  connectTimeoutMs: number;
}

/** The part of the library this backend uses: the client object doubles as the connection. */
interface SmbMessage {
  getHeaders(): { MessageId: Buffer | number; Status: Buffer };
  getResponse(): Record<string, Buffer>;
  getBuffer(connection: SmbConnection): Buffer;
}
interface SmbMessageModule {
  generate(connection: SmbConnection, params: Record<string, unknown>): SmbMessage;
}
interface SmbConnection {
  socket: Socket;
  responses: Record<string, SmbMessage | undefined>;
  responsesCB: Record<string, ((m: SmbMessage) => void) | undefined>;
  exists(path: string): Promise<boolean>;
  disconnect(): void;
}
type SmbConnectionCtor = new (options: Record<string, unknown>) => SmbConnection;

interface SmbLib {
  SMB2: SmbConnectionCtor;
  MESSAGES: Record<'open' | 'query_directory' | 'read' | 'close', SmbMessageModule>;
  NT_NAMES: { getStatus(code: number): { code: string } };
}

let loaded: SmbLib | undefined;

/** The SMB library, loaded on first connect: a CLI run on other kinds never pays for it. */
function smbLib(): SmbLib {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const lib = '@tryjsky/v9u-smb2/lib';
  loaded = {
    SMB2: require('@tryjsky/v9u-smb2') as SmbConnectionCtor,
    MESSAGES: {
      open: require(`${lib}/messages/open.js`) as SmbMessageModule,
      query_directory: require(`${lib}/messages/query_directory.js`) as SmbMessageModule,
      read: require(`${lib}/messages/read.js`) as SmbMessageModule,
      close: require(`${lib}/messages/close.js`) as SmbMessageModule,
    },
    NT_NAMES: require(`${lib}/tools/ms_erref.js`) as SmbLib['NT_NAMES'],
  };
  return loaded;
}

const STATUS_PENDING = 0x00000103;
const STATUS_NO_MORE_FILES = 0x80000006;
const STATUS_END_OF_FILE = 0xc0000011;
/**
 * The most asked of one READ: far below any server's MaxReadSize (64 KiB in SMB 2.0.2), so
 * a head of any size is read in steps every server serves, each answer well inside
 * {@link MAX_MESSAGE_BYTES}.
 */
const MAX_READ_BYTES = 60 * 1024;
const ATTR_DIRECTORY = 0x10;
const ATTR_REPARSE_POINT = 0x400;
const FILETIME_UNIX_EPOCH = 116444736000000000n;
/**
 * The longest SMB2 message accepted. Answers to this client's requests are at most 64 KiB
 * (the QUERY_DIRECTORY output buffer it asks for) plus headers; a server announcing more
 * is refused instead of buffered (the length field allows 16 MiB).
 */
const MAX_MESSAGE_BYTES = 1024 * 1024;
/**
 * The longest folder path sent, in UTF-16 bytes: CREATE's name length is 16 bits, and the
 * library builds each request in a 64 KiB buffer, silently cutting what does not fit — a
 * cut path would open another folder.
 */
const MAX_PATH_BYTES = 65_000;

/** NTSTATUS by name → contract code: the one table this backend maps with. */
const NTSTATUS: Record<
  string,
  'NOT_FOUND' | 'PERMISSION_DENIED' | 'AUTH_FAILED' | 'UNAVAILABLE' | 'TIMEOUT' | 'NAME_INVALID'
> = {
  STATUS_OBJECT_NAME_NOT_FOUND: 'NOT_FOUND',
  STATUS_OBJECT_PATH_NOT_FOUND: 'NOT_FOUND',
  STATUS_OBJECT_NAME_INVALID: 'NAME_INVALID',
  STATUS_NOT_A_DIRECTORY: 'NOT_FOUND',
  STATUS_NO_SUCH_FILE: 'NOT_FOUND',
  STATUS_DELETE_PENDING: 'NOT_FOUND',
  STATUS_BAD_NETWORK_NAME: 'NOT_FOUND',
  STATUS_ACCESS_DENIED: 'PERMISSION_DENIED',
  STATUS_NETWORK_ACCESS_DENIED: 'PERMISSION_DENIED',
  STATUS_LOGON_FAILURE: 'AUTH_FAILED',
  STATUS_ACCOUNT_RESTRICTION: 'AUTH_FAILED',
  STATUS_ACCOUNT_DISABLED: 'AUTH_FAILED',
  STATUS_ACCOUNT_LOCKED_OUT: 'AUTH_FAILED',
  STATUS_PASSWORD_EXPIRED: 'AUTH_FAILED',
  STATUS_PASSWORD_MUST_CHANGE: 'AUTH_FAILED',
  STATUS_LOGON_TYPE_NOT_GRANTED: 'AUTH_FAILED',
  STATUS_WRONG_PASSWORD: 'AUTH_FAILED',
  STATUS_NO_SUCH_USER: 'AUTH_FAILED',
  STATUS_USER_SESSION_DELETED: 'UNAVAILABLE',
  STATUS_NETWORK_SESSION_EXPIRED: 'UNAVAILABLE',
  STATUS_NETWORK_NAME_DELETED: 'UNAVAILABLE',
  STATUS_CONNECTION_DISCONNECTED: 'UNAVAILABLE',
  STATUS_CONNECTION_RESET: 'UNAVAILABLE',
  STATUS_INSUFFICIENT_RESOURCES: 'UNAVAILABLE',
  STATUS_SHARING_VIOLATION: 'UNAVAILABLE',
  STATUS_FILE_LOCK_CONFLICT: 'UNAVAILABLE',
  STATUS_IO_TIMEOUT: 'TIMEOUT',
};

const SOCKET_GONE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ERR_SOCKET_CLOSED',
]);

/** An NTSTATUS answer to one of this file's own requests. */
class NtStatus extends Error {
  override name = 'NtStatus';
  constructor(
    readonly status: number,
    readonly code: string,
    readonly request: string,
  ) {
    super(`${code} (0x${status.toString(16).toUpperCase().padStart(8, '0')}) answering ${request}`);
  }
}

/**
 * Maps NTSTATUS answers (by name, as the library and {@link NtStatus} carry them), socket
 * errors and timeouts to StorageErrors: the one place this backend does it.
 */
export function mapSmbError(error: unknown, where: string, path: string): StorageError {
  if (error instanceof StorageError) return error;
  // A bug (trawl's or the library's), not something the server said: INTERNAL fails the
  // scan loudly instead of passing for one directory's PROTOCOL error.
  if (isBug(error)) return toStorageError(error, path);
  const e = (error ?? {}) as { code?: unknown; message?: unknown; messageName?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(error);
  const opts = { path, cause: error };
  const at = `${where}${path === '/' ? '' : ` (${path})`}`;
  const code = typeof e.code === 'string' ? e.code : '';
  if (code === 'STATUS_NOT_SUPPORTED' && e.messageName === 'negotiate') {
    return new ProtocolError(
      `${where} refused SMB 2.0.2 and 2.1 (it speaks only SMB3, which this client does not): ` +
        'allow SMB2_10 on the server (server min protocol = SMB2_10) to index it',
      opts,
    );
  }
  switch (NTSTATUS[code]) {
    case 'NOT_FOUND':
      return new NotFoundError(`no such file or folder on ${at}: ${code}`, opts);
    case 'PERMISSION_DENIED':
      return new PermissionDeniedError(`access denied on ${at}: ${code}`, opts);
    case 'AUTH_FAILED':
      return new AuthFailedError(`${where} refused the login: ${code}`, opts);
    case 'UNAVAILABLE':
      return new UnavailableError(`${at}: ${code}`, opts);
    case 'TIMEOUT':
      return new TimeoutError(`${at}: ${code}`, opts);
    case 'NAME_INVALID':
      // Not gone: a name the server cannot open (one it listed, but cannot map back, say)
      // is still there, and NOT_FOUND would make the scan delete what the index holds under it.
      return new ProtocolError(
        `${at}: the server cannot open this name (${code}); the entries under it are kept`,
        opts,
      );
  }
  if (code === 'ETIMEDOUT') return new TimeoutError(`${at}: ${message}`, opts);
  if (SOCKET_GONE.has(code))
    return new UnavailableError(`${where} is unreachable: ${message}`, opts);
  return new ProtocolError(`${at}: ${message}`, opts);
}

function socketCode(cause: unknown): string {
  const code = (cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? ` (${code})` : '';
}

/** A FILETIME (100 ns ticks since 1601) as epoch ms; undefined for 0 ("no time") or past year 9999. */
function fileTimeMs(ticks: bigint): number | undefined {
  if (ticks === 0n) return undefined;
  const since = ticks - FILETIME_UNIX_EPOCH;
  // Floored in bigint: as a double, today's tick counts are past 2^53 and would round.
  const ms = since >= 0n ? since / 10_000n : -((-since + 9_999n) / 10_000n);
  return checkMtime(Number(ms));
}

/** Fixed part of a FILE_ID_BOTH_DIR_INFORMATION entry (MS-FSCC 2.4.17), before its name. */
const DIR_INFO_BYTES = 104;

/**
 * The entries of one QUERY_DIRECTORY answer (FileIdBothDirectoryInformation), each checked
 * against the answer's bounds: the layout is the server's word, not a fact. `.` and `..`
 * are left out. An entry whose name does not fit is rejected, and a chain that leaves the
 * answer ends it (the rest of the answer cannot be found).
 */
function* dirEntries(buf: Buffer, reject: (what: string) => void): Generator<RawEntry> {
  let at = 0;
  for (;;) {
    if (at + DIR_INFO_BYTES > buf.length) {
      reject(`an entry past the end of a ${buf.length}-byte answer`);
      return;
    }
    const next = buf.readUInt32LE(at);
    const end = next === 0 ? buf.length : at + next;
    if (next !== 0 && (next < DIR_INFO_BYTES || end > buf.length)) {
      reject(`an entry chain that leaves the ${buf.length}-byte answer`);
      return;
    }
    const nameBytes = buf.readUInt32LE(at + 60);
    if (nameBytes % 2 !== 0 || at + DIR_INFO_BYTES + nameBytes > end) {
      reject(`an entry whose name (${nameBytes} bytes) does not fit it`);
    } else {
      const name = buf.toString('utf16le', at + DIR_INFO_BYTES, at + DIR_INFO_BYTES + nameBytes);
      if (name !== '.' && name !== '..') {
        const attributes = buf.readUInt32LE(at + 56);
        const isDir = (attributes & ATTR_DIRECTORY) !== 0;
        const size = buf.readBigUInt64LE(at + 40);
        const time = buf.readBigUInt64LE(at + 24);
        if (name.includes('\\')) {
          // SMB's own separator: a path built from it would name another file.
          reject(`a name with "\\" (${JSON.stringify(name.slice(0, 80))})`);
        } else {
          yield {
            name,
            isDir,
            size: checkByteCount(size),
            sizeText: String(size),
            mtime: fileTimeMs(time),
            mtimeText: `FILETIME ${time}`,
            skip: attributes & ATTR_REPARSE_POINT ? 'symlink' : undefined,
          };
        }
      }
    }
    if (next === 0) return;
    at = end;
  }
}

export class SmbClient implements StorageClient {
  readonly #o: SmbOptions;
  readonly #where: string;
  #smb: SmbConnection | undefined;
  /** Requests in flight: failed at once when the socket goes (the library would leave them hanging). */
  readonly #pending = new Set<(error: StorageError) => void>();

  readonly #policy: AddressPolicy | undefined;

  constructor(options: SmbOptions, policy?: AddressPolicy) {
    this.#o = options;
    this.#policy = policy;
    this.#where = `smb://${urlHost(options.host)}:${options.port}/${options.share}`;
  }

  async connect(): Promise<void> {
    if (this.#smb) return;
    const o = this.#o;
    if (!o.user || o.password === undefined) {
      throw new InvalidConfigError(
        `no user or password for ${this.#where} (URL, options, or TRAWL_SMB_USER / TRAWL_SMB_PASSWORD)`,
      );
    }
    const smb = new (smbLib().SMB2)({
      share: `\\\\${o.host}\\${o.share}`,
      domain: o.domain ?? '',
      username: o.user,
      password: o.password,
      port: o.port,
      autoCloseTimeout: 0,
    });
    // Concurrent listings share the socket: Nagle would hold small requests for delayed ACKs.
    smb.socket.setNoDelay(true);
    // The library connects this socket itself (to the host of the share): under the SSRF
    // guard, wherever it connects is checked then, a reconnect included.
    let refused: StorageError | undefined;
    if (this.#policy) guardSocket(smb.socket, this.#policy, { onRefused: (e) => (refused = e) });
    const lost = (cause: unknown) => this.#dropped(smb, cause);
    // The library parses answers inside the socket's data handler, where a malformed one
    // would throw out of the event loop and end the process, and it buffers by concatenating
    // every chunk onto what it holds (quadratic in a large answer, up to the 16 MiB the
    // length field allows). So this file cuts the stream into whole messages, refuses an
    // oversized one, and hands the library one message at a time, containing its throws.
    for (const parse of smb.socket.listeners('data') as Array<(chunk: Buffer) => void>) {
      smb.socket.off('data', parse);
      smb.socket.on(
        'data',
        messageFramer(
          (message) => {
            try {
              parse(message);
            } catch (error) {
              lost(
                new ProtocolError(`malformed SMB2 answer from ${this.#where}`, { cause: error }),
              );
            }
          },
          (bytes) =>
            lost(
              new ProtocolError(
                `${this.#where} announced an SMB2 message of ${bytes} bytes (at most ${MAX_MESSAGE_BYTES} expected)`,
              ),
            ),
        ),
      );
    }
    // The library opens its socket half-open: a server's FIN alone would never close it.
    smb.socket.on('end', () => lost(new Error('the server closed the connection')));
    smb.socket.on('close', lost);
    smb.socket.on('error', lost);
    this.#smb = smb;
    try {
      // The library connects on first use; opening the share's top folder proves the login.
      const establish = async () => {
        await this.#tracked(smb.exists(''));
        await this.check();
      };
      await withDeadline(establish(), o.connectTimeoutMs, `connecting to ${this.#where}`, '/');
    } catch (error) {
      await this.close();
      throw refused ?? this.#map(error, '/');
    }
  }

  async close(): Promise<void> {
    const smb = this.#smb;
    this.#smb = undefined;
    if (!smb) return;
    // Fails what is still in flight (handle closes, mostly) and lets it settle, clearing
    // the deadline timers that would otherwise hold the process open.
    const closed = new UnavailableError(`client for ${this.#where} is closed`);
    for (const fail of [...this.#pending]) fail(closed);
    await new Promise((resolve) => setImmediate(resolve));
    try {
      smb.disconnect();
    } catch {
      // already gone
    }
    smb.socket.destroy();
  }

  async check(): Promise<void> {
    const { fileId, attributes } = await this.#open('/', undefined);
    this.#closeHandle(fileId, '/');
    if ((attributes & ATTR_DIRECTORY) === 0) {
      throw new NotFoundError(`not a folder on ${this.#where}: ${this.#o.root}`, { path: '/' });
    }
  }

  async *list(dir: string, options?: ListOptions): AsyncGenerator<Entry[]> {
    const signal = options?.signal;
    const { fileId, attributes } = await this.#open(dir, signal);
    const pager = new ListingPager(dir, { where: this.#where });
    const progress = new ListingProgress(`QUERY_DIRECTORY on ${this.#where}`, dir);
    let yielded = false;
    try {
      if ((attributes & ATTR_DIRECTORY) === 0) {
        throw new NotFoundError(`not a folder on ${this.#where}: ${dir}`, { path: dir });
      }
      for (;;) {
        let answer: SmbMessage;
        try {
          answer = await this.#request('query_directory', { FileId: fileId }, dir, signal);
        } catch (error) {
          if (error instanceof NtStatus && error.status === STATUS_NO_MORE_FILES) break;
          throw error;
        }
        const buffer = answer.getResponse().Buffer ?? Buffer.alloc(0);
        let count = 0;
        const pages: Entry[][] = [];
        if (buffer.length > 0) {
          for (const raw of dirEntries(buffer, (what) => pager.reject(what))) {
            count++;
            const page = pager.add(raw);
            if (page) pages.push(page);
          }
        }
        progress.answer(buffer, buffer.length === 0 ? 0 : Math.max(count, 1));
        for (const page of pages) {
          yielded = true;
          yield page;
        }
      }
    } catch (error) {
      const mapped = this.#map(error, dir);
      // Pages went out already: the entries read since are as true, so they follow first.
      const rest = yielded && mapped.code !== 'CANCELLED' ? pager.take() : [];
      if (rest.length > 0) yield rest;
      throw mapped;
    } finally {
      // Not awaited: the answer is complete before the close, which would add a round trip
      // to every listing. A listing stopped early (break, abort, error) closes it the same way.
      this.#closeHandle(fileId, dir);
    }
    const last = pager.take();
    if (last.length > 0) yield last;
    pager.finish();
  }

  /**
   * CREATE (open for reading), READ from offset 0 until `bytes` are in or the file ends,
   * CLOSE (not awaited, as a listing's), each under `timeoutMs`. A server that answers a
   * READ with more than was asked is cut to what was asked; one that answers nothing is a
   * TIMEOUT. A folder yields no bytes; a reparse point (a symbolic link Samba shows as one)
   * is not followed (NOT_FOUND), as the listing skips it.
   */
  async readHead(path: string, bytes: number, options?: ReadHeadOptions): Promise<Uint8Array> {
    const signal = options?.signal;
    if (signal?.aborted) throw cancelledError(path);
    if (bytes <= 0) return new Uint8Array();
    const { fileId, attributes } = await this.#open(path, signal);
    try {
      if (attributes & ATTR_REPARSE_POINT) {
        throw new NotFoundError(`a symbolic link, not followed, on ${this.#where}: ${path}`, {
          path,
        });
      }
      if (attributes & ATTR_DIRECTORY) return new Uint8Array();
      const head = Buffer.alloc(bytes);
      let got = 0;
      while (got < bytes) {
        // An 8-byte field from a Buffer: the library writes numbers with 32-bit shifts.
        const offset = Buffer.alloc(8);
        offset.writeBigUInt64LE(BigInt(got));
        let data: Buffer;
        try {
          const answer = await this.#request(
            'read',
            { FileId: fileId, Length: Math.min(bytes - got, MAX_READ_BYTES), Offset: offset },
            path,
            signal,
          );
          data = answer.getResponse().Buffer ?? Buffer.alloc(0);
        } catch (error) {
          if (error instanceof NtStatus && error.status === STATUS_END_OF_FILE) break;
          throw error;
        }
        if (data.length === 0) break;
        got += data.copy(head, got, 0, Math.min(data.length, bytes - got));
      }
      return new Uint8Array(head.subarray(0, got));
    } catch (error) {
      throw this.#map(error, path);
    } finally {
      this.#closeHandle(fileId, path);
    }
  }

  /** Opens `path` (a folder, for reading its listing; a file, for its head): handle and attributes. */
  async #open(
    path: string,
    signal: AbortSignal | undefined,
  ): Promise<{ fileId: Buffer; attributes: number }> {
    try {
      const smbPath = this.#smbPath(path);
      const bytes = Buffer.byteLength(smbPath, 'utf16le');
      if (bytes > MAX_PATH_BYTES) {
        throw new ProtocolError(
          `${path.slice(0, 80)}… is too long for SMB2 (${bytes} bytes in UTF-16, at most ${MAX_PATH_BYTES})`,
          { path },
        );
      }
      const opened = (await this.#request('open', { path: smbPath }, path, signal)).getResponse();
      const fileId = opened.FileId;
      const attributes = opened.FileAttributes;
      if (fileId?.length !== 16 || attributes?.length !== 4) {
        throw new ProtocolError(`${this.#where} answered CREATE of ${path} without a handle`, {
          path,
        });
      }
      return { fileId, attributes: attributes.readUInt32LE(0) };
    } catch (error) {
      throw this.#map(error, path);
    }
  }

  /** Closes a handle without waiting. A failed close leaks one handle until the session ends. */
  #closeHandle(fileId: Buffer, path: string): void {
    void this.#request('close', { FileId: fileId }, path).catch(() => undefined);
  }

  #smbPath(path: string): string {
    return serverPath(this.#o.root, path).slice(1).split('/').join('\\');
  }

  /** Sends one SMB2 request and waits for its final answer (an interim STATUS_PENDING is skipped). */
  #request(
    name: keyof SmbLib['MESSAGES'],
    params: Record<string, unknown>,
    path: string,
    signal?: AbortSignal,
  ): Promise<SmbMessage> {
    const smb = this.#smb;
    if (!smb || smb.socket.destroyed) {
      return Promise.reject(new UnavailableError(`not connected to ${this.#where}`, { path }));
    }
    const message = smbLib().MESSAGES[name].generate(smb, params);
    const body = message.getBuffer(smb);
    const frame = Buffer.alloc(4 + body.length);
    frame.writeUInt8((body.length >> 16) & 0xff, 1);
    frame.writeUInt16BE(body.length & 0xffff, 2);
    body.copy(frame, 4);
    const id = Buffer.alloc(4);
    id.writeUInt32LE(Number(message.getHeaders().MessageId));
    const key = id.toString('hex');
    if (signal?.aborted) return Promise.reject(cancelledError(path));
    const answered = new Promise<SmbMessage>((resolve, reject) => {
      const onAnswer = (answer: SmbMessage) => {
        const status = answer.getHeaders().Status.readUInt32LE(0);
        // The library deletes the callback after calling it: wait again on the next tick.
        if (status === STATUS_PENDING) return void queueMicrotask(wait);
        if (status === 0) resolve(answer);
        else reject(new NtStatus(status, smbLib().NT_NAMES.getStatus(status).code, name));
      };
      const wait = () => {
        const early = smb.responses[key];
        if (early) {
          delete smb.responses[key];
          onAnswer(early);
        } else {
          smb.responsesCB[key] = onAnswer;
        }
      };
      smb.socket.write(frame);
      wait();
    });
    return withDeadline(
      this.#tracked(answered),
      this.#o.timeoutMs,
      `${name} on ${this.#where}`,
      path,
      signal,
    ).catch((error: unknown) => {
      // Given up on (timeout, abort, lost connection): its late answer, interim ones
      // included, is dropped instead of being kept by the library for ever.
      if (!(error instanceof NtStatus)) {
        const drop = (late: SmbMessage) => {
          if (late.getHeaders().Status.readUInt32LE(0) === STATUS_PENDING) {
            queueMicrotask(() => (smb.responsesCB[key] = drop));
          }
        };
        delete smb.responses[key];
        smb.responsesCB[key] = drop;
      }
      throw error;
    });
  }

  /** `work`, failed early when the connection drops (the library would never settle it). */
  #tracked<T>(work: Promise<T>): Promise<T> {
    let fail: (error: StorageError) => void = () => undefined;
    return new Promise<T>((resolve, reject) => {
      fail = reject;
      this.#pending.add(fail);
      work.then(resolve, reject);
    }).finally(() => this.#pending.delete(fail));
  }

  #dropped(smb: SmbConnection, cause: unknown): void {
    if (this.#smb !== smb) return;
    smb.socket.destroy();
    const lost =
      cause instanceof StorageError
        ? cause
        : new UnavailableError(`connection to ${this.#where} lost${socketCode(cause)}`, { cause });
    for (const fail of [...this.#pending]) fail(lost);
  }

  #map(error: unknown, path: string): StorageError {
    const mapped = mapSmbError(error, this.#where, path);
    const clean = scrub(mapped.message, [this.#o.password]);
    if (clean === mapped.message) return mapped;
    return new StorageError(mapped.code, clean, {
      path,
      retryable: mapped.retryable,
      cause: mapped.cause,
    });
  }
}

/**
 * Cuts a TCP stream into whole NetBIOS-framed SMB2 messages (4-byte header: a zero byte and
 * a 24-bit length), each handed to `message` once complete. Chunks are kept in a list and
 * joined once per message, so a message costs its own size, not a copy per chunk.
 */
export function messageFramer(
  message: (frame: Buffer) => void,
  tooLong: (bytes: number) => void,
): (chunk: Buffer) => void {
  let chunks: Buffer[] = [];
  let held = 0;
  let refused = false;
  return (chunk) => {
    if (refused) return;
    chunks.push(chunk);
    held += chunk.length;
    while (held >= 4) {
      const head = chunks[0]!.length >= 4 ? chunks[0]! : Buffer.concat(chunks, held);
      const bytes = head.readUInt32BE(0) & 0xffffff;
      if (bytes > MAX_MESSAGE_BYTES) {
        refused = true;
        chunks = [];
        tooLong(bytes);
        return;
      }
      if (held < 4 + bytes) return;
      const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, held);
      const rest = all.subarray(4 + bytes);
      chunks = rest.length > 0 ? [rest] : [];
      held = rest.length;
      message(all.subarray(0, 4 + bytes));
    }
  };
}
