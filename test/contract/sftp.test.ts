import { describe, expect, it } from 'vitest';
import { sftpBackend } from '../../src/storage/backends/sftp-backend.js';
import { mapSftpError } from '../../src/storage/backends/sftp.js';
import { startSshd } from '../servers/sshd.js';
import { serveFixtureAsTestUser, testUserAvailable } from '../servers/system-user.js';
import { startSilentServer } from '../support/silent-server.js';
import { buildFixture } from './fixture.js';
import { runStorageContract, type ContractServer } from './suite.js';

// Not root: skipped here (and failed under TRAWL_REQUIRE_SERVICES) by testUserAvailable.
if (testUserAvailable())
  runStorageContract(
    'sftp (OpenSSH)',
    async (): Promise<ContractServer> => {
      const fixture = buildFixture();
      const unlock = serveFixtureAsTestUser(fixture.root, fixture.lockedDir);
      const sshd = await startSshd();
      const base = {
        host: sshd.host,
        port: sshd.port,
        user: sshd.user,
        password: sshd.password,
        root: fixture.root,
        hostKey: sshd.hostKey,
        timeoutMs: 10_000,
      };
      return {
        fixture,
        makeClient: (overrides = {}) =>
          sftpBackend.create(sftpBackend.parseOptions({ ...base, ...overrides }), { env: {} }),
        // SFTP v3 carries whole seconds, for directories too.
        mtimePrecisionMs: 1000,
        dirMtimes: true,
        badCredentials: { password: 'not the password' },
        locksDir: true,
        endpoint: { port: sshd.port, via: (port) => ({ port }) },
        kill: () => sshd.process.kill(),
        async teardown() {
          await sshd.stop();
          unlock();
          fixture.cleanup();
        },
      };
    },
    { requires: ['sshd', 'ssh-keygen'] },
  );

describe('sftp backend options', () => {
  it('maps SFTP status codes, auth failures and socket errors to contract codes', () => {
    const code = (e: unknown) => mapSftpError(e, 'sftp://h:22', '/d').code;
    expect(code({ code: 2, message: 'No such file' })).toBe('NOT_FOUND');
    expect(code({ code: 3, message: 'Permission denied' })).toBe('PERMISSION_DENIED');
    expect(code({ code: 7, message: 'lost' })).toBe('UNAVAILABLE');
    expect(code({ code: 4, message: 'Failure' })).toBe('PROTOCOL');
    expect(
      code({
        level: 'client-authentication',
        message: 'All configured authentication methods failed',
      }),
    ).toBe('AUTH_FAILED');
    expect(
      code({ level: 'client-timeout', message: 'Timed out while waiting for handshake' }),
    ).toBe('TIMEOUT');
    expect(code({ code: 'ECONNRESET', message: 'read ECONNRESET' })).toBe('UNAVAILABLE');
    expect(mapSftpError({ code: 'ECONNREFUSED' }, 'sftp://h:22', '/').retryable).toBe(true);
    // A bug is not the server's doing: it fails the scan instead of one directory.
    expect(code(new TypeError("Cannot read properties of undefined (reading 'mode')"))).toBe(
      'INTERNAL',
    );
  });

  it('maps a server that accepts and never answers to TIMEOUT (retryable) after connectTimeoutMs', async () => {
    const silent = await startSilentServer();
    const client = sftpBackend.create(
      sftpBackend.parseOptions({
        host: '127.0.0.1',
        port: silent.port,
        user: 'u',
        password: 'p',
        insecureHostKey: true,
        connectTimeoutMs: 300,
      }),
      { env: {} },
    );
    try {
      await expect(client.connect()).rejects.toMatchObject({ code: 'TIMEOUT', retryable: true });
    } finally {
      await client.close();
      await silent.close();
    }
  });

  it('reads user, password, port, root and pinning from a URL', () => {
    const url = new URL(
      'sftp://bob:p%40ss@files.example:2222/srv/my%20media/?hostKey=SHA256:' +
        'A'.repeat(43) +
        '&maxConcurrency=3',
    );
    const options = sftpBackend.parseOptions(sftpBackend.fromUrl!(url));
    expect(options).toMatchObject({
      host: 'files.example',
      port: 2222,
      user: 'bob',
      password: 'p@ss',
      root: '/srv/my media',
      hostKey: `SHA256:${'A'.repeat(43)}`,
      insecureHostKey: false,
    });
    expect(sftpBackend.location(options)).toBe('sftp://bob@files.example:2222/srv/my%20media');
    expect(JSON.stringify(sftpBackend.redact(options))).not.toContain('p@ss');
  });

  it('rejects a malformed fingerprint and a relative root, naming the value', () => {
    expect(() => sftpBackend.parseOptions({ host: 'h', hostKey: 'md5:ab:cd' })).toThrow(
      /md5:ab:cd/,
    );
    expect(() => sftpBackend.parseOptions({ host: 'h', root: 'srv' })).toThrow(/"srv"/);
    expect(() => sftpBackend.parseOptions({ host: 'h', port: '0' })).toThrow(/port/);
  });
});
