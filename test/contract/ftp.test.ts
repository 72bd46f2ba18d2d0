import { FTPError } from 'basic-ftp';
import { describe, expect, it } from 'vitest';
import { ftpBackend } from '../../src/storage/backends/ftp-backend.js';
import { mapFtpError } from '../../src/storage/backends/ftp.js';
import {
  LineSplitter,
  parseListingText,
  replyProblem,
  TOO_LONG,
} from '../../src/storage/backends/ftp-listing.js';
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
  const entries = (text: string, format: 'LIST' | 'MLSD' = 'LIST') =>
    parseListingText(text, format, now).entries.map(({ name, isDir, size, mtime, skip }) =>
      skip ? { name, isDir, size, mtime, skip } : { name, isDir, size, mtime },
    );

  it('keeps names with leading spaces, newlines and arrows; reads symlinks as skipped', () => {
    const text = [
      'total 12',
      '-rw-r--r--    1 0        0              12 Nov 25 01:29  leading space.txt',
      '-rw-r--r--    1 0        0               0 Nov 25 01:29 new\nline',
      'drwxr-xr-x    2 0        0            4096 Nov 25 01:29 .',
      'lrwxrwxrwx    1 0        0               4 Nov 25 01:29 link -> target',
      'drwxr-xr-x    2 0        0            4096 Mar 04  2020 old dir',
      '',
    ].join('\r\n');
    expect(entries(text)).toEqual([
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
    expect(entries('-rw-r--r-- 1 0 0 1 Dec 30 10:00 x\r\n')[0]!.mtime).toBe(
      Date.UTC(2025, 11, 30, 10, 0),
    );
  });

  it('reports a line it cannot read, and reads the lines around it', () => {
    const text =
      '-rw-r--r-- 1 0 0 1 Nov 25 01:29 ok\r\nthis is not a listing line\r\n-rw-r--r-- 1 0 0 2 Nov 25 01:29 ok2\r\n';
    const parsed = parseListingText(text, 'LIST', now);
    expect(parsed.entries.map((e) => e.name)).toEqual(['ok', 'ok2']);
    expect(parsed.bad).toEqual([expect.stringMatching(/this is not a listing line/)]);
  });

  it('hands sizes and times that are not real to the pager as missing, with their text', () => {
    const [huge] = parseListingText(
      '-rw-r--r-- 1 0 0 99999999999999999999999 Nov 25 01:29 huge\r\n',
      'LIST',
      now,
    ).entries;
    expect(huge).toMatchObject({ size: undefined, sizeText: '99999999999999999999999' });
    for (const date of [
      'Foo 25 01:29',
      'Nov 32 01:29',
      'Nov 25 24:00',
      'Nov 25 01:60',
      'Nov 25  0000',
    ]) {
      const [e] = parseListingText(`-rw-r--r-- 1 0 0 1 ${date} x\r\n`, 'LIST', now).entries;
      expect(e, date).toMatchObject({ mtime: undefined });
    }
    for (const size of ['1e+23', '1.5', '-5', '99999999999999999999999', '']) {
      const [e] = parseListingText(
        `type=file;size=${size};modify=20261127010203; x\r\n`,
        'MLSD',
        now,
      ).entries;
      expect(e, size).toMatchObject({ size: undefined, sizeText: size });
    }
    const [old] = parseListingText(
      'type=file;size=1;modify=00500101000000; x\r\n',
      'MLSD',
      now,
    ).entries;
    // Year 50, not 1950 (Date.UTC would read it so).
    expect(new Date(old!.mtime!).getUTCFullYear()).toBe(50);
  });

  it('reads MLSD facts to the millisecond', () => {
    const text =
      'type=cdir;modify=20261127000000; .\r\n' +
      'type=file;size=42;modify=20261127010203.5; a b.txt\r\n' +
      'type=dir;modify=20261127010203; sub\r\n' +
      'type=OS.unix=slink:/x;modify=20261127010203; l\r\n';
    expect(entries(text, 'MLSD')).toEqual([
      { name: 'a b.txt', isDir: false, size: 42, mtime: Date.UTC(2026, 10, 27, 1, 2, 3, 500) },
      { name: 'sub', isDir: true, size: undefined, mtime: Date.UTC(2026, 10, 27, 1, 2, 3) },
      {
        name: 'l',
        isDir: false,
        size: undefined,
        mtime: Date.UTC(2026, 10, 27, 1, 2, 3),
        skip: 'symlink',
      },
    ]);
  });
});

describe(LineSplitter.name, () => {
  const split = (chunks: Array<string | Buffer>, max?: number) => {
    const s = new LineSplitter('utf8', max);
    const out: unknown[] = [];
    for (const c of chunks) out.push(...s.push(Buffer.from(c)));
    out.push(...s.end());
    return out;
  };

  it('splits on CRLF only, so a bare LF stays in a name, whatever the chunk boundaries', () => {
    const text = 'a\nb\r\nc\r\n\r\nd é\r\nlast';
    const expected = ['a\nb', 'c', '', 'd é', 'last'];
    expect(split([text])).toEqual(expected);
    const bytes = Buffer.from(text);
    // One byte at a time: CR and LF in different chunks, é split in two.
    expect(split([...bytes].map((b) => Buffer.from([b])))).toEqual(expected);
  });

  it('splits on LF for a server that sends no CRLF at all', () => {
    expect(split(['x\ny\n', 'z\n'])).toEqual(['x', 'y', 'z']);
    // A bare LF is not taken as a line end while a CRLF may still come within a line's length.
    expect(split(['a\nb', '\r\nc\r\n'])).toEqual(['a\nb', 'c']);
  });

  it('drops a line longer than the bound once, holding no more than the bound of it', () => {
    const s = new LineSplitter('utf8', 100);
    const out: unknown[] = [...s.push(Buffer.from('ok\r\n'))];
    for (let i = 0; i < 50; i++) out.push(...s.push(Buffer.from('y'.repeat(60))));
    out.push(...s.push(Buffer.from('y\r')), ...s.push(Buffer.from('\nnext\r\n')), ...s.end());
    expect(out).toEqual(['ok', TOO_LONG, 'next']);
    expect(split(['z'.repeat(150) + '\r\nafter\r\n'], 100)).toEqual([TOO_LONG, 'after']);
  });
});

describe('FTP final replies', () => {
  const kind = (code: number, text: string) => replyProblem(code, text)?.kind;

  it('takes what servers say after a whole listing as whole', () => {
    for (const [code, text] of [
      [226, '226 Directory send OK.'], // vsftpd
      [226, '226-Options: -a -l\n226 42 matches total'], // Pure-FTPd
      [226, '226 Transfer complete'], // ProFTPD, IIS
      [226, '226 Successfully transferred "/media"'], // FileZilla Server 0.9
      [226, '226 Operation successful'], // FileZilla Server 1.x
      [250, '250 Requested file action okay, completed.'],
      [226, '226-Maximum disk quota limited to 0 kBytes\n226 Transfer complete.'], // Serv-U
      [226, '226 Transfer complete. 1,234 bytes transferred. 56.78 KB/sec.'],
    ] as const) {
      expect(kind(code, text), text).toBeUndefined();
    }
  });

  it('recognises a listing cut short', () => {
    for (const text of [
      '226 Output truncated to 10000 matches', // Pure-FTPd
      '226-Options: -a -l\n226 Output truncated to 2000 matches',
      '226 Salida truncada a 10000 ocurrencias', // Pure-FTPd, Spanish
      '226 Anzeige auf 10000 Einträge beschränkt.', // Pure-FTPd, German
      '226 Sortie tronquee a 10000 elements', // Pure-FTPd, French
      '226 Listing truncated',
      '226 Too many files, listing limited to 5000 entries',
      '226 Partial listing sent',
      '226 Directory listing limit reached',
      '250 Results incomplete',
    ]) {
      expect(kind(226, text), text).toBe('cut');
    }
  });

  it('recognises a listing that failed or was refused although the code says done', () => {
    expect(kind(226, '226 Transfer done (but failed to open directory).')).toBe('refused'); // vsftpd
    expect(kind(226, '226 Sorry, we were unable to read [.]')).toBe('refused'); // Pure-FTPd
    expect(kind(226, '226 Read error during globbing of *')).toBe('failed'); // ProFTPD
    expect(kind(226, '226 Out of memory during globbing of x')).toBe('failed');
    expect(kind(226, '226 Abort successful')).toBe('failed');
    expect(kind(200, '200 OK')).toBe('unexpected');
    expect(kind(213, '213 End.')).toBe('unexpected');
  });
});

describe('ftp backend options', () => {
  it('maps FTP reply codes, timeouts and socket errors to contract codes', () => {
    const code = (e: unknown) => mapFtpError(e, 'ftp://h:21', '/d').code;
    expect(code(new FTPError({ code: 530, message: '530 Login incorrect.' }))).toBe('AUTH_FAILED');
    expect(code(new FTPError({ code: 550, message: '550 Failed.' }))).toBe('NOT_FOUND');
    expect(code(new FTPError({ code: 450, message: '450 .: Permission denied' }))).toBe(
      'PERMISSION_DENIED',
    );
    expect(code(new FTPError({ code: 421, message: '421 Timeout.' }))).toBe('UNAVAILABLE');
    expect(code(new FTPError({ code: 425, message: "425 Can't open data connection." }))).toBe(
      'UNAVAILABLE',
    );
    expect(code(new FTPError({ code: 502, message: '502 Not implemented.' }))).toBe('PROTOCOL');
    expect(code(new Error('Timeout (control socket)'))).toBe('TIMEOUT');
    expect(code(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe('UNAVAILABLE');
    expect(code(new Error('Server sent FIN packet unexpectedly, closing connection.'))).toBe(
      'UNAVAILABLE',
    );
    expect(code(new Error("Can't parse EPSV response: 229 ???"))).toBe('PROTOCOL');
    expect(code(new Error('FTP control response exceeded maximum allowed size'))).toBe('PROTOCOL');
    expect(
      code(Object.assign(new Error('wrong version'), { code: 'ERR_SSL_WRONG_VERSION_NUMBER' })),
    ).toBe('PROTOCOL');
    // A bug is not a property of the server: it fails the scan loudly.
    expect(code(new TypeError("Cannot read properties of undefined (reading 'x')"))).toBe(
      'INTERNAL',
    );
  });

  it('reads connectTimeoutMs (default 10 s) apart from timeoutMs', () => {
    expect(ftpBackend.parseOptions({ host: 'h' })).toMatchObject({
      connectTimeoutMs: 10_000,
      timeoutMs: 30_000,
    });
    expect(ftpBackend.parseOptions({ host: 'h', connectTimeoutMs: '2500' })).toMatchObject({
      connectTimeoutMs: 2500,
    });
    expect(() => ftpBackend.parseOptions({ host: 'h', connectTimeoutMs: 'soon' })).toThrow(
      /connectTimeoutMs/,
    );
    expect(() => ftpBackend.parseOptions({ host: 'h', connectTimeoutMs: 5 })).toThrow(/100/);
  });

  it('maps a server that accepts and never answers to TIMEOUT (retryable)', async () => {
    const silent = await startSilentServer();
    const client = ftpBackend.create(
      ftpBackend.parseOptions({
        host: '127.0.0.1',
        port: silent.port,
        user: 'u',
        password: 'p',
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
