import { chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { App } from '../src/app.js';
import { ftpBackend } from '../src/storage/backends/ftp-backend.js';
import { s3Backend } from '../src/storage/backends/s3-backend.js';
import { S3StorageClient } from '../src/storage/backends/s3.js';
import { sftpBackend } from '../src/storage/backends/sftp-backend.js';
import { smbBackend } from '../src/storage/backends/smb-backend.js';
import { webdavBackend } from '../src/storage/backends/webdav-backend.js';
import { WebdavClient } from '../src/storage/backends/webdav.js';
import { StorageError } from '../src/storage/errors.js';
import type { StorageClient } from '../src/storage/types.js';
import { parseStorageSpec } from '../src/storage/url.js';
import { apacheBinary, startApache, type ApacheServer } from './servers/apache.js';
import { startHostileSmb } from './servers/hostile-smb.js';
import { S3RVER_KEY, S3RVER_SECRET, startS3rver, type S3rverServer } from './servers/s3rver.js';
import { startSamba, type SambaServer } from './servers/samba.js';
import { startSshd, type SshdServer } from './servers/sshd.js';
import { testUserAvailable } from './servers/system-user.js';
import { startVsftpd, type VsftpdServer } from './servers/vsftpd.js';
import { LOOPBACK, requireServices } from './servers/util.js';
import { tempDir } from './support/harness.js';
import { startHostileFtp } from './tools/hostile-ftp.js';

/** 300 KB whose every byte says where it is: a head cut anywhere else would not match. */
const BIG = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7 + (i >> 8)) & 0xff));
const RULES = 'skip/\n*.log\n';

/** The tree every server serves: a marker at the root, and what it excludes. */
const TREE: Record<string, Buffer | string> = {
  '.trawlignore': RULES,
  'big.bin': BIG,
  'small.txt': 'hello',
  'empty.txt': '',
  'keep.txt': 'kept',
  'noise.log': 'excluded by *.log',
  'skip/inside.txt': 'excluded with its directory',
  'sub/deeper.log': 'excluded too',
  'sub/ok.txt': 'kept',
};
const KEPT_FILES = [
  '/.trawlignore',
  '/big.bin',
  '/empty.txt',
  '/keep.txt',
  '/small.txt',
  '/sub/ok.txt',
];

async function expectCode(work: Promise<unknown>, code: string): Promise<void> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StorageError);
  expect((error as StorageError).code).toBe(code);
}

function writeTree(root: string): void {
  for (const [path, body] of Object.entries(TREE)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), body);
  }
}

/**
 * A server that ignores Range and streams 8 MB for any GET, or (for a path with `stall`)
 * sends its head and then nothing: what a head read must survive from an untrusted server.
 */
async function hostileServer() {
  const server: Server = createServer((req, res) => {
    if (req.method === 'PROPFIND') {
      res.writeHead(207, { 'Content-Type': 'application/xml' });
      res.end('<?xml version="1.0"?><D:multistatus xmlns:D="DAV:"></D:multistatus>');
      return;
    }
    if (req.url?.includes('list-type=2')) {
      res.writeHead(200, { 'Content-Type': 'application/xml' });
      res.end('<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>');
      return;
    }
    res.writeHead(200, { 'Content-Length': 8 * 1024 * 1024 });
    if (req.url?.includes('stall')) return;
    const piece = Buffer.alloc(64 * 1024, 0x41);
    let sent = 0;
    const pump = () => {
      while (sent < 8 * 1024 * 1024 && !res.destroyed) {
        sent += piece.length;
        if (!res.write(piece)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((r) => server.listen(0, LOOPBACK, r));
  return {
    origin: `http://${LOOPBACK}:${(server.address() as { port: number }).port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A 200 that ignored Range is cut after the bytes asked for; a stalled body is a TIMEOUT. */
function hostileCases(make: (origin: string) => StorageClient) {
  it('keeps only the bytes asked for when the server ignores Range, and times out a stall', async () => {
    const server = await hostileServer();
    const client = make(server.origin);
    try {
      await client.connect();
      const head = await client.readHead!('/big.ts', 188);
      expect(Buffer.from(head)).toEqual(Buffer.alloc(188, 0x41));
      await expectCode(client.readHead!('/stall.ts', 188), 'TIMEOUT');
    } finally {
      await client.close();
      await server.close();
    }
  });
}

/** The behaviour every backend shares, against their real servers. */
function readHeadCases(make: () => StorageClient, url: () => string, extraDirs: string[] = []) {
  it('returns exactly the bytes asked for of a big file, and the whole of a small one', async () => {
    const client = make();
    await client.connect();
    try {
      const head = await client.readHead!('/big.bin', 1000);
      expect(Buffer.from(head).equals(BIG.subarray(0, 1000))).toBe(true);
      expect(Buffer.from(await client.readHead!('/big.bin', 1))).toEqual(BIG.subarray(0, 1));
      expect(Buffer.from(await client.readHead!('/small.txt', 1000)).toString()).toBe('hello');
      expect((await client.readHead!('/empty.txt', 16)).length).toBe(0);
      // Sequential reads share the connection pool: the cut-off ones left it usable.
      for (let i = 0; i < 5; i++) {
        expect((await client.readHead!('/big.bin', 188)).length).toBe(188);
      }
    } finally {
      await client.close();
    }
  });

  it('answers NOT_FOUND for a missing file, CANCELLED for an aborted signal', async () => {
    const client = make();
    await client.connect();
    try {
      await expectCode(client.readHead!('/no-such.txt', 10), 'NOT_FOUND');
      await expectCode(
        client.readHead!('/big.bin', 10, { signal: AbortSignal.abort() }),
        'CANCELLED',
      );
    } finally {
      await client.close();
    }
  });

  it('excludes what a .trawlignore says in a real scan', async () => {
    const dir = tempDir('trawl-readhead-db-');
    const app = await App.open({ database: join(dir.path, 'i.db'), tenant: 'default', env: {} });
    try {
      const storage = await app.ensureStorage(parseStorageSpec(url()));
      const result = await app.scan(storage);
      expect(result).toMatchObject({ status: 'succeeded', errors: 0 });
      const scope = { tenantId: storage.tenantId, storageId: storage.id };
      const files: string[] = [];
      for await (const e of app.index.entries.list(scope, '/', { recursive: true })) {
        if (!e.isDir) files.push(e.path);
      }
      expect(files.sort()).toEqual(KEPT_FILES);
      // `/skip` is excluded whole; on SFTP a symbolic link named `.ignore` is no marker.
      const dirs: string[] = [];
      for await (const e of app.index.entries.list(scope, '/', { recursive: true })) {
        if (e.isDir) dirs.push(e.path);
      }
      expect(dirs.sort()).toEqual(['/sub', ...extraDirs].sort());
    } finally {
      await app.close();
      dir.cleanup();
    }
  });
}

describe.skipIf(!requireServices(apacheBinary() ?? 'apache2'))('WebdavClient.readHead', () => {
  let apache: ApacheServer;
  let root: { path: string; cleanup: () => void };

  beforeAll(async () => {
    root = tempDir('trawl-readhead-dav-');
    // Apache's workers run as www-data when the tests run as root.
    chmodSync(root.path, 0o755);
    writeTree(root.path);
    apache = await startApache({ root: root.path });
  }, 60_000);
  afterAll(async () => {
    await apache?.stop();
    root?.cleanup();
  });

  readHeadCases(
    () =>
      new WebdavClient(
        webdavBackend.parseOptions({
          url: apache.authUrl,
          username: apache.user,
          password: apache.password,
        }),
      ),
    () => `webdav://${new URL(apache.openUrl).host}/pub`,
  );

  hostileCases(
    (origin) =>
      new WebdavClient(webdavBackend.parseOptions({ url: `${origin}/dav`, timeoutMs: 300 })),
  );
});

describe('S3StorageClient.readHead', () => {
  let server: S3rverServer;
  const options = () =>
    s3Backend.parseOptions({
      bucket: 'trawl-readhead',
      endpoint: server.endpoint,
      accessKeyId: S3RVER_KEY,
      secretAccessKey: S3RVER_SECRET,
    });

  beforeAll(async () => {
    server = await startS3rver({ bucket: 'trawl-readhead' });
    // trawl's client first: its connect quiets the SDK's Node-version warning for this one too.
    const trawl = s3Backend.create(options(), { env: {} });
    await trawl.connect();
    await trawl.close();
    const { S3Client, PutObjectCommand } = await import('@aws-sdk/client-s3');
    const sdk = new S3Client({
      region: 'us-east-1',
      endpoint: server.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: S3RVER_KEY, secretAccessKey: S3RVER_SECRET },
    });
    try {
      for (const [key, body] of Object.entries(TREE)) {
        await sdk.send(new PutObjectCommand({ Bucket: 'trawl-readhead', Key: key, Body: body }));
      }
    } finally {
      sdk.destroy();
    }
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  readHeadCases(
    () => s3Backend.create(options(), { env: {} }) as S3StorageClient,
    () =>
      `s3://${S3RVER_KEY}:${S3RVER_SECRET}@trawl-readhead?endpoint=${encodeURIComponent(server.endpoint)}`,
  );

  hostileCases((origin) =>
    s3Backend.create(
      s3Backend.parseOptions({
        bucket: 'hostile',
        endpoint: origin,
        accessKeyId: 'k',
        secretAccessKey: 's',
        timeoutMs: 300,
      }),
      { env: {} },
    ),
  );
});

// Not root: skipped here (and failed under TRAWL_REQUIRE_SERVICES) by testUserAvailable.
describe.skipIf(!testUserAvailable() || !requireServices('sshd', 'ssh-keygen'))(
  'SftpClient.readHead',
  () => {
    let sshd: SshdServer;
    let dir: { path: string; cleanup: () => void };
    let root: string;
    const options = () =>
      sftpBackend.parseOptions({
        host: sshd.host,
        port: sshd.port,
        user: sshd.user,
        password: sshd.password,
        root,
        hostKey: sshd.hostKey,
        timeoutMs: 10_000,
      });

    beforeAll(async () => {
      dir = tempDir('trawl-readhead-sftp-');
      root = join(dir.path, 'tree');
      mkdirSync(root);
      // The test user sshd serves as must reach the tree.
      chmodSync(dir.path, 0o755);
      chmodSync(root, 0o755);
      writeTree(root);
      mkdirSync(join(root, 'linked'));
      symlinkSync(join(root, 'big.bin'), join(root, 'linked', '.ignore'));
      sshd = await startSshd();
    }, 60_000);
    afterAll(async () => {
      await sshd?.stop();
      dir?.cleanup();
    });

    readHeadCases(
      () => sftpBackend.create(options(), { env: {} }),
      () =>
        `sftp://${sshd.user}:${encodeURIComponent(sshd.password)}@${sshd.host}:${sshd.port}${root}?hostKey=${encodeURIComponent(sshd.hostKey)}`,
      ['/linked'],
    );

    it('does not follow a symbolic link (NOT_FOUND), and reads no bytes of a directory', async () => {
      const client = sftpBackend.create(options(), { env: {} });
      await client.connect();
      try {
        await expectCode(client.readHead!('/linked/.ignore', 10), 'NOT_FOUND');
        expect((await client.readHead!('/sub', 10)).length).toBe(0);
      } finally {
        await client.close();
      }
    });
  },
);

/** A served copy of the tree the test user (who Samba and vsftpd serve as) may read. */
function servedTree(prefix: string) {
  const dir = tempDir(prefix);
  chmodSync(dir.path, 0o755);
  const root = join(dir.path, 'tree');
  mkdirSync(root);
  chmodSync(root, 0o755);
  writeTree(root);
  for (const sub of ['skip', 'sub']) chmodSync(join(root, sub), 0o755);
  return { dir, root };
}

// Not root: skipped here (and failed under TRAWL_REQUIRE_SERVICES) by testUserAvailable.
describe.skipIf(!testUserAvailable() || !requireServices('smbd', 'smbpasswd'))(
  'SmbClient.readHead',
  () => {
    let samba: SambaServer;
    let served: ReturnType<typeof servedTree>;
    const options = () =>
      smbBackend.parseOptions({
        host: samba.host,
        port: samba.port,
        share: samba.share,
        user: samba.user,
        password: samba.password,
      });

    beforeAll(async () => {
      served = servedTree('trawl-readhead-smb-');
      samba = await startSamba(served.root);
    }, 60_000);
    afterAll(async () => {
      await samba?.stop();
      served?.dir.cleanup();
    });

    readHeadCases(
      () => smbBackend.create(options(), { env: {} }),
      () =>
        `smb://${samba.user}:${encodeURIComponent(samba.password)}@${samba.host}:${samba.port}/${samba.share}`,
    );

    it('reads no bytes of a folder', async () => {
      const client = smbBackend.create(options(), { env: {} });
      await client.connect();
      try {
        expect((await client.readHead!('/sub', 10)).length).toBe(0);
      } finally {
        await client.close();
      }
    });
  },
);

describe('SmbClient.readHead against a hostile server', () => {
  it('keeps only the bytes asked for of an oversized READ answer, and times out a stall', async () => {
    const big = Buffer.from(Array.from({ length: 4096 }, (_, i) => i & 0xff));
    const server = await startHostileSmb((path) => (path === '/' ? () => 'end' : undefined), {
      '/more.ts': { body: big, read: 'more' },
      '/stall.ts': { body: big, read: 'stall' },
    });
    const client = smbBackend.create(
      smbBackend.parseOptions({
        host: '127.0.0.1',
        port: server.port,
        share: 'share',
        user: 'u',
        password: 'p',
        timeoutMs: 300,
      }),
      { env: {} },
    );
    try {
      await client.connect();
      const head = await client.readHead!('/more.ts', 188);
      expect(Buffer.from(head)).toEqual(big.subarray(0, 188));
      expect(server.events).toContain('read /more.ts 0 188');
      await expectCode(client.readHead!('/stall.ts', 188), 'TIMEOUT');
      // The stalled READ cost its handle, not the connection: the next read works.
      expect(Buffer.from(await client.readHead!('/more.ts', 10))).toEqual(big.subarray(0, 10));
      await expectCode(client.readHead!('/gone.ts', 10), 'NOT_FOUND');
    } finally {
      await client.close();
      await server.close();
    }
  });
});

describe.skipIf(!testUserAvailable() || !requireServices('vsftpd'))('FtpClient.readHead', () => {
  let ftpd: VsftpdServer;
  let served: ReturnType<typeof servedTree>;
  const options = () =>
    ftpBackend.parseOptions({
      host: ftpd.host,
      port: ftpd.port,
      user: ftpd.user,
      password: ftpd.password,
      connections: 1,
    });

  beforeAll(async () => {
    served = servedTree('trawl-readhead-ftp-');
    ftpd = await startVsftpd(served.root);
  }, 60_000);
  afterAll(async () => {
    await ftpd?.stop();
    served?.dir.cleanup();
  });

  readHeadCases(
    // One connection: every head read after a cut one runs on the connection it left.
    () => ftpBackend.create(options(), { env: {} }),
    () => `ftp://${ftpd.user}:${encodeURIComponent(ftpd.password)}@${ftpd.host}:${ftpd.port}/`,
  );

  it('tells a file it may not read (PERMISSION_DENIED) from a missing one, in a missing folder too', async () => {
    const locked = join(served.root, 'sub', 'locked.txt');
    writeFileSync(locked, 'no');
    chmodSync(locked, 0o000);
    const client = ftpBackend.create(options(), { env: {} });
    await client.connect();
    try {
      await expectCode(client.readHead!('/sub/locked.txt', 10), 'PERMISSION_DENIED');
      await expectCode(client.readHead!('/no-such/x.txt', 10), 'NOT_FOUND');
      expect(Buffer.from(await client.readHead!('/sub/ok.txt', 10)).toString()).toBe('kept');
    } finally {
      rmSync(locked);
      await client.close();
    }
  });
});

describe('FtpClient.readHead against a hostile server', () => {
  const big = Buffer.alloc(64 * 1024, 0x47);
  const client = (port: number) =>
    ftpBackend.create(
      ftpBackend.parseOptions({
        host: '127.0.0.1',
        port,
        user: 'u',
        password: 'p',
        connections: 1,
        timeoutMs: 300,
      }),
      { env: {} },
    );

  it('cuts a 64 MB file after the bytes asked for and keeps the connection, in step', async () => {
    const ftpd = await startHostileFtp({
      dirs: { '/': {}, '/a': {} },
      files: { '/a/big.ts': { body: big, repeat: 1024 } },
    });
    const c = client(ftpd.port);
    try {
      await c.connect();
      for (let i = 0; i < 3; i++) {
        expect(Buffer.from(await c.readHead!('/a/big.ts', 188))).toEqual(big.subarray(0, 188));
      }
      await ftpd.dataClosed();
      // One control connection for all three: each cut transfer was answered (426) first.
      expect(ftpd.connections).toBe(1);
      expect(ftpd.commands.filter((x) => x === 'RETR big.ts')).toHaveLength(3);
      // And a listing after them works on it.
      expect(await listAllNames(c, '/')).toEqual([]);
      expect(ftpd.connections).toBe(1);
    } finally {
      await c.close();
      await ftpd.close();
    }
  });

  it('times out a RETR that never sends, and drops a connection whose cut transfer is never answered', async () => {
    const ftpd = await startHostileFtp({
      dirs: { '/': {} },
      files: {
        '/stall.ts': { body: big, stall: true },
        '/mute.ts': { body: big, repeat: 1024, silentAfterCut: true },
        '/ok.ts': { body: Buffer.from('small') },
      },
    });
    const c = client(ftpd.port);
    try {
      await c.connect();
      await expectCode(c.readHead!('/stall.ts', 188), 'TIMEOUT');
      expect(Buffer.from(await c.readHead!('/ok.ts', 188)).toString()).toBe('small');
      expect(ftpd.connections).toBe(2);
      // The bytes came; only the 426 did not: the head stands, the connection goes.
      expect(Buffer.from(await c.readHead!('/mute.ts', 188))).toEqual(big.subarray(0, 188));
      expect(Buffer.from(await c.readHead!('/ok.ts', 188)).toString()).toBe('small');
      expect(ftpd.connections).toBe(3);
      await expectCode(c.readHead!('/none.ts', 10), 'NOT_FOUND');
      await expectCode(c.readHead!('/ok.ts', 10, { signal: AbortSignal.abort() }), 'CANCELLED');
    } finally {
      await c.close();
      await ftpd.close();
    }
  });
});

async function listAllNames(client: StorageClient, dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const page of client.list(dir)) names.push(...page.map((e) => e.name));
  return names;
}
