/**
 * A small FTP server on 127.0.0.1 that answers exactly what a test tells it: the listing
 * lines of each directory (or raw bytes), the final reply after them (`226 Output truncated
 * to 10000 matches`…), a listing that stops halfway and hangs, a server that never greets or
 * never answers one command. It speaks just enough FTP for basic-ftp: USER, PASS, FEAT,
 * OPTS, TYPE, STRU, PWD, CWD, EPSV, PASV, LIST, MLSD, RETR, SIZE, QUIT (passive mode only).
 *
 * Listings are written with backpressure, so a huge generated listing costs the server
 * nothing while the client does not read; the server never closes a data connection the
 * client left open, so a test can see the client release it.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { LOOPBACK } from '../servers/util.js';

export interface HostileDir {
  /** The listing's lines without line ends; a function for a large listing made on demand. */
  lines?: readonly string[] | (() => Iterable<string>);
  /** The listing's bytes as they are, instead of `lines`. */
  raw?: Buffer;
  /** @default '\r\n' */
  eol?: string;
  /** The reply after the data, multi-line with `226-…\r\n226 …`. @default '226 Transfer complete.' */
  reply?: string;
  /** Sends this many lines, then nothing: no more data, no end, no final reply. */
  stallAfter?: number;
  /** Answers this reply to LIST/MLSD instead of opening the transfer (`550 …`, `425 …`). */
  refuse?: string;
  /** Sends the final reply before ending the data connection (servers race the two). */
  replyFirst?: boolean;
  /** Waits `ms` after every `every` lines: a slow server that never goes silent for long. */
  pace?: { every: number; ms: number };
}

/** A file RETR sends (SIZE answers its length). */
export interface HostileFile {
  body: Buffer;
  /** Sends it this many times over: a file far larger than any head asked of it. @default 1 */
  repeat?: number;
  /** Answers 150, then nothing: no data, no end, no final reply. */
  stall?: boolean;
  /** Says nothing after the client cut the transfer (no 426): the control connection hangs. */
  silentAfterCut?: boolean;
}

export interface HostileFtpOptions {
  /** Directories by server path (`/`, `/a`); CWD into any other path answers 550. */
  dirs: Record<string, HostileDir>;
  /** Files by server path (`/a/b.bin`) for RETR and SIZE; any other answers 550. */
  files?: Record<string, HostileFile>;
  /** Announce MLST in FEAT (basic-ftp then lists with MLSD). @default false */
  mlsd?: boolean;
  /** `greeting`: accept connections and never say a word; a command name: never answer it. */
  silentAt?: string;
  /** @default 'u' / 'p' */
  user?: string;
  password?: string;
  /** Answers EPSV with 502 (so that the client falls back to PASV). @default false */
  noEpsv?: boolean;
  /**
   * The address a PASV reply names: a server that sends the client's data connection
   * elsewhere. The data listener stays on 127.0.0.1, so a client that follows the reply to
   * another address finds nothing there. @default 127.0.0.1
   */
  pasvHost?: string;
}

export interface HostileFtp {
  readonly host: string;
  readonly port: number;
  /** `ftp://user:password@127.0.0.1:port/` */
  readonly url: string;
  /** What each directory answers; tests change it between scans. */
  dirs: Record<string, HostileDir>;
  /** Control connections accepted so far. */
  readonly connections: number;
  /** Data connections open right now. */
  readonly openData: number;
  /** Commands received, in order (PASS shown without its argument). */
  readonly commands: string[];
  /** Lines written to data connections so far. */
  readonly linesSent: number;
  /** Resolves once no data connection is open (the client closed them). */
  dataClosed(): Promise<void>;
  close(): Promise<void>;
}

const FEAT_LIST = '211-Features:\r\n EPSV\r\n PASV\r\n UTF8\r\n211 End\r\n';
const FEAT_MLSD =
  '211-Features:\r\n EPSV\r\n PASV\r\n UTF8\r\n MLST type*;size*;modify*;\r\n211 End\r\n';

export async function startHostileFtp(options: HostileFtpOptions): Promise<HostileFtp> {
  const user = options.user ?? 'u';
  const password = options.password ?? 'p';
  const sockets = new Set<Socket>();
  const servers = new Set<Server>();
  const data = new Set<Socket>();
  const dataWaiters: Array<() => void> = [];
  let connections = 0;
  let linesSent = 0;
  const commands: string[] = [];
  const state = { dirs: options.dirs };

  const track = (s: Socket) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  };
  const dataGone = (s: Socket) => {
    data.delete(s);
    if (data.size === 0) for (const w of dataWaiters.splice(0)) w();
  };

  /** A passive listener: resolves with the client's data connection. */
  async function passive(): Promise<{ port: number; socket: Promise<Socket> }> {
    const server = createServer();
    servers.add(server);
    const socket = new Promise<Socket>((resolve) => {
      server.once('connection', (s) => {
        track(s);
        data.add(s);
        s.on('close', () => dataGone(s));
        server.close();
        servers.delete(server);
        resolve(s);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
    return { port: (server.address() as AddressInfo).port, socket };
  }

  async function send(
    control: Socket,
    socket: Socket,
    dir: HostileDir,
    format: 'LIST' | 'MLSD',
  ): Promise<void> {
    control.write(`150 Here comes the ${format} listing.\r\n`);
    const write = async (text: string | Buffer) => {
      if (socket.destroyed) return false;
      if (!socket.write(text)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            socket.off('drain', done);
            socket.off('close', done);
            resolve();
          };
          socket.on('drain', done);
          socket.on('close', done);
        });
      }
      return !socket.destroyed;
    };
    if (dir.raw) {
      await write(dir.raw);
    } else {
      const eol = dir.eol ?? '\r\n';
      const lines = typeof dir.lines === 'function' ? dir.lines() : (dir.lines ?? []);
      let batch = '';
      let sent = 0;
      for (const line of lines) {
        if (dir.stallAfter !== undefined && sent >= dir.stallAfter) {
          if (batch) await write(batch);
          return; // stalls: no end, no final reply
        }
        batch += line + eol;
        sent++;
        linesSent++;
        if (dir.pace && sent % dir.pace.every === 0) {
          if (!(await write(batch))) return;
          batch = '';
          await new Promise((resolve) => setTimeout(resolve, dir.pace!.ms));
        } else if (batch.length >= 16_384) {
          if (!(await write(batch))) return;
          batch = '';
        }
      }
      if (batch && !(await write(batch))) return;
      if (dir.stallAfter !== undefined && sent >= dir.stallAfter) return;
    }
    const final = `${dir.reply ?? '226 Transfer complete.'}\r\n`;
    if (dir.replyFirst) {
      control.write(final);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await new Promise<void>((resolve) => socket.end(resolve));
    if (!dir.replyFirst) control.write(final);
  }

  /** Sends a file with backpressure; a client that closes the data connection gets a 426. */
  async function retr(control: Socket, socket: Socket, file: HostileFile): Promise<void> {
    control.write('150 Opening BINARY mode data connection.\r\n');
    if (file.stall) return;
    for (let i = 0; i < (file.repeat ?? 1) && !socket.destroyed; i++) {
      if (!socket.write(file.body)) {
        await new Promise<void>((resolve) => {
          socket.once('drain', resolve);
          socket.once('close', resolve);
        });
      }
    }
    if (socket.destroyed) {
      if (!file.silentAfterCut) control.write('426 Failure writing network stream.\r\n');
      return;
    }
    await new Promise<void>((resolve) => socket.end(resolve));
    control.write('226 Transfer complete.\r\n');
  }

  const control = createServer((socket) => {
    connections++;
    track(socket);
    socket.setNoDelay(true);
    if (options.silentAt === 'greeting') return;
    socket.write('220 hostile ftpd ready\r\n');
    let cwd = '/';
    let buffered = '';
    let pending: { port: number; socket: Promise<Socket> } | undefined;
    const reply = (text: string) => socket.write(`${text}\r\n`);
    const resolvePath = (arg: string) => {
      const joined = arg.startsWith('/') ? arg : `${cwd === '/' ? '' : cwd}/${arg}`;
      const trimmed = joined.replace(/\/+$/, '');
      return trimmed === '' ? '/' : trimmed;
    };
    const handle = async (line: string) => {
      const space = line.indexOf(' ');
      const verb = (space < 0 ? line : line.slice(0, space)).toUpperCase();
      const arg = space < 0 ? '' : line.slice(space + 1);
      commands.push(verb === 'PASS' ? 'PASS' : line);
      if (options.silentAt === verb) return;
      switch (verb) {
        case 'USER':
          return reply(arg === user ? '331 Please specify the password.' : '530 Login incorrect.');
        case 'PASS':
          return reply(arg === password ? '230 Login successful.' : '530 Login incorrect.');
        case 'FEAT':
          return socket.write(options.mlsd ? FEAT_MLSD : FEAT_LIST);
        case 'OPTS':
        case 'TYPE':
        case 'STRU':
          return reply('200 OK.');
        case 'PWD':
          return reply(`257 "${cwd}" is the current directory`);
        case 'CWD': {
          const target = resolvePath(arg);
          if (!state.dirs[target]) return reply('550 Failed to change directory.');
          cwd = target;
          return reply('250 Directory successfully changed.');
        }
        case 'EPSV':
          if (options.noEpsv) return reply('502 EPSV not implemented.');
          pending = await passive();
          return reply(`229 Entering Extended Passive Mode (|||${pending.port}|)`);
        case 'PASV': {
          const host = options.pasvHost ?? LOOPBACK;
          pending = await passive();
          const p = pending.port;
          return reply(
            `227 Entering Passive Mode (${host.replace(/\./g, ',')},${p >> 8},${p & 255})`,
          );
        }
        case 'LIST':
        case 'MLSD': {
          const dir = state.dirs[cwd];
          const transfer = pending;
          pending = undefined;
          if (!transfer) return reply('425 Use PASV or EPSV first.');
          if (!dir) return reply('550 No such directory.');
          if (dir.refuse) {
            (await transfer.socket).destroy();
            return reply(dir.refuse);
          }
          return send(socket, await transfer.socket, dir, verb);
        }
        case 'SIZE': {
          const file = options.files?.[resolvePath(arg)];
          if (!file) return reply('550 Could not get file size.');
          return reply(`213 ${file.body.length * (file.repeat ?? 1)}`);
        }
        case 'RETR': {
          const file = options.files?.[resolvePath(arg)];
          const transfer = pending;
          pending = undefined;
          if (!transfer) return reply('425 Use PASV or EPSV first.');
          if (!file) {
            (await transfer.socket).destroy();
            return reply('550 Failed to open file.');
          }
          return retr(socket, await transfer.socket, file);
        }
        case 'QUIT':
          reply('221 Goodbye.');
          return socket.end();
        default:
          return reply('502 Command not implemented.');
      }
    };
    // One command at a time, in order, as a real server reads them.
    let queue = Promise.resolve();
    socket.on('data', (chunk) => {
      buffered += chunk.toString('utf8');
      for (let end = buffered.indexOf('\r\n'); end >= 0; end = buffered.indexOf('\r\n')) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        queue = queue
          .then(async () => {
            await handle(line);
          })
          .catch(() => undefined);
      }
    });
  });
  servers.add(control);
  await new Promise<void>((resolve) => control.listen(0, LOOPBACK, resolve));
  const port = (control.address() as AddressInfo).port;

  return {
    host: LOOPBACK,
    port,
    url: `ftp://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${LOOPBACK}:${port}/`,
    get dirs() {
      return state.dirs;
    },
    set dirs(value) {
      state.dirs = value;
    },
    get connections() {
      return connections;
    },
    get openData() {
      return data.size;
    },
    commands,
    get linesSent() {
      return linesSent;
    },
    dataClosed() {
      if (data.size === 0) return Promise.resolve();
      return new Promise<void>((resolve) => dataWaiters.push(resolve));
    },
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all(
        [...servers].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
      );
    },
  };
}

/** A vsftpd-style LIST line for a file (`-`) or folder (`d`) dated Nov 25 01:29. */
export function listLine(name: string, size: number | string = 1, type: '-' | 'd' = '-'): string {
  const mode = type === 'd' ? 'drwxr-xr-x' : '-rw-r--r--';
  return `${mode}    1 1000     1000     ${String(size).padStart(8)} Nov 25 01:29 ${name}`;
}
