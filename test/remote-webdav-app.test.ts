import { chmodSync, mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { App } from '../src/app.js';
import type { StorageRecord } from '../src/db/repositories/storages.js';
import { parseStorageSpec } from '../src/storage/url.js';
import { apacheBinary, startApache, type ApacheServer } from './servers/apache.js';
import { requireServices } from './servers/util.js';
import { runCli } from './support/cli-capture.js';
import { indexLines, tempDir } from './support/harness.js';
import { startRateLimitProxy } from './tools/rate-limit-proxy.js';
import { defaultHugeEntry, startHugeListingServer } from './tools/webdav-huge.js';

const available = requireServices(apacheBinary() ?? 'apache2');

describe.skipIf(!available)('webdav storages through App and the CLI (Apache mod_dav)', () => {
  let apache: ApacheServer;
  let dir: { path: string; cleanup: () => void };
  let root: string;
  const file = (path: string, size: number) => {
    const p = join(root, path);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, Buffer.alloc(size, 0x63));
    utimesSync(p, 1_700_000_000, 1_700_000_000);
  };
  /** The storage URL, with or without the password. */
  const url = (withPassword = true, port = apache.port) =>
    `webdav://${apache.user}${withPassword ? `:${encodeURIComponent(apache.password)}` : ''}` +
    `@127.0.0.1:${port}/dav`;

  beforeAll(async () => {
    dir = tempDir('trawl-remote-webdav-');
    chmodSync(dir.path, 0o755);
    root = join(dir.path, 'root');
    file('top.txt', 3);
    file('a/x.txt', 4);
    file('a/sub/y.mkv', 5);
    file('b/z.flac', 6);
    apache = await startApache({ root });
  }, 60_000);

  afterAll(async () => {
    await apache?.stop();
    dir?.cleanup();
  });

  it('scans a URL, lists the index by the URL without its password, never prints it', async () => {
    const db = join(dir.path, 'cli.db');
    const scan = await runCli(['scan', url(), '--db', db, '--json']);
    expect(scan.stderr).toBe('');
    expect(scan.code).toBe(0);
    expect(JSON.parse(scan.stdout)).toMatchObject({
      status: 'succeeded',
      dirs: 3,
      files: 4,
      bytes: 18,
      created: 4,
      errors: 0,
    });

    const ls = await runCli(['ls', url(false), '/a', '--db', db, '--json', '--recursive']);
    expect(ls.code).toBe(0);
    expect(
      ls.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual([
      { path: '/a/sub', type: 'dir', size: 0, mtime: expect.any(String) },
      { path: '/a/sub/y.mkv', type: 'file', size: 5, mtime: '2023-11-14T22:13:20.000Z' },
      { path: '/a/x.txt', type: 'file', size: 4, mtime: '2023-11-14T22:13:20.000Z' },
    ]);

    const secret = 'Wrong-Secret-4711';
    const bad = await runCli([
      'scan',
      `webdav://${apache.user}:${secret}@127.0.0.1:${apache.port}/dav`,
      '--db',
      db,
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stdout + bad.stderr).toContain('AUTH_FAILED');
    expect(bad.stdout + bad.stderr).not.toContain(secret);
    for (const run of [scan, ls, bad]) {
      expect(run.stdout + run.stderr).not.toContain(apache.password);
      expect(run.stdout + run.stderr).not.toContain(encodeURIComponent(apache.password));
    }
  });

  describe('deletion safety', () => {
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

    it('keeps the subtree of a directory the server answers 403 for', async () => {
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

      // Same port, so the same storage; now /a answers 403.
      const port = apache.port;
      await apache.stop();
      apache = await startApache({ root, port, forbidden: ['/a'] });
      rmSync(join(root, 'a/sub/y.mkv'));
      rmSync(join(root, 'b/z.flac'));

      const partial = await app.scan(storage);
      expect(partial.status).toBe('partial');
      expect(partial.deleted).toBe(1);
      expect(partial.errorSample).toEqual([
        expect.objectContaining({ path: '/a', code: 'PERMISSION_DENIED' }),
      ]);
      expect(await indexed()).toEqual(before.filter((e) => e !== '/b/z.flac:6'));

      await apache.stop();
      apache = await startApache({ root, port });
      const healed = await app.scan(storage);
      expect(healed).toMatchObject({ status: 'succeeded', deleted: 1 });
      expect(await indexed()).not.toContain('/a/sub/y.mkv:5');
    });

    it('keeps the subtree of a directory Apache cannot read (it cuts its answer short)', async () => {
      const before = await indexed();
      rmSync(join(root, 'a/x.txt'));
      chmodSync(join(root, 'a'), 0o000);
      try {
        const result = await app.scan(storage);
        expect(result.status).toBe('partial');
        expect(result.deleted).toBe(0);
        expect(result.errorSample[0]).toMatchObject({ path: '/a' });
        expect(await indexed()).toEqual(before);
      } finally {
        chmodSync(join(root, 'a'), 0o755);
      }
    });

    it('changes nothing when the server is down at scan time', async () => {
      const before = await indexed();
      await app.close();
      await apache.kill();
      rmSync(join(root, 'top.txt'));
      rmSync(join(root, 'a'), { recursive: true });
      app = await App.open({ database: dbFile, tenant: 'default', env: {} });
      const result = await app.scan(storage);
      expect(result.status).toBe('failed');
      expect(result).toMatchObject({ created: 0, updated: 0, deleted: 0 });
      expect(result.errorSample[0]).toMatchObject({ path: '/', code: 'UNAVAILABLE' });
      expect(await indexed()).toEqual(before);
      apache = await startApache({ root, port: apache.port });
    });
  });
});

describe.skipIf(!available)('webdav scan through a server that rate-limits (429)', () => {
  it('finishes succeeded with exact counts when 30% of requests get 429 + Retry-After', async () => {
    const dir = tempDir('trawl-remote-429-');
    chmodSync(dir.path, 0o755);
    const root = join(dir.path, 'root');
    let files = 0;
    for (let d = 0; d < 30; d++) {
      for (let f = 0; f < 3; f++) {
        const p = join(root, `d${d % 6}`, `sub${d}`, `f${f}.txt`);
        mkdirSync(dirname(p), { recursive: true });
        writeFileSync(p, Buffer.alloc(f + 1));
        files++;
      }
    }
    const apache = await startApache({ root });
    const proxy = await startRateLimitProxy({
      targetPort: apache.port,
      share: 0.3,
      retryAfter: '1',
    });
    const app = await App.open({ database: join(dir.path, 'rl.db'), tenant: 'default', env: {} });
    try {
      const storage = await app.ensureStorage(
        parseStorageSpec(`webdav://127.0.0.1:${proxy.port}/pub`),
      );
      const result = await app.scan(storage);
      expect(result).toMatchObject({
        status: 'succeeded',
        dirs: 36,
        files,
        created: files,
        errors: 0,
      });
      expect(proxy.stats.limited).toBeGreaterThan(0);
      expect(result.rateLimitWaits).toBeGreaterThan(0);
      // Every directory listed exactly once in the end: 37 PROPFIND Depth 1 plus the connect check.
      expect(proxy.stats.forwarded).toBeGreaterThanOrEqual(38);
    } finally {
      await app.close();
      await proxy.close();
      await apache.stop();
      dir.cleanup();
    }
  }, 120_000);
});

describe('webdav scans of a directory whose answer is cut short or holds bad entries', () => {
  const fileResponse = (href: string, length: string) =>
    `<D:response><D:href>${href}</D:href><D:propstat><D:prop><D:resourcetype/>` +
    `<D:getcontentlength>${length}</D:getcontentlength><D:getlastmodified>Tue, 14 Nov 2023 22:13:20 GMT</D:getlastmodified>` +
    `</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`;
  const hostile = {
    'an empty href (chezdav)':
      '<D:response><D:href/><D:propstat><D:prop><D:resourcetype/></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>',
    'a size of 1e+23': fileResponse('/dav/big/exp.dat', '1e+23'),
    'an href on another host': fileResponse('http://evil.example.com/elsewhere/', '1'),
    '507 Insufficient Storage (the server cut its answer)':
      '<D:response><D:href>/dav/big/</D:href><D:status>HTTP/1.1 507 Insufficient Storage</D:status></D:response>',
  };

  it.each(Object.entries(hostile))(
    'applies the good entries, deletes nothing there, ends partial, and heals: %s',
    async (what, bad) => {
      const dir = tempDir('trawl-webdav-partial-');
      const server = await startHugeListingServer({ entries: 300 });
      const app = await App.open({ database: join(dir.path, 'i.db'), tenant: 'default', env: {} });
      try {
        const storage = await app.ensureStorage(parseStorageSpec(server.storageUrl));
        const first = await app.scan(storage);
        expect(first).toMatchObject({ status: 'succeeded', dirs: 1, files: 300, created: 300 });

        // On the server: f5 vanished, f6 changed, f300 is new — and the answer is bad.
        server.options = {
          entries: 301,
          entry: (i) => (i === 5 ? undefined : { ...defaultHugeEntry(i), size: i === 6 ? 999 : i }),
          after: (i) => (i === 150 ? bad : undefined),
        };
        const partial = await app.scan(storage);
        expect(partial).toMatchObject({
          status: 'partial',
          created: 1,
          updated: 1,
          deleted: 0,
          invalidEntries: what.startsWith('507') ? 0 : 1,
          errorSample: [expect.objectContaining({ path: '/big', code: 'PROTOCOL' })],
        });
        const index = await indexLines(app, storage);
        expect(index).toContain('/big/f5.dat:5'); // not deleted on the strength of a bad listing
        expect(index).toContain('/big/f6.dat:999');
        expect(index).toContain('/big/f300.dat:300');
        expect(index.some((l) => l.includes('elsewhere') || l.includes('exp.dat'))).toBe(false);

        server.options = { ...server.options, after: undefined };
        const healed = await app.scan(storage);
        expect(healed).toMatchObject({ status: 'succeeded', deleted: 1, created: 0, updated: 0 });
        expect(await indexLines(app, storage)).not.toContain('/big/f5.dat:5');
      } finally {
        await app.close();
        await server.close();
        dir.cleanup();
      }
    },
  );
});

describe('webdav scan cancelled in the middle of a huge streamed listing', () => {
  it('ends cancelled at once, keeps what was applied, and drops the connection', async () => {
    const dir = tempDir('trawl-webdav-cancel-');
    const server = await startHugeListingServer({ entries: 3_000_000 });
    const app = await App.open({ database: join(dir.path, 'i.db'), tenant: 'default', env: {} });
    try {
      const storage = await app.ensureStorage(parseStorageSpec(server.storageUrl));
      const controller = new AbortController();
      const scan = app.scan(storage, { signal: controller.signal });
      await expect.poll(() => server.stats.bytes, { timeout: 20_000 }).toBeGreaterThan(2_000_000);
      controller.abort();
      const abortedAt = Date.now();
      const result = await scan;
      expect(result.status).toBe('cancelled');
      expect(result.deleted).toBe(0);
      expect(Date.now() - abortedAt).toBeLessThan(3000);
      await expect.poll(() => server.stats.abandoned, { timeout: 3000 }).toBe(1);
      expect(server.stats.ended).toBe(false);
    } finally {
      await app.close();
      await server.close();
      dir.cleanup();
    }
  });
});
