/**
 * End-to-end checks of a network backend through the CLI and App against a real server:
 * `trawl scan <url>` and `trawl ls <url>`, no password in any output, a refused
 * subdirectory keeps its subtree, and a server that is down changes nothing.
 */
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { App } from '../../src/app.js';
import type { StorageRecord } from '../../src/db/repositories/storages.js';
import { createClient } from '../../src/storage/registry.js';
import { parseStorageSpec } from '../../src/storage/url.js';
import { runCli } from './cli-capture.js';
import { indexLines, tempDir } from './harness.js';
import { listAll } from './list-all.js';

export interface RemoteServer {
  /** The storage URL with its password. */
  url: string;
  /** The same storage without credentials' secret part (what `trawl ls` is given). */
  bareUrl: string;
  password: string;
  /** Dies abruptly; the suite does not restart it. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export function remoteScanSuite(
  name: string,
  available: boolean,
  start: (root: string) => Promise<RemoteServer>,
): void {
  describe.skipIf(!available)(`${name}: scans through the CLI and App`, () => {
    let server: RemoteServer;
    let dir: { path: string; cleanup: () => void };
    let root: string;
    const file = (path: string, size: number) => {
      const p = join(root, path);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, Buffer.alloc(size, 0x63));
    };

    beforeAll(async () => {
      dir = tempDir('trawl-remote-');
      chmodSync(dir.path, 0o755);
      root = join(dir.path, 'root');
      file('top.txt', 3);
      file('a/x.txt', 4);
      file('a/sub/y.mkv', 5);
      file('b/z.flac', 6);
      server = await start(root);
    }, 60_000);

    afterAll(async () => {
      await server?.stop();
      dir?.cleanup();
    });

    it('scans a URL, lists it by the URL without a password, never prints a password', async () => {
      const db = join(dir.path, 'cli.db');
      const scan = await runCli(['scan', server.url, '--db', db, '--json']);
      expect(scan.stderr).toBe('');
      expect(JSON.parse(scan.stdout)).toMatchObject({
        status: 'succeeded',
        dirs: 3,
        files: 4,
        bytes: 18,
        mediaFiles: 2,
      });
      expect(scan.code).toBe(0);
      const ls = await runCli(['ls', server.bareUrl, '/a', '--db', db, '--json', '--recursive']);
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
        server.url.replace(encodeURIComponent(server.password), secret),
        '--db',
        db,
      ]);
      expect(bad.code).toBe(1);
      expect(bad.stdout + bad.stderr).toContain('AUTH_FAILED');
      expect(bad.stdout + bad.stderr).not.toContain(secret);
      expect(scan.stdout + ls.stdout).not.toContain(server.password);
    });

    it('leaves no timer behind when closed right after a listing (a CLI would not exit)', async () => {
      await expectNoTimersLeft(server.url);
    });

    describe('deletion safety', () => {
      let app: App;
      let storage: StorageRecord;
      let dbFile: string;
      const indexed = () => indexLines(app, storage);

      beforeAll(async () => {
        dbFile = join(dir.path, 'app.db');
        app = await App.open({ database: dbFile, tenant: 'default', env: {} });
        storage = await app.ensureStorage(parseStorageSpec(server.url));
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
        try {
          const partial = await app.scan(storage);
          expect(partial).toMatchObject({ status: 'partial', deleted: 1 });
          expect(partial.errorSample).toEqual([
            expect.objectContaining({ path: '/a', code: 'PERMISSION_DENIED' }),
          ]);
          expect(await indexed()).toEqual(before.filter((e) => e !== '/b/z.flac:6'));
        } finally {
          chmodSync(join(root, 'a'), 0o755);
        }
        // Readable again: the change it could not see before is reconciled now.
        const healed = await app.scan(storage);
        expect(healed).toMatchObject({ status: 'succeeded', deleted: 1 });
        expect(await indexed()).not.toContain('/a/sub/y.mkv:5');
      });

      it('changes nothing when the server is down at scan time', async () => {
        const before = await indexed();
        await app.close();
        await server.kill();
        rmSync(join(root, 'a'), { recursive: true });
        rmSync(join(root, 'top.txt'));
        app = await App.open({ database: dbFile, tenant: 'default', env: {} });
        const result = await app.scan(storage);
        expect(result).toMatchObject({ status: 'failed', created: 0, updated: 0, deleted: 0 });
        expect(result.errorSample[0]).toMatchObject({ path: '/', code: 'UNAVAILABLE' });
        expect(await indexed()).toEqual(before);
      });
    });
  });
}

/** Connects, lists the root, closes at once: the client must leave no timer running. */
export async function expectNoTimersLeft(url: string): Promise<void> {
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const spec = parseStorageSpec(url);
  const client = createClient(spec.kind, spec.options, { env: {} });
  const before = timers();
  await client.connect();
  await listAll(client.list('/'));
  await client.close();
  expect(timers()).toBeLessThanOrEqual(before);
}
