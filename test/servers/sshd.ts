/**
 * OpenSSH's sshd on 127.0.0.1 serving SFTP only, with its own config, host key and user
 * keys in a temp folder. Logins as the unprivileged test user (system-user.ts) by password
 * (checked against /etc/shadow, `UsePAM no`) or by key; every session is `internal-sftp`.
 * No chroot: OpenSSH refuses one under /tmp, so storage roots are absolute server paths.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/harness.js';
import { ensureTestUser } from './system-user.js';
import {
  findBinary,
  freePort,
  LOOPBACK,
  runSync,
  spawnServer,
  waitForPort,
  type ServerProcess,
} from './util.js';

export const SSHD_BINARIES = ['sshd', 'ssh-keygen'];

export interface SshdServer {
  host: string;
  port: number;
  user: string;
  password: string;
  /** A key file without a passphrase. */
  keyPath: string;
  /** A key file protected by {@link keyPassphrase}. */
  protectedKeyPath: string;
  keyPassphrase: string;
  /** `SHA256:…` of the server's host key. */
  hostKey: string;
  process: ServerProcess;
  stop(): Promise<void>;
}

function keygen(path: string, passphrase = ''): void {
  runSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', 'trawl-test', '-f', path]);
}

export async function startSshd(): Promise<SshdServer> {
  const { user, password } = ensureTestUser();
  const dir = tempDir('trawl-sshd-');
  // sshd reads authorized_keys as the user: the folder must be reachable for it.
  chmodSync(dir.path, 0o755);
  mkdirSync('/run/sshd', { recursive: true });
  const hostKeyPath = join(dir.path, 'host_ed25519');
  const keyPath = join(dir.path, 'user_key');
  const protectedKeyPath = join(dir.path, 'user_key_protected');
  const keyPassphrase = 'trawl test passphrase';
  keygen(hostKeyPath);
  keygen(keyPath);
  keygen(protectedKeyPath, keyPassphrase);
  const authorized = join(dir.path, 'authorized_keys');
  writeFileSync(
    authorized,
    runSync('cat', [`${keyPath}.pub`]) + runSync('cat', [`${protectedKeyPath}.pub`]),
  );
  chmodSync(authorized, 0o644);
  const hostKey = /SHA256:\S+/.exec(runSync('ssh-keygen', ['-l', '-f', `${hostKeyPath}.pub`]))![0];

  const port = await freePort();
  const config = join(dir.path, 'sshd_config');
  writeFileSync(
    config,
    [
      `ListenAddress ${LOOPBACK}`,
      `Port ${port}`,
      `HostKey ${hostKeyPath}`,
      'PidFile none',
      'UsePAM no',
      'PasswordAuthentication yes',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      `AuthorizedKeysFile ${authorized}`,
      'StrictModes no',
      `AllowUsers ${user}`,
      'PermitRootLogin no',
      'Subsystem sftp internal-sftp',
      'ForceCommand internal-sftp',
      'AllowTcpForwarding no',
      'X11Forwarding no',
      'MaxStartups 100',
      'MaxSessions 100',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  const proc = spawnServer('sshd', findBinary('sshd') ?? '/usr/sbin/sshd', [
    '-D',
    '-e',
    '-f',
    config,
  ]);
  try {
    await waitForPort(port, { process: proc });
  } catch (error) {
    await proc.stop();
    dir.cleanup();
    throw error;
  }
  return {
    host: LOOPBACK,
    port,
    user,
    password,
    keyPath,
    protectedKeyPath,
    keyPassphrase,
    hostKey,
    process: proc,
    async stop() {
      await proc.stop();
      dir.cleanup();
    },
  };
}
