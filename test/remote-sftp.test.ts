import { testUserAvailable } from './servers/system-user.js';
import { chmodSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { App } from '../src/app.js';
import { sftpBackend } from '../src/storage/backends/sftp.js';
import { parseStorageSpec } from '../src/storage/url.js';
import type { StorageRecord } from '../src/db/repositories/storages.js';
import { startSshd, type SshdServer } from './servers/sshd.js';
import { requireServices } from './servers/util.js';
import { runCli } from './support/cli-capture.js';
import { indexLines, tempDir } from './support/harness.js';
import { expectNoTimersLeft } from './support/remote-scan.js';

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
  const url = (extra = '') =>
    `sftp://${sshd.user}:${encodeURIComponent(sshd.password)}@${sshd.host}:${sshd.port}${root}` +
    `?hostKey=${encodeURIComponent(sshd.hostKey)}${extra}`;
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
      expect((await byFile.list('/')).map((e) => e.name).sort()).toEqual(['a', 'b', 'top.txt']);
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
      expect(await c.list('/b')).toMatchObject([
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
      expect((await c.list('/')).map((e) => e.name).sort()).toEqual(['a', 'b', 'top.txt']);
      await c.close();
    });

    it('leaves no timer behind when closed right after a listing (a CLI would not exit)', async () => {
      await expectNoTimersLeft(url());
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

  describe('through the command line', () => {
    it('scans a URL, lists the index by the URL without its password, and never prints a password', async () => {
      const db = join(dir.path, 'cli.db');
      const scan = await runCli(['scan', url(), '--db', db, '--json']);
      expect(scan.stderr).toBe('');
      expect(scan.code).toBe(0);
      expect(JSON.parse(scan.stdout)).toMatchObject({
        status: 'succeeded',
        dirs: 3,
        files: 4,
        bytes: 18,
      });
      expect(scan.stdout).not.toContain(sshd.password);

      const bare = `sftp://${sshd.user}@${sshd.host}:${sshd.port}${root}`;
      const ls = await runCli(['ls', bare, '/a', '--db', db, '--json', '--recursive']);
      expect(ls.code).toBe(0);
      expect(
        ls.stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l).path),
      ).toEqual(['/a/sub', '/a/sub/y.mkv', '/a/x.txt']);

      const secret = 'Wrong-Secret-4711';
      const bad = await runCli([
        'scan',
        url().replace(encodeURIComponent(sshd.password), secret),
        '--db',
        db,
      ]);
      expect(bad.code).toBe(1);
      expect(bad.stdout + bad.stderr).toContain('AUTH_FAILED');
      expect(bad.stdout + bad.stderr).not.toContain(secret);
    });
  });

  describe('deletion safety through App', () => {
    let app: App;
    let storage: StorageRecord;
    let dbFile: string;
    const indexed = () => indexLines(app, storage);

    beforeAll(async () => {
      dbFile = join(dir.path, 'app.db');
      app = await App.open({ database: dbFile, tenant: 'default', env: {} });
      storage = await app.ensureStorage(parseStorageSpec(url()));
    });
    afterAll(async () => app?.close());

    it('keeps the subtree of a directory the server refuses to list', async () => {
      const first = await app.scan(storage);
      expect(first).toMatchObject({ status: 'succeeded', dirs: 3, files: 4, created: 4 });
      const before = await indexed();
      expect(before).toEqual([
        '/a:d',
        '/a/sub:d',
        '/a/sub/y.mkv:5',
        '/a/x.txt:4',
        '/b:d',
        '/b/z.flac:6',
        '/top.txt:3',
      ]);

      rmSync(join(root, 'a/sub/y.mkv'));
      rmSync(join(root, 'b/z.flac'));
      chmodSync(join(root, 'a'), 0o000);
      const partial = await app.scan(storage);
      expect(partial.status).toBe('partial');
      expect(partial.deleted).toBe(1);
      expect(partial.errorSample).toEqual([
        expect.objectContaining({ path: '/a', code: 'PERMISSION_DENIED' }),
      ]);
      expect(await indexed()).toEqual(before.filter((e) => e !== '/b/z.flac:6'));

      chmodSync(join(root, 'a'), 0o755);
      const healed = await app.scan(storage);
      expect(healed).toMatchObject({ status: 'succeeded', deleted: 1 });
      expect(await indexed()).not.toContain('/a/sub/y.mkv:5');
    });

    it('changes nothing when the server is down at scan time', async () => {
      const before = await indexed();
      await app.close();
      await sshd.process.kill();
      rmSync(join(root, 'top.txt'));
      rmSync(join(root, 'a'), { recursive: true });
      app = await App.open({ database: dbFile, tenant: 'default', env: {} });
      const result = await app.scan(storage);
      expect(result.status).toBe('failed');
      expect(result).toMatchObject({ created: 0, updated: 0, deleted: 0 });
      expect(result.errorSample[0]).toMatchObject({ path: '/', code: 'UNAVAILABLE' });
      expect(await indexed()).toEqual(before);
    });
  });
});
