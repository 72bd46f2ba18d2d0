/**
 * Samba's smbd on 127.0.0.1 with a config, passdb, lock, state and cache folders of its own
 * in a temp folder: one read-only share on the served folder, valid for the test user only
 * (system-user.ts), whose Samba password lives in the temp passdb (`smbpasswd -a`). Files are
 * read as that user, so a chmod-000 folder is refused with STATUS_ACCESS_DENIED.
 * `--no-process-group` keeps smbd's per-connection children in the group that stop/kill signal.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/harness.js';
import { ensureTestUser } from './system-user.js';
import {
  findBinary,
  freePort,
  LOOPBACK,
  spawnServer,
  waitForPort,
  type ServerProcess,
} from './util.js';

export const SAMBA_BINARIES = ['smbd', 'smbpasswd'];
export const SHARE = 'fixture';

export interface SambaServer {
  host: string;
  port: number;
  share: string;
  user: string;
  password: string;
  process: ServerProcess;
  stop(): Promise<void>;
}

export interface SambaOptions {
  /** `server min protocol`. @default SMB2_10 */
  minProtocol?: string;
}

export async function startSamba(
  servedRoot: string,
  options: SambaOptions = {},
): Promise<SambaServer> {
  const { user, password } = ensureTestUser();
  const dir = tempDir('trawl-samba-');
  const sub = (name: string) => {
    const path = join(dir.path, name);
    mkdirSync(path, { recursive: true });
    return path;
  };
  const port = await freePort();
  const config = join(dir.path, 'smb.conf');
  writeFileSync(
    config,
    [
      '[global]',
      '  server role = standalone server',
      `  smb ports = ${port}`,
      `  interfaces = ${LOOPBACK}`,
      '  bind interfaces only = yes',
      `  server min protocol = ${options.minProtocol ?? 'SMB2_10'}`,
      `  private dir = ${sub('private')}`,
      `  lock directory = ${sub('lock')}`,
      `  state directory = ${sub('state')}`,
      `  cache directory = ${sub('cache')}`,
      `  pid directory = ${sub('pid')}`,
      `  ncalrpc dir = ${sub('ncalrpc')}`,
      `  passdb backend = tdbsam:${join(dir.path, 'private', 'passdb.tdb')}`,
      `  log file = ${join(dir.path, 'log')}`,
      '  log level = 1',
      '  load printers = no',
      '  printing = bsd',
      '  printcap name = /dev/null',
      '  disable spoolss = yes',
      '  disable netbios = yes',
      '  map to guest = never',
      '  restrict anonymous = 2',
      '  ntlm auth = ntlmv2-only',
      `[${SHARE}]`,
      `  path = ${servedRoot}`,
      '  read only = yes',
      `  valid users = ${user}`,
      '',
    ].join('\n'),
  );
  const added = spawnSync(
    findBinary('smbpasswd') ?? 'smbpasswd',
    ['-c', config, '-s', '-a', user],
    {
      input: `${password}\n${password}\n`,
      encoding: 'utf8',
    },
  );
  if (added.status !== 0) {
    dir.cleanup();
    throw new Error(`smbpasswd -a ${user} failed: ${added.stderr || added.stdout}`);
  }
  const proc = spawnServer('smbd', findBinary('smbd') ?? '/usr/sbin/smbd', [
    '--foreground',
    '--no-process-group',
    '--debug-stdout',
    '-s',
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
    share: SHARE,
    user,
    password,
    process: proc,
    async stop() {
      await proc.stop();
      dir.cleanup();
    },
  };
}
