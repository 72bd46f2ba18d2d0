/**
 * FTP and FTPS (basic-ftp). One control connection runs one command at a time, so this
 * backend keeps a small pool of logged-in connections (`connections`, default 5: the
 * StorageService's default per-storage concurrency) and gives each listing a connection of
 * its own: `CWD dir`, then MLSD when the server announces MLST in FEAT, `LIST -a` otherwise.
 * CWD takes the path literally, where a LIST argument would be globbed by servers such as
 * vsftpd. MLSD is also the way around a LIST cap that fails in silence (ProFTPD's
 * `ListOptions maxfiles`).
 *
 * A listing streams: the data connection's bytes are parsed line by line as they arrive
 * (ftp-transfer.ts) and handed on in pages; the final reply comes after the data and decides
 * whether the listing was whole, so the last page waits for it. A line that cannot be read,
 * or a reply saying the server cut the listing short (Pure-FTPd's `226 Output truncated to
 * 10000 matches`), ends the listing with an error after the good pages: nothing in that
 * directory is deleted.
 *
 * Time limits are trawl's own: `connectTimeoutMs` for connect, TLS and login, `timeoutMs` for
 * each reply and for the silence between two chunks of a listing. basic-ftp runs without
 * timeouts of its own.
 *
 * Precision: MLSD gives seconds (or better); LIST gives minutes for entries of the last six
 * months and days for older ones, read as UTC (vsftpd's default, `use_localtime=NO`).
 */
import type { Socket } from 'node:net';
import type { Client, FTPError, FTPResponse } from 'basic-ftp';
import { basicFtp, isFtpError } from './ftp-lib.js';
import {
  AuthFailedError,
  cancelledError,
  ForbiddenAddressError,
  NotFoundError,
  PermissionDeniedError,
  ProtocolError,
  StorageError,
  TimeoutError,
  toStorageError,
  UnavailableError,
} from '../errors.js';
import { ListingPager } from '../pager.js';
import { baseName, parentOf } from '../paths.js';
import type { Entry, ListOptions, ReadHeadOptions, StorageClient } from '../types.js';
import { parseLine, replyProblem, type ListFormat, type ReplyProblem } from './ftp-listing.js';
import { retrieveHead } from './ftp-head.js';
import { bounded, ListingStream } from './ftp-transfer.js';
import { ftpLogin } from './ftp-login.js';
import { MAX_LISTING_ENTRIES } from './listing-progress.js';
import type { AddressPolicy } from '../net/address-policy.js';
import { guardedLookup, guardSocket, literalRefusal } from '../net/guard.js';
import { scrub, serverPath, urlHost } from './remote-common.js';

export type FtpTls = 'none' | 'explicit' | 'implicit';

export interface FtpOptions {
  host: string;
  /** @default 21, 990 for implicit TLS */
  port: number;
  /** @default `TRAWL_FTP_USER`, else `anonymous` */
  user: string | undefined;
  /** @default `TRAWL_FTP_PASSWORD`, else `anonymous@` for the anonymous user */
  password: string | undefined;
  /** Server folder that is the storage's root. @default / */
  root: string;
  /** `explicit` (AUTH TLS on the FTP port), `implicit` (`ftps://`), or `none`. @default none */
  tls: FtpTls;
  /** Accept a TLS certificate that does not verify (self-signed test servers). @default false */
  insecureTls: boolean;
  /** Control connections kept open, one listing each at a time. @default 5 */
  connections: number;
  /** Opening one connection: TCP, TLS, greeting, login and settings, in ms. @default 10000 */
  connectTimeoutMs: number;
  /**
   * The longest wait for one reply, and the longest silence of the data connection while a
   * listing streams in (not the whole listing), in ms. @default 30000
   */
  timeoutMs: number;
}

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

// basic-ftp's own failures, by message (it throws plain Errors).
const GONE =
  /^Server sent FIN packet|^Server closed connection|^Socket closed due to transmission error|^Client is closed because|^User closed client|Control socket is disconnected|socket hang up|not connected/i;
const MISBEHAVED =
  /^Can't parse|^None of the available transfer strategies|^Unexpected FTP response|^FTP control response exceeded|^PASV returned another host|^Invalid command|no data connection/i;

/**
 * Maps what basic-ftp and the sockets under it throw to a StorageError: the one place this
 * backend does it. A 550 is ambiguous (vsftpd answers "Failed to change directory" for
 * missing and forbidden folders alike); {@link FtpClient} settles it by looking at the parent
 * first. What is not a known failure of the protocol or the network is a bug: INTERNAL.
 */
export function mapFtpError(error: unknown, where: string, path: string): StorageError {
  if (error instanceof StorageError) return error;
  const opts = { path, cause: error };
  const at = `${where}${path === '/' ? '' : ` (${path})`}`;
  const e = (error ?? {}) as { code?: unknown; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(error);
  if (isFtpError(error) || (error instanceof Error && typeof e.code === 'number')) {
    const code = Number(e.code);
    if (code === 530 || code === 532)
      return new AuthFailedError(`${where} refused the login: ${message}`, opts);
    // ProFTPD answers LIST on an unreadable folder "450 .: Permission denied".
    if ((code === 450 || code === 550) && /permission denied|access denied/i.test(message)) {
      return new PermissionDeniedError(`${where} refuses ${path}: ${message}`, opts);
    }
    if (code === 550) return new NotFoundError(`no such folder on ${at}: ${message}`, opts);
    if (code === 421)
      return new UnavailableError(`${where} is closing the connection: ${message}`, opts);
    if (code >= 400 && code < 500) return new UnavailableError(`${at}: ${message}`, opts);
    return new ProtocolError(`${at}: ${message}`, opts);
  }
  if (!(error instanceof Error) || error.name === 'AbortError') return toStorageError(error, path);
  const code = typeof e.code === 'string' ? e.code : '';
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS_CERT/.test(code)) {
    return new AuthFailedError(
      `${where} presented a TLS certificate that does not verify (${code}): trust its CA, or set insecureTls=true`,
      opts,
    );
  }
  if (/^Timeout\b/i.test(message) || /\bTimeout\b/.test(message) || code === 'ETIMEDOUT')
    return new TimeoutError(`${at}: ${message}`, opts);
  if (SOCKET_GONE.has(code) || GONE.test(message)) {
    return new UnavailableError(`${where} is unreachable: ${message}`, opts);
  }
  if (code.startsWith('ERR_SSL') || code === 'EPROTO' || code.startsWith('ERR_TLS')) {
    return new ProtocolError(`${at}: TLS failed: ${message}`, opts);
  }
  if (MISBEHAVED.test(message)) return new ProtocolError(`${at}: ${message}`, opts);
  return toStorageError(error, path);
}

interface Conn {
  ftp: Client;
  /** Closes the connection and every socket it opened, one still connecting included. */
  destroy(): void;
  format: ListFormat;
  /** Left in an unknown state (a request timed out, a transfer was cut): never reused. */
  broken: boolean;
  /** The listing under way on it, so that close() can end it. */
  stream?: ListingStream | undefined;
  /** The SSRF guard's refusal of one of its connections (basic-ftp rewraps it into text). */
  refused(): StorageError | undefined;
}

export class FtpClient implements StorageClient {
  readonly #o: FtpOptions;
  readonly #where: string;
  readonly #idle: Conn[] = [];
  readonly #busy = new Set<Conn>();
  readonly #waiters: Array<(c: Conn | undefined) => void> = [];
  /** Connections being opened, by the function that abandons each. */
  readonly #opening = new Set<() => void>();
  #closed = false;

  readonly #policy: AddressPolicy | undefined;

  constructor(options: FtpOptions, policy?: AddressPolicy) {
    this.#o = options;
    this.#policy = policy;
    const scheme = options.tls === 'implicit' ? 'ftps' : 'ftp';
    this.#where = `${scheme}://${urlHost(options.host)}:${options.port}`;
  }

  async connect(): Promise<void> {
    this.#closed = false;
    const conn = await this.#acquire('/');
    try {
      await this.#cwd(conn, '/');
    } catch (error) {
      throw this.#map(error, '/');
    } finally {
      this.#release(conn);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) w(undefined);
    for (const abandon of this.#opening) abandon();
    for (const c of [...this.#idle.splice(0), ...this.#busy]) {
      c.stream?.fail(new UnavailableError(`client for ${this.#where} is closed`));
      c.destroy();
    }
    this.#busy.clear();
  }

  async check(): Promise<void> {
    const conn = await this.#acquire('/');
    try {
      await this.#cwd(conn, '/');
    } catch (error) {
      throw this.#map(error, '/');
    } finally {
      this.#release(conn);
    }
  }

  async *list(dir: string, options?: ListOptions): AsyncGenerator<Entry[]> {
    const signal = options?.signal;
    const conn = await this.#acquire(dir, signal);
    try {
      yield* this.#listOn(conn, dir, signal);
    } catch (error) {
      throw this.#map(error, dir);
    } finally {
      // A listing left early (the caller stopped, an abort) leaves its transfer running:
      // `broken` is still set and the connection is closed, never handed to the next one.
      this.#release(conn);
    }
  }

  async *#listOn(conn: Conn, dir: string, signal?: AbortSignal): AsyncGenerator<Entry[]> {
    await this.#cwd(conn, dir, signal);
    const what = `${conn.format} on ${this.#where}`;
    const pager = new ListingPager(dir, { where: what, sizeOptional: conn.format === 'MLSD' });
    const now = Date.now();
    const stream = await this.#openListing(conn, dir, signal);
    let reply: FTPResponse;
    let read = 0;
    try {
      for (let lines; (lines = await stream.lines()) !== undefined;) {
        // Lines, not entries: a server sending blank or `.` lines forever is stopped too.
        read += lines.length;
        if (read > MAX_LISTING_ENTRIES) {
          throw new ProtocolError(
            `${what} does not end the listing of ${dir}: more than ${MAX_LISTING_ENTRIES.toLocaleString('en')} lines; nothing in it was deleted`,
            { path: dir, invalidEntries: pager.rejected || undefined },
          );
        }
        for (const line of lines) {
          const r = parseLine(conn.format, line, now);
          if (r === undefined) continue;
          if (typeof r === 'string') pager.reject(r);
          else {
            const page = pager.add(r);
            if (page) yield page;
          }
        }
      }
      reply = stream.reply;
      conn.broken = false;
    } finally {
      stream.close();
      conn.stream = undefined;
    }
    const problem = replyProblem(reply.code, reply.message);
    const last = pager.take();
    if (last.length > 0) yield last;
    if (problem) throw this.#replyError(problem, dir, pager.rejected);
    pager.finish();
  }

  /**
   * CWD to the file's folder, then `RETR name` cut after `bytes` (ftp-head.ts), on a pooled
   * connection like a listing. The connection goes back to the pool only when the server
   * answered the cut transfer; otherwise (a stall, a timeout, an abort) it is closed. A
   * refused RETR (vsftpd's "550 Failed to open file." for a missing file and an unreadable
   * one alike) is settled with SIZE: a file the server can size exists, and is refused.
   */
  async readHead(path: string, bytes: number, options?: ReadHeadOptions): Promise<Uint8Array> {
    const signal = options?.signal;
    if (signal?.aborted) throw cancelledError(path);
    if (bytes <= 0) return new Uint8Array();
    const name = baseName(path);
    if (/[\r\n\0]/.test(name)) {
      throw new ProtocolError(`${path} cannot be sent as an FTP command argument`, { path });
    }
    const conn = await this.#acquire(path, signal);
    try {
      await this.#cwd(conn, parentOf(path), signal);
      conn.broken = true;
      try {
        const { head, inStep } = await retrieveHead(conn.ftp, name, bytes, {
          idleMs: this.#o.timeoutMs,
          signal,
          what: `RETR on ${this.#where}`,
          path,
        });
        conn.broken = !inStep;
        return new Uint8Array(head);
      } catch (error) {
        if (!isFtpError(error)) throw conn.refused() ?? error;
        conn.broken = false;
        throw await this.#explainRetr(conn, name, path, error, signal);
      }
    } catch (error) {
      throw this.#map(error, path);
    } finally {
      this.#release(conn);
    }
  }

  /** A refused RETR: PERMISSION_DENIED when SIZE finds the file, NOT_FOUND when not. */
  async #explainRetr(
    conn: Conn,
    name: string,
    path: string,
    error: FTPError,
    signal?: AbortSignal,
  ): Promise<StorageError> {
    const said = JSON.stringify(error.message);
    if (error.code !== 550) return this.#map(error, path);
    try {
      await this.#request(conn, () => conn.ftp.size(name), 'SIZE', path, signal);
    } catch (e) {
      if (isFtpError(e)) {
        return new NotFoundError(`no such file on ${this.#where}: ${path} (${said})`, { path });
      }
      return this.#map(e, path);
    }
    return new PermissionDeniedError(`${this.#where} refuses to send ${path}: ${said}`, { path });
  }

  /** Starts the listing command in the working directory; the connection is `broken` until it ends. */
  async #openListing(conn: Conn, dir: string, signal?: AbortSignal): Promise<ListingStream> {
    conn.broken = true;
    let stream: ListingStream;
    try {
      stream = await ListingStream.open(conn.ftp, conn.format === 'MLSD' ? 'MLSD' : 'LIST -a', {
        idleMs: this.#o.timeoutMs,
        signal,
        what: `${conn.format} on ${this.#where}`,
        path: dir,
      });
    } catch (error) {
      throw conn.refused() ?? error;
    }
    conn.stream = stream;
    return stream;
  }

  #replyError(problem: ReplyProblem, dir: string, invalid: number): StorageError {
    const said = JSON.stringify(problem.text);
    const opts = { path: dir, invalidEntries: invalid > 0 ? invalid : undefined };
    const unread = invalid > 0 ? `; besides, ${invalid} entries could not be read` : '';
    switch (problem.kind) {
      case 'refused':
        // vsftpd reports an unreadable folder as a successful, empty transfer.
        return new PermissionDeniedError(
          `${this.#where} could not read ${dir}: ${said}${unread}`,
          opts,
        );
      case 'cut':
        return new ProtocolError(
          `${this.#where} cut the listing of ${dir} short (${said}): the entries it sent are kept, nothing in this directory was deleted${unread}`,
          opts,
        );
      case 'failed':
        return new ProtocolError(
          `${this.#where} reported the listing of ${dir} as failed (${said}): nothing in this directory was deleted${unread}`,
          opts,
        );
      case 'unexpected':
        return new ProtocolError(
          `${this.#where} ended the listing of ${dir} with ${said}, not 226 or 250: nothing in this directory was deleted${unread}`,
          opts,
        );
    }
  }

  /** CWD into a storage path; a 550 is settled into NOT_FOUND or PERMISSION_DENIED. */
  async #cwd(conn: Conn, dir: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.#request(
        conn,
        () => conn.ftp.cd(serverPath(this.#o.root, dir)),
        'CWD',
        dir,
        signal,
      );
    } catch (error) {
      if (!isFtpError(error) || error.code !== 550) throw this.#map(error, dir);
      throw await this.#explain550(conn, dir, error, signal);
    }
  }

  /** Looks for `dir` in its parent's listing: there as a folder means the server refuses it. */
  async #explain550(
    conn: Conn,
    dir: string,
    error: FTPError,
    signal?: AbortSignal,
  ): Promise<StorageError> {
    const reply = error.message;
    if (serverPath(this.#o.root, dir) === '/') {
      return new PermissionDeniedError(`${this.#where} refuses its top folder: ${reply}`, {
        path: dir,
      });
    }
    const parent = parentOf(dir);
    const name = dir === '/' ? baseName(this.#o.root) : baseName(dir);
    let found: { isDir: boolean } | undefined;
    try {
      if (dir === '/') {
        const up = parentOf(this.#o.root);
        await this.#request(conn, () => conn.ftp.cd(up), 'CWD', dir, signal);
      } else {
        await this.#cwd(conn, parent, signal);
      }
      found = await this.#find(conn, name, parent, signal);
    } catch (e) {
      const parentError = this.#map(e, parent);
      if (parentError.code === 'NOT_FOUND') {
        return new NotFoundError(`no such folder on ${this.#where}: ${dir}`, { path: dir });
      }
      if (parentError.code === 'PERMISSION_DENIED') {
        return new PermissionDeniedError(`${this.#where} refuses ${dir} (${reply})`, { path: dir });
      }
      // The connection failed while looking: that, not the 550, is the answer (retryable).
      return parentError;
    }
    if (found?.isDir) {
      return new PermissionDeniedError(`${this.#where} refuses ${dir}: ${reply}`, { path: dir });
    }
    const what = found ? 'not a folder' : 'no such folder';
    return new NotFoundError(`${what} on ${this.#where}: ${dir}`, { path: dir });
  }

  /** The entry `name` in the working directory's listing, reading no further than needed. */
  async #find(
    conn: Conn,
    name: string,
    path: string,
    signal?: AbortSignal,
  ): Promise<{ isDir: boolean } | undefined> {
    const stream = await this.#openListing(conn, path, signal);
    const now = Date.now();
    try {
      for (let lines; (lines = await stream.lines()) !== undefined;) {
        for (const line of lines) {
          const r = parseLine(conn.format, line, now);
          // Found: the rest of the listing is dropped with the connection (still `broken`).
          if (typeof r === 'object' && r.name === name) return { isDir: r.isDir };
        }
      }
      const problem = replyProblem(stream.reply.code, stream.reply.message);
      conn.broken = false;
      if (problem) throw this.#replyError(problem, path, 0);
      return undefined;
    } finally {
      stream.close();
      conn.stream = undefined;
    }
  }

  /**
   * One request and its reply within `timeoutMs`. A reply (even a refusal) leaves the
   * connection in step; a timeout, an abort or a socket failure does not.
   */
  async #request<T>(
    conn: Conn,
    work: () => Promise<T>,
    what: string,
    path: string,
    signal?: AbortSignal,
  ): Promise<T> {
    try {
      return await bounded(work, this.#o.timeoutMs, `${what} on ${this.#where}`, path, signal);
    } catch (error) {
      if (!isFtpError(error)) conn.broken = true;
      throw error;
    }
  }

  async #acquire(path: string, signal?: AbortSignal): Promise<Conn> {
    for (;;) {
      if (signal?.aborted) throw cancelledError(path);
      if (this.#closed) throw new UnavailableError(`client for ${this.#where} is closed`, { path });
      const idle = this.#idle.pop();
      if (idle) {
        if (idle.ftp.closed) {
          idle.destroy(); // the server hung up while it sat idle
          continue;
        }
        this.#busy.add(idle);
        return idle;
      }
      if (this.#busy.size + this.#opening.size < this.#o.connections) {
        return this.#open(path, signal);
      }
      const next = await this.#waitForConnection(path, signal);
      if (next) {
        this.#busy.add(next);
        return next;
      }
    }
  }

  /** A connection handed over by a listing that ends, or undefined: try again. */
  #waitForConnection(path: string, signal?: AbortSignal): Promise<Conn | undefined> {
    return new Promise<Conn | undefined>((resolve, reject) => {
      const waiter = (c: Conn | undefined) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(c);
      };
      const onAbort = () => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(cancelledError(path));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  async #open(path: string, signal?: AbortSignal): Promise<Conn> {
    const o = this.#o;
    // No timeouts inside basic-ftp: every wait is bounded here (connect) or in #request and
    // ListingStream (replies, data).
    const ftp = new (basicFtp().Client)(0);
    const guard = this.#policy && ftpGuard(ftp, this.#policy, this.#where);
    const destroy = destroyer(ftp, guard?.wrap);
    this.#opening.add(destroy);
    try {
      await bounded(
        () =>
          ftpLogin(ftp, {
            host: guard ? guard.checked(o.host) : o.host,
            port: o.port,
            user: o.user ?? 'anonymous',
            password:
              o.password ?? (o.user === undefined || o.user === 'anonymous' ? 'anonymous@' : ''),
            tls: o.tls,
            insecureTls: o.insecureTls,
            ...(guard ? { lookup: guard.lookup } : {}),
            where: this.#where,
          }),
        o.connectTimeoutMs,
        `connecting to ${this.#where}`,
        path,
        signal,
      );
      // Commands follow replies one by one, but a close or abort may overlap: no Nagle delays.
      ftp.ftp.socket.setNoDelay(true);
      // basic-ftp puts MLSD first exactly when FEAT lists MLST.
      const format: ListFormat = ftp.availableListCommands[0] === 'MLSD' ? 'MLSD' : 'LIST';
      const conn: Conn = {
        ftp,
        destroy,
        format,
        broken: false,
        refused: guard ? guard.refused : () => undefined,
      };
      if (this.#closed) throw new UnavailableError(`client for ${this.#where} is closed`, { path });
      this.#busy.add(conn);
      return conn;
    } catch (error) {
      destroy();
      throw this.#map(guard?.refused() ?? error, path);
    } finally {
      this.#opening.delete(destroy);
    }
  }

  #release(conn: Conn): void {
    this.#busy.delete(conn);
    if (conn.broken || this.#closed || conn.ftp.closed) {
      conn.stream?.close();
      conn.destroy();
      // A waiter may now open a connection of its own.
      this.#waiters.shift()?.(undefined);
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter) waiter(conn);
    else this.#idle.push(conn);
  }

  #map(error: unknown, path: string): StorageError {
    const mapped = mapFtpError(error, this.#where, path);
    const clean = scrub(mapped.message, [this.#o.password]);
    if (clean === mapped.message) return mapped;
    return new StorageError(mapped.code, clean, {
      path: mapped.path ?? path,
      retryable: mapped.retryable,
      retryAfterMs: mapped.retryAfterMs,
      invalidEntries: mapped.invalidEntries,
      cause: mapped.cause,
    });
  }
}

/**
 * The SSRF guard on one basic-ftp connection. The control connection goes through the
 * guarded lookup (a socket of basic-ftp's, or implicit TLS's own); every data connection goes
 * to the address a PASV or EPSV reply names, which a hostile server chooses: it is checked
 * too, and allowed when it is the control connection's own address (a host allowed by name
 * reaches its address only through that name). basic-ftp 6.2.6 as built here already
 * refuses a PASV host other than the control's and connects to the control's address (only
 * the port is taken from the reply; test/ssrf.ftp.test.ts pins it): this check is what holds
 * if that changes. basic-ftp turns a failed data connection into a text error, so the
 * refusal is kept here for the backend to report.
 */
function ftpGuard(ftp: Client, policy: AddressPolicy, where: string) {
  let refused: StorageError | undefined;
  const keep = (error: StorageError) => (refused ??= error);
  return {
    refused: () => refused,
    lookup: guardedLookup(policy, keep),
    /** The host, once a literal one passed (implicit TLS connects without basic-ftp's socket). */
    checked(host: string): string {
      const refusal = literalRefusal(policy, host);
      if (refusal) throw keep(refusal);
      return host;
    },
    wrap(socket: Socket): Socket {
      const isControl = () => ftp.ftp.socket === socket;
      return guardSocket(socket, policy, {
        trusted: () => (isControl() ? undefined : ftp.ftp.socket.remoteAddress),
        onRefused: (e) =>
          keep(
            isControl()
              ? e
              : new ForbiddenAddressError(`data connection from ${where}: ${e.message}`),
          ),
      });
    },
  };
}

/**
 * Closes `ftp` and destroys every socket it opened. basic-ftp hands a data connection to its
 * context only once it is connected, so closing the context alone would leave one still
 * connecting (to a passive port that never answers) behind, and attach it later.
 */
function destroyer(ftp: Client, wrap: (socket: Socket) => Socket = (s) => s): () => void {
  const sockets = new Set<Socket>();
  const context = ftp.ftp;
  const newSocket = context._newSocket.bind(context);
  let destroyed = false;
  context._newSocket = () => {
    const socket = wrap(newSocket());
    if (destroyed) socket.destroy();
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    return socket;
  };
  return () => {
    destroyed = true;
    ftp.close();
    for (const socket of sockets) socket.destroy();
  };
}
