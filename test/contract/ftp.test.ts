import { FTPError } from 'basic-ftp';
import { describe, expect, it } from 'vitest';
import { ftpBackend, mapFtpError } from '../../src/storage/backends/ftp.js';
import { parseMlsd, parseUnixList } from '../../src/storage/backends/ftp-listing.js';
import { serveFixtureAsTestUser, testUserAvailable } from '../servers/system-user.js';
import { startVsftpd } from '../servers/vsftpd.js';
import { startTcpProxy } from '../tools/tcp-proxy.js';
import { requireServices } from '../servers/util.js';
import { startSilentServer } from '../support/silent-server.js';
import { buildFixture } from './fixture.js';
import { runStorageContract, type ContractServer } from './suite.js';
import { listAll } from '../support/list-all.js';

// vsftpd's replies between arming the cut and the listing's data: CWD, EPSV, then 150.
const BEFORE_DATA = [
  '250 Directory successfully changed.\r\n',
  '229 Entering Extended Passive Mode (|||00000|)\r\n',
  '150 Here comes the directory listing.\r\n',
].join('');

// Not root: skipped here (and failed under TRAWL_REQUIRE_SERVICES) by testUserAvailable.
if (testUserAvailable())
  runStorageContract(
    'ftp (vsftpd, LIST)',
    async (): Promise<ContractServer> => {
      const fixture = buildFixture();
      const unlock = serveFixtureAsTestUser(fixture.root, fixture.lockedDir);
      const ftpd = await startVsftpd(fixture.root);
      const base = {
        host: ftpd.host,
        port: ftpd.port,
        user: ftpd.user,
        password: ftpd.password,
        timeoutMs: 10_000,
      };
      const makeClient = (overrides: Record<string, unknown> = {}) =>
        ftpBackend.create(ftpBackend.parseOptions({ ...base, ...overrides }), { env: {} });
      return {
        fixture,
        makeClient,
        // LIST: minutes for entries of the last six months (the fixture's are two days old).
        mtimePrecisionMs: 60_000,
        dirMtimes: true,
        badCredentials: { password: 'not the password' },
        locksDir: true,
        // The data connection bypasses a proxy on the control port: cut the control
        // connection right after "150" instead, so the server dies with the listing under way.
        async killMidListing() {
          const proxy = await startTcpProxy({ targetPort: ftpd.port });
          const client = makeClient({ port: proxy.port, connections: 1 });
          await client.connect();
          await listAll(client.list('/'));
          return {
            client,
            dir: fixture.bigDir,
            list: () => {
              proxy.cutAfter(Buffer.byteLength(BEFORE_DATA), () => ftpd.process.kill());
              return listAll(client.list(fixture.bigDir));
            },
            cleanup: async () => {
              await client.close();
              await proxy.close();
            },
          };
        },
        async teardown() {
          await ftpd.stop();
          unlock();
          fixture.cleanup();
        },
      };
    },
    { requires: ['vsftpd'] },
  );

describe('FTP listing parsers', () => {
  const now = Date.UTC(2026, 10, 27, 12, 0);

  it('keeps names with leading spaces, newlines and arrows; reads symlinks as skipped', () => {
    const text = [
      '-rw-r--r--    1 0        0              12 Nov 25 01:29  leading space.txt',
      '-rw-r--r--    1 0        0               0 Nov 25 01:29 new\nline',
      'drwxr-xr-x    2 0        0            4096 Nov 25 01:29 .',
      'lrwxrwxrwx    1 0        0               4 Nov 25 01:29 link -> target',
      'drwxr-xr-x    2 0        0            4096 Mar 04  2020 old dir',
      '',
    ].join('\r\n');
    expect(parseUnixList(text, now)).toEqual([
      { name: ' leading space.txt', isDir: false, size: 12, mtime: Date.UTC(2026, 10, 25, 1, 29) },
      { name: 'new\nline', isDir: false, size: 0, mtime: Date.UTC(2026, 10, 25, 1, 29) },
      {
        name: 'link',
        isDir: false,
        size: 0,
        mtime: Date.UTC(2026, 10, 25, 1, 29),
        skip: 'symlink',
      },
      { name: 'old dir', isDir: true, size: 0, mtime: Date.UTC(2020, 2, 4) },
    ]);
  });

  it('puts a recent entry whose date would lie ahead into last year', () => {
    const [e] = parseUnixList('-rw-r--r-- 1 0 0 1 Dec 30 10:00 x\r\n', now);
    expect(e!.mtime).toBe(Date.UTC(2025, 11, 30, 10, 0));
  });

  it('fails the whole listing on a line it cannot read, never drops it', () => {
    const text = '-rw-r--r-- 1 0 0 1 Nov 25 01:29 ok\r\nthis is not a listing line\r\n';
    expect(() => parseUnixList(text, now)).toThrow(/this is not a listing line/);
    expect(() => parseMlsd('type=file;size=1; ok\r\n')).toThrow(/modify/);
  });

  it('reads MLSD facts to the millisecond', () => {
    const text =
      'type=cdir;modify=20261127000000; .\r\n' +
      'type=file;size=42;modify=20261127010203.5; a b.txt\r\n' +
      'type=dir;modify=20261127010203; sub\r\n' +
      'type=OS.unix=slink:/x;modify=20261127010203; l\r\n';
    expect(parseMlsd(text)).toEqual([
      { name: 'a b.txt', isDir: false, size: 42, mtime: Date.UTC(2026, 10, 27, 1, 2, 3, 500) },
      { name: 'sub', isDir: true, size: 0, mtime: Date.UTC(2026, 10, 27, 1, 2, 3) },
      { name: 'l', isDir: false, size: 0, mtime: Date.UTC(2026, 10, 27, 1, 2, 3), skip: 'symlink' },
    ]);
  });
});

describe('ftp backend options', () => {
  it('maps FTP reply codes, timeouts and socket errors to contract codes', () => {
    const code = (e: unknown) => mapFtpError(e, 'ftp://h:21', '/d').code;
    expect(code(new FTPError({ code: 530, message: '530 Login incorrect.' }))).toBe('AUTH_FAILED');
    expect(code(new FTPError({ code: 550, message: '550 Failed.' }))).toBe('NOT_FOUND');
    expect(code(new FTPError({ code: 421, message: '421 Timeout.' }))).toBe('UNAVAILABLE');
    expect(code(new FTPError({ code: 425, message: "425 Can't open data connection." }))).toBe(
      'UNAVAILABLE',
    );
    expect(code(new FTPError({ code: 502, message: '502 Not implemented.' }))).toBe('PROTOCOL');
    expect(code(new Error('Timeout (control socket)'))).toBe('TIMEOUT');
    expect(code(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe('UNAVAILABLE');
  });

  it('maps a server that accepts and never answers to TIMEOUT (retryable)', async () => {
    const silent = await startSilentServer();
    const client = ftpBackend.create(
      ftpBackend.parseOptions({
        host: '127.0.0.1',
        port: silent.port,
        user: 'u',
        password: 'p',
        timeoutMs: 300,
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

  it('reads ftp:// and ftps:// URLs, without the password in the location', () => {
    const plain = ftpBackend.parseOptions(
      ftpBackend.fromUrl!(
        new URL('ftp://ann:s%3Acret@nas.local/media/tv?tls=explicit&maxConcurrency=2'),
      ),
    );
    expect(plain).toMatchObject({
      host: 'nas.local',
      port: 21,
      user: 'ann',
      password: 's:cret',
      root: '/media/tv',
      tls: 'explicit',
    });
    expect(ftpBackend.location(plain)).toBe('ftp://ann@nas.local:21/media/tv');
    const implicit = ftpBackend.parseOptions(ftpBackend.fromUrl!(new URL('ftps://nas.local/')));
    expect(implicit).toMatchObject({ port: 990, tls: 'implicit', root: '/' });
    expect(() => ftpBackend.parseOptions({ host: 'h', tls: 'starttls' })).toThrow(/starttls/);
  });
});

describe.skipIf(!requireServices('vsftpd', 'openssl') || !testUserAvailable())(
  'ftp with explicit TLS (vsftpd)',
  () => {
    it('lists over TLS, and refuses a certificate that does not verify unless told', async () => {
      const fixture = buildFixture({ bigEntries: 10, depth: 1 });
      const unlock = serveFixtureAsTestUser(fixture.root, fixture.lockedDir);
      const ftpd = await startVsftpd(fixture.root, { tls: true });
      const make = (extra: Record<string, unknown>) =>
        ftpBackend.create(
          ftpBackend.parseOptions({
            host: ftpd.host,
            port: ftpd.port,
            user: ftpd.user,
            password: ftpd.password,
            tls: 'explicit',
            ...extra,
          }),
          { env: {} },
        );
      try {
        const trusting = make({ insecureTls: true });
        await trusting.connect();
        const names = (await listAll(trusting.list(fixture.bigDir))).map((e) => e.name).sort();
        expect(names).toEqual(
          fixture.dirs
            .get(fixture.bigDir)!
            .map((e) => e.name)
            .sort(),
        );
        await trusting.close();

        const strict = make({});
        await expect(strict.connect()).rejects.toMatchObject({
          code: 'AUTH_FAILED',
          retryable: false,
        });
        await strict.close();

        const plain = ftpBackend.create(
          ftpBackend.parseOptions({
            host: ftpd.host,
            port: ftpd.port,
            user: ftpd.user,
            password: ftpd.password,
          }),
          { env: {} },
        );
        // vsftpd refuses a login without TLS when it is required (530).
        await expect(plain.connect()).rejects.toMatchObject({ code: 'AUTH_FAILED' });
        await plain.close();
      } finally {
        await ftpd.stop();
        unlock();
        fixture.cleanup();
      }
    }, 60_000);
  },
);
