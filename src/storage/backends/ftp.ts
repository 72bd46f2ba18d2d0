/**
 * FTP and FTPS (basic-ftp). One control connection runs one command at a time, so this
 * backend keeps a small pool of logged-in connections (`connections`, default 5: the
 * StorageService's default per-storage concurrency) and gives each listing a connection of
 * its own: `CWD dir`, then MLSD when the server announces MLST in FEAT, `LIST -a` otherwise.
 * CWD takes the path literally, where a LIST argument would be globbed by servers such as
 * vsftpd.
 *
 * Precision: MLSD gives seconds (or better); LIST gives minutes for entries of the last six
 * months and days for older ones, read as UTC (vsftpd's default, `use_localtime=NO`).
 */
import { Client, FTPError, type FTPResponse } from 'basic-ftp';
import { StringWriter } from 'basic-ftp/dist/StringWriter.js';
import { downloadTo } from 'basic-ftp/dist/transfer.js';
import {
  AuthFailedError,
  InvalidConfigError,
  NotFoundError,
  PermissionDeniedError,
  ProtocolError,
  StorageError,
  TimeoutError,
  UnavailableError,
} from '../errors.js';
import { baseName, joinPath, parentOf } from '../paths.js';
import type { BackendDeps, BackendInfo, Entry, ListOptions, StorageClient } from '../types.js';
import { pagesOf } from '../pager.js';
import { ListingParseError, parseMlsd, parseUnixList, type FtpListed } from './ftp-listing.js';
import { asRaw, optBool, optInt, optString, reqString } from '../options.js';
import {
  decodedPath,
  scrub,
  serverPath,
  trimFolder,
  urlHost,
  urlParts,
  withDeadline,
} from './remote-common.js';

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
  /** Per listing, in ms; also the idle limit of each socket. @default 30000 */
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

/**
 * Maps what basic-ftp throws to a StorageError: the one place this backend does it. A 550
 * is ambiguous (vsftpd answers "Failed to change directory" for missing and forbidden
 * folders alike); {@link FtpClient} settles it by looking at the parent first.
 */
export function mapFtpError(error: unknown, where: string, path: string): StorageError {
  if (error instanceof StorageError) return error;
  const opts = { path, cause: error };
  const at = `${where}${path === '/' ? '' : ` (${path})`}`;
  if (error instanceof ListingParseError) return new ProtocolError(`${at}: ${error.message}`, opts);
  const e = (error ?? {}) as { code?: unknown; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(error);
  if (error instanceof FTPError || typeof e.code === 'number') {
    const code = Number(e.code);
    if (code === 530 || code === 532)
      return new AuthFailedError(`${where} refused the login: ${message}`, opts);
    if (code === 550) return new NotFoundError(`no such folder on ${at}: ${message}`, opts);
    if (code === 421)
      return new UnavailableError(`${where} is closing the connection: ${message}`, opts);
    if (code >= 400 && code < 500) return new UnavailableError(`${at}: ${message}`, opts);
    return new ProtocolError(`${at}: ${message}`, opts);
  }
  if (typeof e.code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS_CERT/.test(e.code)) {
    return new AuthFailedError(
      `${where} presented a TLS certificate that does not verify (${e.code}): trust its CA, or set insecureTls=true`,
      opts,
    );
  }
  if (/^Timeout/i.test(message) || e.code === 'ETIMEDOUT')
    return new TimeoutError(`${at}: ${message}`, opts);
  if (
    (typeof e.code === 'string' && SOCKET_GONE.has(e.code)) ||
    /closed|FIN packet|socket hang up|not connected/i.test(message)
  ) {
    return new UnavailableError(`${where} is unreachable: ${message}`, opts);
  }
  return new ProtocolError(`${at}: ${message}`, opts);
}

/** basic-ftp's client plus the final reply of a listing, which it otherwise drops. */
class ListingConnection extends Client {
  async listRaw(command: string): Promise<{ text: string; reply: FTPResponse }> {
    await this.prepareTransfer(this.ftp);
    const writer = new StringWriter(this.options.maxListingBytes);
    const reply = await downloadTo(writer, {
      ftp: this.ftp,
      tracker: this._progressTracker,
      command,
      remotePath: '',
      type: 'list',
    });
    return { text: writer.getText(this.ftp.encoding), reply };
  }
}

interface Conn {
  ftp: ListingConnection;
  mlsd: boolean;
}

export class FtpClient implements StorageClient {
  readonly #o: FtpOptions;
  readonly #where: string;
  readonly #idle: Conn[] = [];
  readonly #busy = new Set<Conn>();
  readonly #waiters: Array<{ resolve(c: Conn | undefined): void }> = [];
  #opening = 0;
  #closed = false;

  constructor(options: FtpOptions) {
    this.#o = options;
    const scheme = options.tls === 'implicit' ? 'ftps' : 'ftp';
    this.#where = `${scheme}://${urlHost(options.host)}:${options.port}`;
  }

  async connect(): Promise<void> {
    this.#closed = false;
    const conn = await this.#acquire('/');
    let healthy = false;
    try {
      await this.#cwd(conn, '/');
      healthy = true;
    } finally {
      await this.#release(conn, healthy);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) w.resolve(undefined);
    for (const c of [...this.#idle.splice(0), ...this.#busy]) c.ftp.close();
    this.#busy.clear();
  }

  async check(): Promise<void> {
    const conn = await this.#acquire('/');
    let healthy = false;
    try {
      await withDeadline(this.#cwd(conn, '/'), this.#o.timeoutMs, `check of ${this.#where}`, '/');
      healthy = true;
    } finally {
      await this.#release(conn, healthy);
    }
  }

  async *list(dir: string, options?: ListOptions): AsyncGenerator<Entry[]> {
    yield* pagesOf(await this.#listWhole(dir, options));
  }

  async #listWhole(dir: string, options?: ListOptions): Promise<Entry[]> {
    const conn = await this.#acquire(dir);
    let healthy = false;
    try {
      const listed = await withDeadline(
        this.#listOn(conn, dir),
        this.#o.timeoutMs,
        `listing on ${this.#where}`,
        dir,
        options?.signal,
      );
      healthy = true;
      return listed.map((l) => {
        const entry: Entry = {
          path: joinPath(dir, l.name),
          name: l.name,
          isDir: l.isDir,
          size: l.size,
          mtime: l.mtime,
        };
        if (l.skip) entry.skip = l.skip;
        return entry;
      });
    } catch (error) {
      const mapped = this.#map(error, dir);
      // An answer from the server leaves the connection usable; anything else may not.
      healthy = mapped.code === 'NOT_FOUND' || mapped.code === 'PERMISSION_DENIED';
      throw mapped;
    } finally {
      await this.#release(conn, healthy);
    }
  }

  async #listOn(conn: Conn, dir: string): Promise<FtpListed[]> {
    await this.#cwd(conn, dir);
    const { text, reply } = await conn.ftp.listRaw(conn.mlsd ? 'MLSD' : 'LIST -a');
    // vsftpd reports an unreadable folder as a successful, empty transfer.
    if (/fail/i.test(reply.message)) {
      throw new PermissionDeniedError(`${this.#where} could not read ${dir}: ${reply.message}`, {
        path: dir,
      });
    }
    return conn.mlsd ? parseMlsd(text) : parseUnixList(text, Date.now());
  }

  /** CWD into a storage path; a 550 is settled into NOT_FOUND or PERMISSION_DENIED. */
  async #cwd(conn: Conn, dir: string): Promise<void> {
    try {
      await conn.ftp.cd(serverPath(this.#o.root, dir));
    } catch (error) {
      if (!(error instanceof FTPError) || error.code !== 550) throw this.#map(error, dir);
      throw await this.#explain550(conn, dir, error);
    }
  }

  /** Looks for `dir` in its parent's listing: there as a folder means the server refuses it. */
  async #explain550(conn: Conn, dir: string, error: FTPError): Promise<StorageError> {
    const reply = error.message;
    if (serverPath(this.#o.root, dir) === '/') {
      return new PermissionDeniedError(`${this.#where} refuses its top folder: ${reply}`, {
        path: dir,
      });
    }
    const parent = parentOf(dir);
    let siblings: FtpListed[];
    try {
      siblings =
        dir === '/' ? await this.#listServerParent(conn) : await this.#listOn(conn, parent);
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
    const name = dir === '/' ? baseName(this.#o.root) : baseName(dir);
    const found = siblings.find((s) => s.name === name);
    if (found?.isDir) {
      return new PermissionDeniedError(`${this.#where} refuses ${dir}: ${reply}`, { path: dir });
    }
    const what = found ? 'not a folder' : 'no such folder';
    return new NotFoundError(`${what} on ${this.#where}: ${dir}`, { path: dir });
  }

  async #listServerParent(conn: Conn): Promise<FtpListed[]> {
    await conn.ftp.cd(parentOf(this.#o.root));
    const { text } = await conn.ftp.listRaw(conn.mlsd ? 'MLSD' : 'LIST -a');
    return conn.mlsd ? parseMlsd(text) : parseUnixList(text, Date.now());
  }

  async #acquire(path: string): Promise<Conn> {
    for (;;) {
      if (this.#closed) throw new UnavailableError(`client for ${this.#where} is closed`, { path });
      const idle = this.#idle.pop();
      if (idle) {
        if (idle.ftp.closed) continue; // the server hung up while it sat idle
        this.#busy.add(idle);
        return idle;
      }
      if (this.#busy.size + this.#opening < this.#o.connections) return this.#open(path);
      const next = await new Promise<Conn | undefined>((resolve) =>
        this.#waiters.push({ resolve }),
      );
      if (next) {
        this.#busy.add(next);
        return next;
      }
    }
  }

  async #open(path: string): Promise<Conn> {
    this.#opening++;
    const o = this.#o;
    const ftp = new ListingConnection(o.timeoutMs);
    try {
      await ftp.access({
        host: o.host,
        port: o.port,
        user: o.user ?? 'anonymous',
        password:
          o.password ?? (o.user === undefined || o.user === 'anonymous' ? 'anonymous@' : ''),
        secure: o.tls === 'explicit' ? true : o.tls === 'implicit' ? 'implicit' : false,
        secureOptions: { rejectUnauthorized: !o.insecureTls, servername: o.host },
      });
      // Commands follow replies one by one, but a close or abort may overlap: no Nagle delays.
      ftp.ftp.socket.setNoDelay(true);
      // basic-ftp puts MLSD first exactly when FEAT lists MLST.
      const conn: Conn = { ftp, mlsd: ftp.availableListCommands[0] === 'MLSD' };
      if (this.#closed) throw new UnavailableError(`client for ${this.#where} is closed`, { path });
      this.#busy.add(conn);
      return conn;
    } catch (error) {
      ftp.close();
      throw this.#map(error, path);
    } finally {
      this.#opening--;
    }
  }

  async #release(conn: Conn, healthy: boolean): Promise<void> {
    this.#busy.delete(conn);
    if (!healthy || this.#closed || conn.ftp.closed) {
      conn.ftp.close();
      // A waiter may now open a connection of its own.
      this.#waiters.shift()?.resolve(undefined);
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve(conn);
    else this.#idle.push(conn);
  }

  #map(error: unknown, path: string): StorageError {
    const mapped = mapFtpError(error, this.#where, path);
    const clean = scrub(mapped.message, [this.#o.password]);
    if (clean === mapped.message) return mapped;
    return new StorageError(mapped.code, clean, {
      path,
      retryable: mapped.retryable,
      cause: mapped.cause,
    });
  }
}

function parseTls(raw: Record<string, unknown>, scheme: string | undefined): FtpTls {
  const tls = optString(raw, 'tls') ?? (scheme === 'ftps' ? 'implicit' : 'none');
  if (tls !== 'none' && tls !== 'explicit' && tls !== 'implicit') {
    throw new InvalidConfigError(
      `Expected \`tls\` to be one of none, explicit, implicit, got ${JSON.stringify(tls)}`,
    );
  }
  return tls;
}

export const ftpBackend: BackendInfo<FtpOptions> = {
  schemes: ['ftp', 'ftps'],
  fromUrl(url) {
    const scheme = url.protocol.slice(0, -1).toLowerCase();
    return {
      tls: scheme === 'ftps' ? 'implicit' : undefined,
      ...urlParts(url),
      root: decodedPath(url.pathname),
    };
  },
  parseOptions(input) {
    const raw = asRaw(input, 'ftp');
    const tls = parseTls(raw, undefined);
    const root = optString(raw, 'root') ?? '/';
    if (!root.startsWith('/')) {
      throw new InvalidConfigError(
        `ftp \`root\` must be an absolute path, got ${JSON.stringify(root)}`,
      );
    }
    if (/[\r\n\0]/.test(root)) {
      throw new InvalidConfigError(
        `ftp \`root\` cannot contain line breaks or NUL, got ${JSON.stringify(root)}`,
      );
    }
    return {
      host: reqString(raw, 'host', 'ftp'),
      port: optInt(raw, 'port', tls === 'implicit' ? 990 : 21, 1, 65535),
      user: optString(raw, 'user'),
      password: optString(raw, 'password'),
      root: trimFolder(root),
      tls,
      insecureTls: optBool(raw, 'insecureTls', false),
      connections: optInt(raw, 'connections', 5, 1, 64),
      timeoutMs: optInt(raw, 'timeoutMs', 30_000, 100, 3_600_000),
    };
  },
  create(options, deps: BackendDeps) {
    return new FtpClient({
      ...options,
      user: options.user ?? deps.env.TRAWL_FTP_USER,
      password: options.password ?? deps.env.TRAWL_FTP_PASSWORD,
    });
  },
  redact: (options) => ({ ...options, password: options.password ? '***' : undefined }),
  location(o) {
    const scheme = o.tls === 'implicit' ? 'ftps' : 'ftp';
    const user = o.user ? `${encodeURIComponent(o.user)}@` : '';
    return `${scheme}://${user}${urlHost(o.host)}:${o.port}${encodeURI(o.root)}`;
  },
  limitHost: (o) => `${o.host}:${o.port}`,
};
