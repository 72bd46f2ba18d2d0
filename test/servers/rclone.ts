/**
 * `rclone serve webdav` on 127.0.0.1: a second WebDAV implementation (Go's x/net/webdav)
 * next to Apache. When we are root it runs as `nobody`, so a chmod-000 directory really is
 * unreadable to it.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tempDir } from '../support/harness.js';
import { findBinary, freePort, spawnServer, waitForPort, type ServerProcess } from './util.js';

export interface RcloneWebdavOptions {
  root: string;
  /** @default 'trawl' */
  user?: string;
  /** @default a password with characters that need URL encoding */
  password?: string;
}

export interface RcloneWebdavServer {
  readonly port: number;
  readonly url: string;
  readonly user: string;
  readonly password: string;
  /** True when rclone runs as an unprivileged user (chmod 000 is then honoured). */
  readonly unprivileged: boolean;
  readonly process: ServerProcess;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

export async function startRcloneWebdav(options: RcloneWebdavOptions): Promise<RcloneWebdavServer> {
  const rclone = findBinary('rclone');
  if (!rclone) throw new Error('rclone is not installed');
  const port = await freePort();
  const user = options.user ?? 'trawl';
  const password = options.password ?? 'p@ss:w/rd %&#';
  const dir = tempDir('trawl-rclone-');
  const config = join(dir.path, 'rclone.conf');
  writeFileSync(config, '');
  chmodSync(dir.path, 0o755);
  chmodSync(config, 0o644);
  chmodSync(dirname(options.root), 0o755);
  const args = [
    'serve',
    'webdav',
    options.root,
    '--config',
    config,
    '--addr',
    `127.0.0.1:${port}`,
    '--user',
    user,
    '--pass',
    password,
    // Not `--dir-cache-time 0s`: rclone then re-reads the directory for every entry it
    // describes, and a 5,000-entry PROPFIND takes minutes (measured).
  ];
  const setpriv = findBinary('setpriv');
  const unprivileged = process.getuid?.() === 0 && setpriv !== undefined;
  const proc = unprivileged
    ? spawnServer('rclone', setpriv, [
        '--reuid=nobody',
        '--regid=nogroup',
        '--clear-groups',
        rclone,
        ...args,
      ])
    : spawnServer('rclone', rclone, args);
  try {
    await waitForPort(port, { process: proc });
  } catch (error) {
    await proc.kill();
    dir.cleanup();
    throw error;
  }
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    user,
    password,
    unprivileged,
    process: proc,
    async stop() {
      await proc.stop();
      dir.cleanup();
    },
    async kill() {
      await proc.kill();
    },
  };
}
