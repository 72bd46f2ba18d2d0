/**
 * SFTP (OpenSSH) and SMB (Samba) rows for bench/remote.ts: each serves the bench tree with
 * the test servers, names it to trawl by URL (the password through the environment, not the
 * command line) and to rclone by its own flags, and times one listing with trawl's client.
 */
import { spawnSync } from 'node:child_process';
import { sftpBackend } from '../src/storage/backends/sftp-backend.js';
import { smbBackend } from '../src/storage/backends/smb-backend.js';
import type { StorageClient } from '../src/storage/types.js';
import { startSamba } from '../test/servers/samba.js';
import { startSshd } from '../test/servers/sshd.js';

/** The directory bench/remote.ts times single listings of (10 files). */
const PROBE_DIR = '/t00/s00';

interface Started {
  port: number;
  url(proxyPort: number): string;
  rclone(proxyPort: number): string[];
  listOnce(proxyPort: number): Promise<void>;
  stop(): Promise<void>;
}

/** One connected client, made on first use, for the round-trip probe. */
function prober(make: (port: number) => StorageClient) {
  let client: StorageClient | undefined;
  return {
    async list(port: number): Promise<void> {
      if (!client) {
        client = make(port);
        await client.connect();
      }
      // list() yields pages: the listing happens only as they are read.
      for await (const page of client.list(PROBE_DIR)) void page;
    },
    close: async () => client?.close(),
  };
}

function rcloneObscure(secret: string): string {
  const r = spawnSync('rclone', ['obscure', secret], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`rclone obscure failed: ${r.stderr}`);
  return r.stdout.trim();
}

export function sftpAndSmbTargets(concurrency: number) {
  return [
    {
      name: 'sftp (OpenSSH)',
      needs: ['sshd', 'ssh-keygen', 'rclone'],
      async start(root: string): Promise<Started> {
        const sshd = await startSshd();
        process.env.TRAWL_SFTP_PASSWORD = sshd.password;
        const probe = prober((port) =>
          sftpBackend.create(
            sftpBackend.parseOptions({
              host: '127.0.0.1',
              port,
              user: sshd.user,
              password: sshd.password,
              root,
              hostKey: sshd.hostKey,
            }),
            { env: {} },
          ),
        );
        return {
          port: sshd.port,
          url: (p) =>
            `sftp://${sshd.user}@127.0.0.1:${p}${encodeURI(root)}` +
            `?hostKey=${encodeURIComponent(sshd.hostKey)}&maxConcurrency=${concurrency}`,
          rclone: (p) => [
            '--sftp-host=127.0.0.1',
            `--sftp-port=${p}`,
            `--sftp-user=${sshd.user}`,
            `--sftp-key-file=${sshd.keyPath}`,
            // The server runs internal-sftp only: no shell to probe for hash commands.
            '--sftp-shell-type=none',
            '--sftp-disable-hashcheck',
            `:sftp:${root}`,
          ],
          listOnce: (p) => probe.list(p),
          async stop() {
            await probe.close();
            await sshd.stop();
          },
        };
      },
    },
    {
      name: 'smb (Samba, SMB 2.1)',
      needs: ['smbd', 'smbpasswd', 'rclone'],
      async start(root: string): Promise<Started> {
        const samba = await startSamba(root);
        process.env.TRAWL_SMB_PASSWORD = samba.password;
        const probe = prober((port) =>
          smbBackend.create(
            smbBackend.parseOptions({
              host: '127.0.0.1',
              port,
              share: samba.share,
              user: samba.user,
              password: samba.password,
            }),
            { env: {} },
          ),
        );
        return {
          port: samba.port,
          url: (p) =>
            `smb://${samba.user}@127.0.0.1:${p}/${samba.share}?maxConcurrency=${concurrency}`,
          rclone: (p) => [
            '--smb-host=127.0.0.1',
            `--smb-port=${p}`,
            `--smb-user=${samba.user}`,
            `--smb-pass=${rcloneObscure(samba.password)}`,
            `:smb:${samba.share}`,
          ],
          listOnce: (p) => probe.list(p),
          async stop() {
            await probe.close();
            await samba.stop();
          },
        };
      },
    },
  ];
}
