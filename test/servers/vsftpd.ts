/**
 * vsftpd on 127.0.0.1 with a temp config: the test user (system-user.ts, checked through
 * Debian's `vsftpd` PAM service) logs in chrooted to the served folder, read-only, passive
 * mode on a port range of its own. vsftpd announces no MLST, so listings are LIST.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
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

export interface VsftpdServer {
  host: string;
  port: number;
  user: string;
  password: string;
  process: ServerProcess;
  stop(): Promise<void>;
}

export interface VsftpdOptions {
  /**
   * TLS required for logins and data, with a fresh self-signed certificate: `true` or
   * `'explicit'` for AUTH TLS on the FTP port, `'implicit'` for TLS from the first byte (what
   * `ftps://` connects to).
   */
  tls?: boolean | 'explicit' | 'implicit';
}

export async function startVsftpd(
  servedRoot: string,
  options: VsftpdOptions = {},
): Promise<VsftpdServer> {
  const { user, password } = ensureTestUser();
  mkdirSync('/var/run/vsftpd/empty', { recursive: true });
  const dir = tempDir('trawl-vsftpd-');
  const port = await freePort();
  const pasv = await freePort();
  const userlist = join(dir.path, 'users');
  writeFileSync(userlist, `${user}\n`);
  const config = join(dir.path, 'vsftpd.conf');
  const tls: string[] = [];
  if (options.tls) {
    const cert = join(dir.path, 'cert.pem');
    const key = join(dir.path, 'key.pem');
    runSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      `/CN=${LOOPBACK}`,
      '-keyout',
      key,
      '-out',
      cert,
    ]);
    tls.push(
      'ssl_enable=YES',
      `rsa_cert_file=${cert}`,
      `rsa_private_key_file=${key}`,
      'force_local_logins_ssl=YES',
      'force_local_data_ssl=YES',
      // basic-ftp does not resume the control connection's TLS session on data connections.
      'require_ssl_reuse=NO',
      'ssl_ciphers=HIGH',
    );
    if (options.tls === 'implicit') tls.push('implicit_ssl=YES');
  }
  writeFileSync(
    config,
    [
      'listen=YES',
      'listen_ipv6=NO',
      `listen_address=${LOOPBACK}`,
      `listen_port=${port}`,
      'background=NO',
      'anonymous_enable=NO',
      'local_enable=YES',
      'write_enable=NO',
      'pam_service_name=vsftpd',
      'userlist_enable=YES',
      'userlist_deny=NO',
      `userlist_file=${userlist}`,
      `local_root=${servedRoot}`,
      'chroot_local_user=YES',
      'secure_chroot_dir=/var/run/vsftpd/empty',
      'pasv_enable=YES',
      `pasv_address=${LOOPBACK}`,
      `pasv_min_port=${pasv}`,
      `pasv_max_port=${Math.min(pasv + 50, 65535)}`,
      'connect_from_port_20=NO',
      'use_localtime=NO',
      'xferlog_enable=NO',
      'seccomp_sandbox=NO',
      'utf8_filesystem=YES',
      'max_per_ip=0',
      'max_clients=0',
      ...tls,
      '',
    ].join('\n'),
  );
  const proc = spawnServer('vsftpd', findBinary('vsftpd') ?? '/usr/sbin/vsftpd', [config]);
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
    process: proc,
    async stop() {
      await proc.stop();
      dir.cleanup();
    },
  };
}
