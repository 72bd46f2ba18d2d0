/**
 * FTP and TLS as a new user meets them: `tls=explicit` against a server without TLS says the
 * server offers none (it said AUTH_FAILED, and sent users to check a right password), and
 * TLS to a server named by its IP address leaves stderr clean (Node's DEP0123 warning about
 * an IP address as SNI leaked onto it).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ftpBackend } from '../src/storage/backends/ftp-backend.js';
import { ftpTlsOptions } from '../src/storage/backends/ftp-login.js';
import { testUserAvailable } from './servers/system-user.js';
import { requireServices } from './servers/util.js';
import { startVsftpd, type VsftpdServer } from './servers/vsftpd.js';
import { runCli } from './support/cli-capture.js';
import { tempDir } from './support/harness.js';

const REPO = resolve(import.meta.dirname, '..');

describe(ftpTlsOptions.name, () => {
  it('names the server for SNI only by a host name, never by an IP address (RFC 6066)', () => {
    expect(ftpTlsOptions({ host: 'nas.local', insecureTls: false })).toEqual({
      rejectUnauthorized: true,
      servername: 'nas.local',
    });
    for (const host of ['127.0.0.1', '::1', '2001:db8::7']) {
      expect(ftpTlsOptions({ host, insecureTls: true })).toEqual({ rejectUnauthorized: false });
    }
  });
});

/** A folder the FTP test user may read, with one file in it. */
function servedFolder() {
  const dir = tempDir('trawl-ftp-tls-');
  chmodSync(dir.path, 0o755);
  const root = join(dir.path, 'root');
  mkdirSync(root);
  writeFileSync(join(root, 'song.flac'), 'abc');
  return { root, cleanup: dir.cleanup };
}

/** `trawl args` as a real process: what the user's terminal gets on stderr. */
function trawl(args: string[]) {
  const home = tempDir('trawl-ftp-tls-home-');
  try {
    const r = spawnSync(process.execPath, [join(REPO, 'bin', 'trawl.js'), ...args], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: home.path },
      timeout: 60_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    home.cleanup();
  }
}

const services = requireServices('vsftpd', 'openssl') && testUserAvailable();

describe.skipIf(!services)('tls=explicit against a server without TLS (vsftpd)', () => {
  let ftpd: VsftpdServer;
  let folder: ReturnType<typeof servedFolder>;
  beforeAll(async () => {
    folder = servedFolder();
    ftpd = await startVsftpd(folder.root);
  }, 60_000);
  afterAll(async () => {
    await ftpd?.stop();
    folder?.cleanup();
  });

  it('is PROTOCOL, not retried, and says the server offers no TLS and what to set', async () => {
    const client = ftpBackend.create(
      ftpBackend.parseOptions({
        host: ftpd.host,
        port: ftpd.port,
        user: ftpd.user,
        password: ftpd.password,
        tls: 'explicit',
      }),
      { env: {} },
    );
    try {
      const error = await client.connect().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ code: 'PROTOCOL', retryable: false });
      expect((error as Error).message).toMatch(
        new RegExp(
          `^ftp://${ftpd.host}:${ftpd.port} does not offer TLS: it answered AUTH TLS with "530 .+"; use tls=none for plain FTP .*, or tls=implicit \\(ftps://\\)`,
        ),
      );
    } finally {
      await client.close();
    }
    // The same server without tls= lists as always.
    const plain = ftpBackend.create(
      ftpBackend.parseOptions({
        host: ftpd.host,
        port: ftpd.port,
        user: ftpd.user,
        password: ftpd.password,
      }),
      { env: {} },
    );
    await plain.connect();
    await plain.close();
  });

  it('trawl scan: the summary, one line on stderr with the cause, exit 1', async () => {
    const dir = tempDir('trawl-ftp-tls-db-');
    try {
      const url = `ftp://${ftpd.user}:${encodeURIComponent(ftpd.password)}@${ftpd.host}:${ftpd.port}/?tls=explicit`;
      const r = await runCli(['scan', url, '--db', join(dir.path, 'index.db')]);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^scan 1 of ftp:\/\/.*: failed/);
      // Not retried: no retry lines, just the cause.
      expect(r.stderr).toMatch(
        /^trawl: scan 1 failed: ftp:\/\/.* does not offer TLS: .*\(PROTOCOL\)\n$/,
      );
      expect(r.stdout + r.stderr).not.toContain(ftpd.password);
    } finally {
      dir.cleanup();
    }
  });
});

describe.skipIf(!services)('TLS to a server named by its IP address: nothing on stderr', () => {
  beforeAll(() => {
    if (!existsSync(join(REPO, 'dist', 'cli', 'main.js'))) {
      throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
    }
  });

  it.each([
    ['explicit', (s: VsftpdServer) => `ftp://${s.host}:${s.port}/?tls=explicit&insecureTls=true`],
    ['implicit', (s: VsftpdServer) => `ftps://${s.host}:${s.port}/?insecureTls=true`],
  ] as const)(
    '%s TLS: the scan succeeds, reads its .trawlignore, and stderr stays empty',
    async (mode, urlOf) => {
      const folder = servedFolder();
      // Read over the TLS data connection, and obeyed: noise.log is not indexed.
      writeFileSync(join(folder.root, '.trawlignore'), '*.log\n');
      writeFileSync(join(folder.root, 'noise.log'), 'x');
      const ftpd = await startVsftpd(folder.root, { tls: mode });
      const dir = tempDir('trawl-ftp-tls-db-');
      try {
        // The host is an IP address (127.0.0.1): before, Node printed DEP0123 here.
        expect(ftpd.host).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
        const url = urlOf(ftpd).replace(
          '://',
          `://${ftpd.user}:${encodeURIComponent(ftpd.password)}@`,
        );
        const r = trawl(['scan', url, '--db', join(dir.path, 'index.db'), '--json']);
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        expect(JSON.parse(r.stdout)).toMatchObject({ status: 'succeeded', files: 2, skipped: 1 });
      } finally {
        await ftpd.stop();
        folder.cleanup();
        dir.cleanup();
      }
    },
    60_000,
  );
});
