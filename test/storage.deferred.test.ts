/**
 * A remote client whose module loads at its first connect (src/storage/backends/deferred.ts):
 * nothing loads before a connect (or at a close of a client never connected), every call
 * reaches the loaded client, and the wrapper has exactly the optional methods the loaded
 * client has, as callers test for them. The registry's remote kinds are built this way.
 */
import { describe, expect, it } from 'vitest';
import { deferredClient } from '../src/storage/backends/deferred.js';
import { backendFor } from '../src/storage/registry.js';
import type { Entry, StorageClient, TreeListing } from '../src/storage/types.js';
import { FtpClient } from '../src/storage/backends/ftp.js';
import { S3StorageClient } from '../src/storage/backends/s3.js';
import { SftpClient } from '../src/storage/backends/sftp.js';
import { SmbClient } from '../src/storage/backends/smb.js';
import { WebdavClient } from '../src/storage/backends/webdav.js';

const entry = (name: string): Entry => ({
  path: `/${name}`,
  name,
  isDir: false,
  size: 1,
  mtime: 0,
});

function fake() {
  const calls: string[] = [];
  const client: StorageClient = {
    async connect() {
      calls.push('connect');
    },
    async close() {
      calls.push('close');
    },
    async check() {
      calls.push('check');
    },
    async *list(dir) {
      calls.push(`list ${dir}`);
      yield [entry('a')];
      yield [entry('b')];
    },
    async *listTree(root) {
      calls.push(`listTree ${root}`);
      yield { dir: root, entries: [entry('c')] } satisfies TreeListing;
    },
    async readHead(path, bytes) {
      calls.push(`readHead ${path} ${bytes}`);
      return new Uint8Array([1, 2]);
    },
  };
  let loads = 0;
  const load = async () => {
    loads++;
    return client;
  };
  return { calls, load, loads: () => loads };
}

describe('deferredClient', () => {
  it('loads the client at its first connect, once, and passes every call on', async () => {
    const f = fake();
    const client = deferredClient(f.load, { listTree: true, readHead: true });
    expect(f.loads()).toBe(0);
    await client.connect();
    await client.check();
    const pages: string[][] = [];
    for await (const page of client.list('/x')) pages.push(page.map((e) => e.name));
    expect(pages).toEqual([['a'], ['b']]);
    const tree: unknown[] = [];
    for await (const listing of client.listTree!('/t')) tree.push(listing);
    expect(tree).toEqual([{ dir: '/t', entries: [entry('c')] }]);
    expect(await client.readHead!('/f', 2)).toEqual(new Uint8Array([1, 2]));
    await client.close();
    expect(f.loads()).toBe(1);
    expect(f.calls).toEqual([
      'connect',
      'check',
      'list /x',
      'listTree /t',
      'readHead /f 2',
      'close',
    ]);
  });

  it('has exactly the optional methods it is told the loaded client has', () => {
    const f = fake();
    const plain = deferredClient(f.load, {});
    expect(plain.listTree).toBeUndefined();
    expect(plain.readHead).toBeUndefined();
    const withHead = deferredClient(f.load, { readHead: true });
    expect(withHead.listTree).toBeUndefined();
    expect(withHead.readHead).toBeTypeOf('function');
  });

  it('closes a client never connected without loading it', async () => {
    const f = fake();
    await deferredClient(f.load, {}).close();
    expect(f.loads()).toBe(0);
    expect(f.calls).toEqual([]);
  });

  it("fails a connect with the load's error, and closes after it without throwing", async () => {
    const client = deferredClient(() => Promise.reject(new Error('no module')), {});
    await expect(client.connect()).rejects.toThrow('no module');
    await expect(client.close()).resolves.toBeUndefined();
  });

  it('stops the loaded listing when the caller stops reading', async () => {
    let finished = false;
    const client = deferredClient(
      async () => ({
        connect: async () => {},
        close: async () => {},
        check: async () => {},
        async *list() {
          try {
            for (let i = 0; ; i++) yield [entry(`e${i}`)];
          } finally {
            finished = true;
          }
        },
      }),
      {},
    );
    await client.connect();
    for await (const page of client.list('/')) {
      expect(page[0]!.name).toBe('e0');
      break;
    }
    expect(finished).toBe(true);
  });
});

describe("the registry's remote kinds", () => {
  // The wrapper's optional methods, against the client class each kind loads.
  const cases = [
    ['ftp', { host: 'h' }, FtpClient],
    ['sftp', { host: 'h' }, SftpClient],
    ['smb', { host: 'h', share: 's' }, SmbClient],
    ['webdav', { url: 'http://h/' }, WebdavClient],
    ['s3', { bucket: 'bucket' }, S3StorageClient],
  ] as const;
  for (const [kind, raw, loaded] of cases) {
    it(`${kind}: an unconnected client with the optional methods of ${loaded.name}`, async () => {
      const backend = backendFor(kind);
      const client = backend.create(backend.parseOptions(raw), { env: {} });
      const real = loaded.prototype as Partial<StorageClient>;
      expect(real.list).toBeTypeOf('function'); // the class is the client itself
      expect(typeof client.readHead).toBe(typeof real.readHead);
      expect(typeof client.listTree).toBe(typeof real.listTree);
      await client.close(); // never connected: nothing to close, nothing loaded
    });
  }
});
