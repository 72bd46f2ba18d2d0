/**
 * SFTP over one SSH connection (ssh2-sftp-client on ssh2). SFTP tags every request with an
 * id, so one connection carries all of a storage's concurrent listings; no pool is needed.
 *
 * Host keys: the server's key is checked before any credential is sent. The default is to
 * refuse a server whose key is not pinned (`hostKey=SHA256:…`), naming the fingerprint it
 * presented so that it can be checked and pinned; `insecureHostKey=true` skips the check.
 *
 * A listing streams: each READDIR answer (OpenSSH sends ~100 names) goes through a
 * {@link ListingPager}, pages are yielded as they fill, and the next READDIR is sent only
 * when the consumer asks for more, so a directory of millions of entries costs one page.
 * Every wait is bounded by trawl's own timers: `connectTimeoutMs` for the TCP connect,
 * handshake, login and session, `timeoutMs` for each request (so for a listing: no answer
 * for that long), and an abort signal ends any wait at once.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
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
import { guardedConnect } from '../net/guard.js';
import { isBug, scrub, serverPath, urlHost, withDeadline } from './remote-common.js';

export interface SftpOptions {
  host: string;
  /** @default 22 */
  port: number;
  /** Login name; `TRAWL_SFTP_USER` when absent. */
  user: string | undefined;
  /** Password; `TRAWL_SFTP_PASSWORD` when absent. */
  password: string | undefined;
  /** A private key: a file path, or the key itself (PEM / OpenSSH); `TRAWL_SFTP_PRIVATE_KEY` when absent. */
  privateKey: string | undefined;
  /** Passphrase of the private key; `TRAWL_SFTP_PASSPHRASE` when absent. */
  passphrase: string | undefined;
  /** Server folder that is the storage's root: absolute, or `/~/…` for the login folder. */
  root: string;
  /** The server's host key fingerprint, `SHA256:<base64>` as `ssh-keygen -lf` prints it. */
  hostKey: string | undefined;
  /** Connect without checking the host key (test rigs only). @default false */
  insecureHostKey: boolean;
  /**
   * Per request, in ms; for a listing, the longest wait for the next READDIR answer (not
   * the whole listing). @default 30000
   */
  timeoutMs: number;
  /** For the TCP connect, SSH handshake, login and SFTP session, in ms. @default 10000 */
  connectTimeoutMs: number;
}

/** ssh2's SFTP status codes (draft-ietf-secsh-filexfer-02). */
const FX = {
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  BAD_MESSAGE: 5,
  NO_CONNECTION: 6,
  CONNECTION_LOST: 7,
  OP_UNSUPPORTED: 8,
} as const;

/** How long close() waits for the server's goodbye before it drops the socket. */
const GOODBYE_MS = 500;

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

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

/** The part of ssh2-sftp-client and ssh2's SFTP session that this backend uses. */
interface SftpDirItem {
  filename: string;
  attrs?: { mode?: number; size?: number | bigint; mtime?: number };
}
interface SftpSession {
  opendir(path: string, cb: (err: unknown, handle?: Buffer) => void): void;
  readdir(handle: Buffer, cb: (err: unknown, list?: SftpDirItem[] | false) => void): void;
  close(handle: Buffer, cb: (err: unknown) => void): void;
  stat(path: string, cb: (err: unknown, attrs?: { mode?: number }) => void): void;
  lstat(path: string, cb: (err: unknown, attrs?: { mode?: number }) => void): void;
  open(path: string, flags: 'r', cb: (err: unknown, handle?: Buffer) => void): void;
  read(
    handle: Buffer,
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
    cb: (err: unknown, bytesRead?: number) => void,
  ): void;
  realpath(path: string, cb: (err: unknown, abs?: string) => void): void;
}
interface SftpConnection {
  connect(config: Record<string, unknown>): Promise<unknown>;
  end(): Promise<unknown>;
  sftp: SftpSession | undefined;
  client: { destroy(): void; setNoDelay(noDelay: boolean): void };
}
type SftpConnectionCtor = new (
  name: string,
  callbacks: { error(e: unknown): void; end(): void; close(): void },
) => SftpConnection;

/** SHA256 fingerprint of a raw host key blob, as OpenSSH prints it. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

function normaliseFingerprint(fp: string): string {
  const body = fp.startsWith('SHA256:') ? fp.slice(7) : fp;
  return `SHA256:${body.replace(/=+$/, '')}`;
}

/**
 * Maps anything ssh2 or ssh2-sftp-client throws to a StorageError: the one place this
 * backend does it. `where` names the server (never a credential).
 */
export function mapSftpError(error: unknown, where: string, path: string): StorageError {
  if (error instanceof StorageError) return error;
  // A bug (trawl's or the library's), not something the server said: INTERNAL fails the
  // scan loudly instead of passing for one directory's PROTOCOL error.
  if (isBug(error)) return toStorageError(error, path);
  const e = (error ?? {}) as { code?: unknown; level?: unknown; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(error);
  const at = `${where}${path === '/' ? '' : ` (${path})`}`;
  const opts = { path, cause: error };
  if (typeof e.code === 'number') {
    switch (e.code) {
      case FX.NO_SUCH_FILE:
        return new NotFoundError(`no such directory on ${at}`, opts);
      case FX.PERMISSION_DENIED:
        return new PermissionDeniedError(`permission denied on ${at}`, opts);
      case FX.NO_CONNECTION:
      case FX.CONNECTION_LOST:
        return new UnavailableError(`connection to ${where} lost: ${message}`, opts);
      default:
        return new ProtocolError(`SFTP status ${e.code} on ${at}: ${message}`, opts);
    }
  }
  if (/cannot parse privateKey|passphrase/i.test(message)) {
    return new InvalidConfigError(`the private key for ${where} is unusable: ${message}`, opts);
  }
  if (e.level === 'client-authentication' || /authentication methods failed/i.test(message)) {
    return new AuthFailedError(`${where} refused the credentials (${message})`, opts);
  }
  if (e.level === 'client-timeout' || e.code === 'ETIMEDOUT' || /timed out/i.test(message)) {
    return new TimeoutError(`${where}: ${message}`, opts);
  }
  if (
    e.level === 'client-socket' ||
    (typeof e.code === 'string' && SOCKET_GONE.has(e.code)) ||
    /no response from server|not connected|connection (lost|closed|ended)/i.test(message)
  ) {
    return new UnavailableError(`${where} is unreachable: ${message}`, opts);
  }
  return new ProtocolError(`${where}: ${message}`, opts);
}

export class SftpClient implements StorageClient {
  readonly #options: SftpOptions;
  readonly #where: string;
  #conn: SftpConnection | undefined;
  #session: SftpSession | undefined;
  #base = '/';
  /** The last error the connection reported on its own (socket, protocol), kept for mapping. */
  #lastError: unknown;
  #presentedKey: string | undefined;
  /** Requests in flight: failed at once when the connection drops (ssh2 may never answer them). */
  readonly #pending = new Set<(error: StorageError) => void>();

  readonly #policy: AddressPolicy | undefined;

  constructor(options: SftpOptions, policy?: AddressPolicy) {
    this.#options = options;
    this.#policy = policy;
    this.#where = `sftp://${urlHost(options.host)}:${options.port}`;
  }

  async connect(): Promise<void> {
    if (this.#session) return;
    const o = this.#options;
    if (!o.user)
      throw new InvalidConfigError(`no user for ${this.#where} (URL, option or TRAWL_SFTP_USER)`);
    if (!o.password && !o.privateKey) {
      throw new InvalidConfigError(
        `no password or private key for ${this.#where} (options, or TRAWL_SFTP_PASSWORD / TRAWL_SFTP_PRIVATE_KEY)`,
      );
    }
    if (this.#policy && o.privateKey && !isInlineKey(o.privateKey)) {
      // A key file is a file of the server's: a tenant naming one would log in as the server.
      await this.#policy.checkLocalPath(
        o.privateKey,
        `${this.#where}: a private key read from a file of the server`,
      );
    }
    const privateKey = o.privateKey ? await loadKey(o.privateKey) : undefined;
    this.#lastError = undefined;
    // Loaded on first connect: a CLI run on other kinds never pays for ssh2.
    const Ctor = createRequire(import.meta.url)('ssh2-sftp-client') as SftpConnectionCtor;
    const conn = new Ctor('trawl', {
      error: (e) => (this.#lastError = e),
      end: () => this.#dropped(conn),
      close: () => this.#dropped(conn),
    });
    this.#conn = conn;
    const config: Record<string, unknown> = {
      host: o.host,
      port: o.port,
      username: o.user,
      // trawl's own deadline below ends the attempt; ssh2's is only a backstop behind it.
      readyTimeout: o.connectTimeoutMs + 5000,
      keepaliveInterval: 10_000,
      keepaliveCountMax: 3,
      hostVerifier: (key: Buffer) => this.#verifyHostKey(key),
    };
    if (o.password) config.password = o.password;
    if (privateKey) config.privateKey = privateKey;
    if (o.passphrase) config.passphrase = o.passphrase;
    // ssh2 takes no lookup: under the SSRF guard it is handed a socket connected here.
    let refused: StorageError | undefined;
    const policy = this.#policy;
    const establish = async () => {
      if (policy) config.sock = guardedConnect(policy, o.host, o.port, (e) => (refused = e));
      await conn.connect(config);
      // A connect that timed out and was closed may still finish: it must not come back.
      if (this.#conn !== conn) throw new UnavailableError(`client for ${this.#where} is closed`);
      // Listings share the connection: with Nagle on, a small request written while another
      // is unacknowledged waits for a delayed ACK (~40 ms) on every real link.
      conn.client.setNoDelay(true);
      const session = conn.sftp;
      if (!session) throw new UnavailableError(`${this.#where} closed the SFTP session`);
      this.#session = session;
      this.#base = await this.#resolveRoot(session);
      await this.check();
    };
    try {
      await withDeadline(establish(), o.connectTimeoutMs, `connecting to ${this.#where}`, '/');
    } catch (error) {
      if (this.#conn !== conn) {
        // close() came first (a shutdown): the connect did not fail, it was called off.
        throw new UnavailableError(`client for ${this.#where} is closed`, { path: '/' });
      }
      const timedOut = error instanceof TimeoutError;
      const mapped =
        refused ??
        this.#hostKeyError() ??
        (timedOut ? (error as StorageError) : this.#map(this.#lastError ?? error, '/'));
      await this.close();
      throw mapped;
    }
  }

  async close(): Promise<void> {
    const conn = this.#conn;
    const established = this.#session !== undefined;
    this.#conn = undefined;
    this.#session = undefined;
    if (!conn) return;
    const closed = new UnavailableError(`client for ${this.#where} is closed`);
    for (const fail of [...this.#pending]) fail(closed);
    // Let them settle, clearing their deadline timers, before close() returns.
    await new Promise((resolve) => setImmediate(resolve));
    // end() waits for the server's goodbye; a dead server never sends one, and one that
    // never finished the handshake is owed none. The timer must not outlive the wait: it
    // would hold the process open after the last listing.
    if (established) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        conn.end().catch(() => undefined),
        new Promise((r) => (timer = setTimeout(r, GOODBYE_MS))),
      ]);
      clearTimeout(timer);
    }
    conn.client.destroy();
  }

  async check(): Promise<void> {
    const session = this.#live('/');
    const attrs = await this.#request<{ mode?: number }>('stat', '/', (cb) =>
      session.stat(this.#base, cb),
    );
    if (attrs?.mode !== undefined && (attrs.mode & S_IFMT) !== S_IFDIR) {
      throw new NotFoundError(`not a folder on ${this.#where}: ${this.#options.root}`, {
        path: '/',
      });
    }
  }

  async *list(dir: string, options?: ListOptions): AsyncGenerator<Entry[]> {
    const signal = options?.signal;
    const session = this.#live(dir);
    const handle = (await this.#request<Buffer>(
      'opendir',
      dir,
      (cb) => session.opendir(serverPath(this.#base, dir), cb),
      signal,
    ))!;
    const pager = new ListingPager(dir, { where: this.#where, sizeOptional: true });
    const progress = new ListingProgress(`READDIR on ${this.#where}`, dir);
    let yielded = false;
    try {
      // READDIR until the server answers EOF; any other status or a lost connection ends
      // the listing with an error after the pages already yielded: never a short listing.
      for (;;) {
        const batch = await this.#request<SftpDirItem[] | false>(
          'listing',
          dir,
          (cb) =>
            session.readdir(handle, (err, list) =>
              (err as { code?: unknown } | undefined)?.code === FX.EOF
                ? cb(undefined, false)
                : cb(err, list),
            ),
          signal,
        );
        if (!batch) break;
        if (!Array.isArray(batch)) {
          throw new ProtocolError(`${this.#where} answered READDIR of ${dir} without names`, {
            path: dir,
          });
        }
        progress.answer(
          batch.map((item) => item.filename),
          batch.length,
        );
        for (const item of batch) {
          const raw = rawEntry(item);
          if (typeof raw === 'string') {
            pager.reject(raw);
            continue;
          }
          const page = pager.add(raw);
          if (page) {
            yielded = true;
            yield page;
          }
        }
      }
    } catch (error) {
      const mapped = this.#map(error, dir);
      // Pages went out already: the entries read since are as true, so they follow first.
      const rest = yielded && mapped.code !== 'CANCELLED' ? pager.take() : [];
      if (rest.length > 0) yield rest;
      throw mapped;
    } finally {
      // Not awaited: the listing is complete at EOF, and waiting would add a round trip. A
      // listing stopped early (break, abort, error) closes its handle the same way.
      try {
        session.close(handle, () => undefined);
      } catch {
        // the connection is gone, and the handle with it
      }
    }
    const last = pager.take();
    if (last.length > 0) yield last;
    pager.finish();
  }

  /**
   * LSTAT, then OPEN, READ up to `bytes` (ssh2 refuses an answer longer than asked), CLOSE,
   * each under `timeoutMs`. Only a regular file is opened: OpenSSH's sftp-server serves the
   * whole session from one process, and its open of a FIFO would block every request. A
   * symbolic link is not followed (NOT_FOUND), as the local backend's O_NOFOLLOW.
   */
  async readHead(path: string, bytes: number, options?: ReadHeadOptions): Promise<Uint8Array> {
    const signal = options?.signal;
    if (signal?.aborted) throw cancelledError(path);
    if (bytes <= 0) return new Uint8Array();
    const session = this.#live(path);
    const full = serverPath(this.#base, path);
    const attrs = await this.#request<{ mode?: number }>(
      'lstat',
      path,
      (cb) => session.lstat(full, cb),
      signal,
    );
    const type = (attrs?.mode ?? 0) & S_IFMT;
    if (type === S_IFLNK) {
      throw new NotFoundError(`a symbolic link, not followed, on ${this.#where}: ${path}`, {
        path,
      });
    }
    if (type !== S_IFREG) return new Uint8Array();
    const handle = (await this.#request<Buffer>(
      'open',
      path,
      (cb) => session.open(full, 'r', cb),
      signal,
    ))!;
    try {
      const head = Buffer.alloc(bytes);
      let got = 0;
      while (got < bytes) {
        const at = got;
        const read = await this.#request<number>(
          'read',
          path,
          (cb) => session.read(handle, head, at, bytes - at, at, cb),
          signal,
        );
        if (!read) break;
        got += read;
      }
      return new Uint8Array(head.subarray(0, got));
    } finally {
      // Not awaited, as a listing's handle: the bytes are read, the close is the server's.
      try {
        session.close(handle, () => undefined);
      } catch {
        // the connection is gone, and the handle with it
      }
    }
  }

  #live(path: string): SftpSession {
    if (!this.#session) throw new UnavailableError(`not connected to ${this.#where}`, { path });
    return this.#session;
  }

  #dropped(conn: SftpConnection): void {
    if (this.#conn !== conn) return;
    this.#session = undefined;
    const lost = new UnavailableError(`connection to ${this.#where} lost`, {
      cause: this.#lastError,
    });
    for (const fail of [...this.#pending]) fail(lost);
  }

  /**
   * One SFTP request with trawl's deadline and the caller's abort signal. A request given
   * up on (timeout, abort) is forgotten at once; ssh2 drops its late answer.
   */
  #request<T>(
    what: string,
    path: string,
    send: (cb: (err: unknown, value?: T) => void) => void,
    signal?: AbortSignal,
  ): Promise<T | undefined> {
    if (signal?.aborted) return Promise.reject(cancelledError(path));
    let fail: (error: StorageError) => void = () => undefined;
    const work = new Promise<T | undefined>((resolve, reject) => {
      fail = (error) => reject(new StorageError(error.code, error.message, { path, cause: error }));
      this.#pending.add(fail);
      try {
        send((err, value) => (err ? reject(this.#map(err, path)) : resolve(value)));
      } catch (error) {
        // ssh2 throws when the channel is already gone
        reject(this.#map(error, path));
      }
    });
    return withDeadline(
      work,
      this.#options.timeoutMs,
      `${what} on ${this.#where}`,
      path,
      signal,
    ).finally(() => this.#pending.delete(fail));
  }

  async #resolveRoot(session: SftpSession): Promise<string> {
    const root = this.#options.root;
    if (root !== '/~' && !root.startsWith('/~/')) return root;
    const home = await this.#request<string>('realpath', '/', (cb) => session.realpath('.', cb));
    const base = `${(home ?? '/').replace(/\/+$/, '')}${root.slice(2)}`;
    return base === '' ? '/' : base;
  }

  #verifyHostKey(key: Buffer): boolean {
    this.#presentedKey = fingerprint(key);
    if (this.#options.insecureHostKey) return true;
    const pinned = this.#options.hostKey;
    return pinned !== undefined && normaliseFingerprint(pinned) === this.#presentedKey;
  }

  #hostKeyError(): StorageError | undefined {
    const presented = this.#presentedKey;
    const o = this.#options;
    if (!presented || o.insecureHostKey) return undefined;
    if (o.hostKey === undefined) {
      return new InvalidConfigError(
        `${this.#where} presented host key ${presented}, but no host key is pinned: check it ` +
          `(ssh-keygen -lf on the server's host key) and pass hostKey=${presented}, ` +
          `or insecureHostKey=true to skip the check`,
        { path: '/' },
      );
    }
    if (normaliseFingerprint(o.hostKey) !== presented) {
      return new AuthFailedError(
        `host key mismatch for ${this.#where}: expected ${normaliseFingerprint(o.hostKey)}, ` +
          `the server presented ${presented} (a reinstalled server, or someone in between)`,
        { path: '/' },
      );
    }
    return undefined;
  }

  #map(error: unknown, path: string): StorageError {
    const mapped = mapSftpError(error, this.#where, path);
    const o = this.#options;
    const clean = scrub(mapped.message, [o.password, o.passphrase]);
    if (clean === mapped.message) return mapped;
    return new StorageError(mapped.code, clean, {
      path,
      retryable: mapped.retryable,
      cause: mapped.cause,
    });
  }
}

/** One READDIR item as the pager checks it, or why it cannot be read at all. */
function rawEntry(item: SftpDirItem): RawEntry | string {
  const name = item.filename;
  if (typeof name !== 'string') return 'an entry without a name';
  const { mode, size, mtime } = item.attrs ?? {};
  if (typeof mode !== 'number') {
    return `${JSON.stringify(name.slice(0, 80))}: no file type (the server sent no permissions)`;
  }
  const type = mode & S_IFMT;
  const isDir = type === S_IFDIR;
  return {
    name,
    isDir,
    // SFTP may leave a size out (the attribute is optional); one that is there is checked.
    size: checkByteCount(size),
    sizeText: size === undefined ? undefined : String(size),
    mtime: typeof mtime === 'number' ? checkMtime(mtime * 1000) : undefined,
    mtimeText: mtime === undefined ? undefined : String(mtime),
    skip: type === S_IFLNK ? 'symlink' : !isDir && type !== S_IFREG ? 'special' : undefined,
  };
}

function isInlineKey(value: string): boolean {
  return /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(value);
}

async function loadKey(value: string): Promise<string | Buffer> {
  if (isInlineKey(value)) return value;
  try {
    return await readFile(value);
  } catch (error) {
    const code = (error as { code?: string }).code ?? 'error';
    throw new InvalidConfigError(
      `cannot read the SFTP private key file ${JSON.stringify(value)} (${code}); expected a key file path or the key itself`,
    );
  }
}
