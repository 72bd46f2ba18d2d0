/**
 * An SFTP server on 127.0.0.1 that answers exactly what a test scripts (ssh2's server side):
 * each READDIR of a directory gets the test's answer for that call — names with any
 * attributes (or none), EOF, an error status, or no answer at all. It accepts any password,
 * and records what the client asked (OPENDIR, READDIR, CLOSE) so a test can check that a
 * listing stopped early closed its handle.
 */
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type * as Ssh2 from 'ssh2';

const ssh2 = createRequire(import.meta.url)('ssh2') as typeof Ssh2;
const { STATUS_CODE } = ssh2.utils.sftp;

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

/** One name in a READDIR answer, attributes exactly as sent (a missing one is left out). */
export interface SftpName {
  filename: string;
  attrs: { mode?: number; size?: number; mtime?: number };
}

/** What one READDIR call is answered with. */
export type SftpAnswer =
  | SftpName[]
  | 'eof'
  /** No answer at all, ever. */
  | 'stall'
  | { status: number; message?: string };

/**
 * A directory's script: the answer to its `call`-th READDIR (from 0), per opened handle, or
 * a promise of it (a slow server). A path the script does not know is answered NO_SUCH_FILE
 * at OPENDIR.
 */
export type SftpScript = (
  path: string,
) => ((call: number) => SftpAnswer | Promise<SftpAnswer>) | undefined;

export interface HostileSftp {
  port: number;
  /** `sftp://…` URL for this server (any user and password, host key not checked). */
  url: string;
  /** Requests as seen, e.g. `opendir /a`, `readdir /a 3`, `close /a`. */
  events: string[];
  /** Directories with a handle open right now. */
  openHandles(): string[];
  close(): Promise<void>;
}

export function file(name: string, size = 1, mtime = 1_700_000_000): SftpName {
  return { filename: name, attrs: { mode: S_IFREG | 0o644, size, mtime } };
}

export function dir(name: string, mtime = 1_700_000_000): SftpName {
  return { filename: name, attrs: { mode: S_IFDIR | 0o755, size: 4096, mtime } };
}

/** `names` as READDIR answers of `per` names each, then EOF (the way OpenSSH pages). */
export function batches(names: SftpName[], per = 100): (call: number) => SftpAnswer {
  return (call) => (call * per < names.length ? names.slice(call * per, call * per + per) : 'eof');
}

/**
 * A fresh ed25519 host key that ssh2 can read back: now and then one it generated fails its
 * own parser ("Malformed OpenSSH private key": 12 of 3,000 keys here), so it is checked
 * and made again.
 */
function hostKeyOnce(): string {
  for (let i = 0; ; i++) {
    const key = ssh2.utils.generateKeyPairSync('ed25519').private;
    if (!(ssh2.utils.parseKey(key) instanceof Error) || i >= 20) return key;
  }
}

export async function startHostileSftp(script: SftpScript): Promise<HostileSftp> {
  const hostKey = hostKeyOnce();
  const events: string[] = [];
  const handles = new Map<string, { path: string; calls: number }>();
  const clients = new Set<Ssh2.Connection>();
  let nextHandle = 0;

  const server = new ssh2.Server({ hostKeys: [hostKey] }, (client) => {
    clients.add(client);
    client.on('error', () => undefined);
    client.on('close', () => clients.delete(client));
    client.on('authentication', (ctx) => ctx.accept());
    client.on('ready', () => {
      client.on('session', (acceptSession) => {
        const session = acceptSession();
        session.on('sftp', (acceptSftp) => {
          const sftp = acceptSftp();
          sftp.on('REALPATH', (id, path) => {
            sftp.name(id, [
              { filename: path === '.' ? '/' : path, longname: '', attrs: {} as never },
            ]);
          });
          sftp.on('STAT', (id, path) => {
            if (!script(path)) return void sftp.status(id, STATUS_CODE.NO_SUCH_FILE);
            sftp.attrs(id, { mode: S_IFDIR | 0o755, size: 4096, mtime: 0, atime: 0 } as never);
          });
          sftp.on('OPENDIR', (id, path) => {
            events.push(`opendir ${path}`);
            if (!script(path)) return void sftp.status(id, STATUS_CODE.NO_SUCH_FILE);
            const handle = Buffer.alloc(4);
            handle.writeUInt32BE(nextHandle++);
            handles.set(handle.toString('hex'), { path, calls: 0 });
            sftp.handle(id, handle);
          });
          sftp.on('READDIR', async (id, handle) => {
            const open = handles.get(handle.toString('hex'));
            if (!open) return void sftp.status(id, STATUS_CODE.FAILURE, 'bad handle');
            const call = open.calls++;
            events.push(`readdir ${open.path} ${call}`);
            const answer = await script(open.path)!(call);
            if (answer === 'stall' || !clients.has(client)) return;
            if (answer === 'eof') return void sftp.status(id, STATUS_CODE.EOF);
            if (!Array.isArray(answer)) {
              return void sftp.status(id, answer.status, answer.message ?? '');
            }
            sftp.name(
              id,
              answer.map((n) => ({
                filename: n.filename,
                longname: n.filename,
                // Attributes left out are not sent: ssh2 writes only the ones present.
                attrs: { ...n.attrs, atime: n.attrs.mtime } as never,
              })),
            );
          });
          sftp.on('CLOSE', (id, handle) => {
            const key = handle.toString('hex');
            const open = handles.get(key);
            handles.delete(key);
            events.push(`close ${open?.path ?? '?'}`);
            sftp.status(id, STATUS_CODE.OK);
          });
        });
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `sftp://u:p@127.0.0.1:${port}/?insecureHostKey=true`,
    events,
    openHandles: () => [...handles.values()].map((h) => h.path),
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of clients) c.end();
        server.close(() => resolve());
      }),
  };
}
