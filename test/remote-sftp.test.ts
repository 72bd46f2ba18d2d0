import { testUserAvailable } from './servers/system-user.js';
import { chmodSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sftpBackend } from '../src/storage/backends/sftp-backend.js';
import { startSshd, type SshdServer } from './servers/sshd.js';
import { requireServices } from './servers/util.js';
import { tempDir } from './support/harness.js';
import { remoteScanSuite } from './support/remote-scan.js';
import { listAll } from './support/list-all.js';

const available = requireServices('sshd', 'ssh-keygen') && testUserAvailable();

describe.skipIf(!available)('sftp on a real OpenSSH server', () => {
  let sshd: SshdServer;
  let dir: { path: string; cleanup: () => void };
  let root: string;

  const file = (path: string, size: number, mtimeSec = 1_700_000_000) => {
    const p = join(root, path);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, Buffer.alloc(size, 0x62));
    utimesSync(p, mtimeSec, mtimeSec);
  };
  const client = (overrides: Record<string, unknown>) =>
    sftpBackend.create(
      sftpBackend.parseOptions({
        host: sshd.host,
        port: sshd.port,
        user: sshd.user,
        root,
        hostKey: sshd.hostKey,
        timeoutMs: 10_000,
        ...overrides,
      }),
      { env: {} },
    );

  beforeAll(async () => {
    dir = tempDir('trawl-remote-sftp-');
    chmodSync(dir.path, 0o755);
    root = join(dir.path, 'root');
    file('top.txt', 3);
    file('a/x.txt', 4);
    file('a/sub/y.mkv', 5);
    file('b/z.flac', 6);
    sshd = await startSshd();
  }, 60_000);

  afterAll(async () => {
    await sshd?.stop();
    dir?.cleanup();
  });

  describe('authentication and host keys', () => {
    it('logs in with a key file, and with an inline key and its passphrase', async () => {
      const byFile = client({ privateKey: sshd.keyPath });
      await byFile.connect();
      expect((await listAll(byFile.list('/'))).map((e) => e.name).sort()).toEqual([
        'a',
        'b',
        'top.txt',
      ]);
      await byFile.close();

      const inline = client({
        privateKey: readFileSync(sshd.protectedKeyPath, 'utf8'),
        passphrase: sshd.keyPassphrase,
      });
      await inline.connect();
      await inline.check();
      await inline.close();
    });

    it('takes the password from TRAWL_SFTP_PASSWORD when the URL has none', async () => {
      const options = sftpBackend.parseOptions({
        host: sshd.host,
        port: sshd.port,
        user: sshd.user,
        root,
        hostKey: sshd.hostKey,
      });
      const c = sftpBackend.create(options, { env: { TRAWL_SFTP_PASSWORD: sshd.password } });
      await c.connect();
      expect(await listAll(c.list('/b'))).toMatchObject([
        { path: '/b/z.flac', size: 6, mtime: 1_700_000_000_000 },
      ]);
      await c.close();
    });

    it('refuses a key protected by a passphrase it was not given, as INVALID_CONFIG', async () => {
      const c = client({ privateKey: sshd.protectedKeyPath });
      await expect(c.connect()).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
    });

    it('refuses an unpinned host key, naming the fingerprint to pin', async () => {
      const c = client({ password: sshd.password, hostKey: undefined });
      const error = await c.connect().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ code: 'INVALID_CONFIG', retryable: false });
      expect((error as Error).message).toContain(sshd.hostKey);
    });

    it('refuses a host key that does not match the pinned one, without sending the password', async () => {
      const wrong = `SHA256:${'Q'.repeat(43)}`;
      const c = client({ password: sshd.password, hostKey: wrong });
      const error = (await c.connect().catch((e: unknown) => e)) as Error & { code: string };
      expect(error.code).toBe('AUTH_FAILED');
      expect(error.message).toContain('host key mismatch');
      expect(error.message).toContain(sshd.hostKey);
    });

    it('reads a root starting with /~ from the login folder', async () => {
      // The test user's login folder is `/`.
      const c = client({ password: sshd.password, root: `/~${root}` });
      await c.connect();
      expect((await listAll(c.list('/'))).map((e) => e.name).sort()).toEqual(['a', 'b', 'top.txt']);
      await c.close();
    });

    it('connects to any host key only when told to', async () => {
      const c = client({ password: sshd.password, hostKey: undefined, insecureHostKey: true });
      await c.connect();
      await c.close();
    });

    it('maps a closed port to UNAVAILABLE (retryable)', async () => {
      const c = client({ password: sshd.password, port: 1 });
      await expect(c.connect()).rejects.toMatchObject({ code: 'UNAVAILABLE', retryable: true });
    });
  });
});

// The CLI by URL, no password in any output, and deletion safety through App: the same
// checks as for FTP and SMB.
remoteScanSuite('sftp (OpenSSH)', available, async (root) => {
  const sshd = await startSshd();
  const at = `${sshd.host}:${sshd.port}${root}?hostKey=${encodeURIComponent(sshd.hostKey)}`;
  return {
    url: `sftp://${sshd.user}:${encodeURIComponent(sshd.password)}@${at}`,
    bareUrl: `sftp://${sshd.user}@${at}`,
    password: sshd.password,
    kill: () => sshd.process.kill(),
    stop: () => sshd.stop(),
  };
});
