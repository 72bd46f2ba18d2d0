/**
 * The SSRF guard at connect time, for every backend against a real server on 127.0.0.1
 * (behind a TCP proxy that counts the connections that reached it): refused under a policy,
 * let through by the allowlist, and checked again at every connection — a name that rebinds
 * from an allowed address to a refused one is refused at its next connect, once, without a
 * retry. Without a policy (the CLI) nothing changes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as Ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AddressPolicy, type Resolver } from '../src/storage/net/address-policy.js';
import { checkStorageTarget } from '../src/storage/net/target.js';
import { StorageService } from '../src/storage/service.js';
import type { Entry } from '../src/storage/types.js';
import { startHostileSftp, file, batches, type HostileSftp } from './servers/hostile-sftp.js';
import { startHostileSmb, smbBatches, smbFile, type HostileSmb } from './servers/hostile-smb.js';
import { Configs, FAST_RETRY } from './service.helpers.js';
import { tempDir } from './support/harness.js';
import { listLine, startHostileFtp, type HostileFtp } from './tools/hostile-ftp.js';
import { startS3Huge, type S3HugeServer } from './tools/s3-huge.js';
import { startTcpProxy, type TcpProxy } from './tools/tcp-proxy.js';
import { startHugeListingServer, type HugeListingServer } from './tools/webdav-huge.js';

const ssh2 = createRequire(import.meta.url)('ssh2') as typeof Ssh2;

/** How a storage of each kind at `host:port` is written. */
type Kind = 'webdav' | 's3' | 'ftp' | 'sftp' | 'smb';
const optionsFor: Record<Kind, (host: string, port: number) => Record<string, unknown>> = {
  webdav: (host, port) => ({ url: `http://${host}:${port}/dav` }),
  s3: (host, port) => ({
    bucket: 'huge',
    endpoint: `http://${host}:${port}`,
    accessKeyId: 'huge',
    secretAccessKey: 'huge',
  }),
  ftp: (host, port) => ({ host, port, user: 'u', password: 'p' }),
  sftp: (host, port) => ({ host, port, user: 'u', password: 'p', insecureHostKey: true }),
  smb: (host, port) => ({ host, port, share: 'share', user: 'u', password: 'p' }),
};

/** A resolver for `storage.test` giving `answers` in turn (the last one from then on), counting calls. */
function rebinding(...answers: string[]): Resolver & { calls: number } {
  const resolver = Object.assign(
    async (host: string) => {
      if (host !== 'storage.test') {
        throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
      }
      const address = answers[Math.min(resolver.calls++, answers.length - 1)]!;
      return [{ address, family: 4 as const }];
    },
    { calls: 0 },
  );
  return resolver;
}

async function names(pages: AsyncIterable<Entry[]>): Promise<string[]> {
  const out: string[] = [];
  for await (const page of pages) out.push(...page.map((e) => e.name));
  return out.sort();
}

describe('SSRF guard at connect time, every network backend', () => {
  let webdav: HugeListingServer;
  let s3: S3HugeServer;
  let ftp: HostileFtp;
  let sftp: HostileSftp;
  let smb: HostileSmb;
  const proxies = {} as Record<Kind, TcpProxy>;
  /** What the root lists on each server. */
  const expected: Record<Kind, string[]> = {
    webdav: ['big'],
    s3: ['big'],
    ftp: ['a.txt'],
    sftp: ['s.txt'],
    smb: ['m.txt'],
  };

  beforeAll(async () => {
    webdav = await startHugeListingServer({ entries: 2 });
    s3 = await startS3Huge({ count: 2 });
    ftp = await startHostileFtp({ dirs: { '/': { lines: [listLine('a.txt')] } } });
    sftp = await startHostileSftp((path) => (path === '/' ? batches([file('s.txt')]) : undefined));
    smb = await startHostileSmb((path) =>
      path === '/' ? smbBatches([smbFile('m.txt')]) : undefined,
    );
    const ports: Record<Kind, number> = {
      webdav: webdav.port,
      s3: s3.port,
      ftp: ftp.port,
      sftp: sftp.port,
      smb: smb.port,
    };
    for (const kind of Object.keys(ports) as Kind[]) {
      proxies[kind] = await startTcpProxy({ targetPort: ports[kind] });
    }
  });
  afterAll(async () => {
    await Promise.all(Object.values(proxies).map((p) => p.close()));
    await Promise.all([webdav, s3, ftp, sftp, smb].map((s) => s?.close()));
  });

  /** A StorageService with one storage of `kind` at `host`, reached through the kind's proxy. */
  function serviceFor(kind: Kind, host: string, policy: AddressPolicy | undefined) {
    const configs = new Configs();
    configs.add({ id: 1, kind, options: optionsFor[kind](host, proxies[kind].port) });
    const service = new StorageService({
      lookup: configs.lookup,
      env: {},
      retry: FAST_RETRY,
      ...(policy ? { addressPolicy: policy } : {}),
    });
    return { service, handle: service.handle(1) };
  }

  for (const kind of ['webdav', 's3', 'ftp', 'sftp', 'smb'] as const) {
    describe(kind, () => {
      it('is refused at 127.0.0.1 under a policy, and the server sees no connection', async () => {
        const before = proxies[kind].connections;
        const { service, handle } = serviceFor(kind, '127.0.0.1', new AddressPolicy());
        try {
          const error = await handle.check().catch((e: unknown) => e);
          expect(error).toMatchObject({ code: 'FORBIDDEN_ADDRESS', retryable: false });
          expect((error as Error).message).toContain(
            "127.0.0.1 is a loopback address (127.0.0.0/8): refused by the server's address policy (allow it with TRAWL_ALLOW_NETWORKS)",
          );
          expect(service.stats(1)).toMatchObject({ retries: 0 });
        } finally {
          await service.closeAll();
        }
        expect(proxies[kind].connections).toBe(before);
      });

      it('connects and lists when the allowlist has 127.0.0.1, and without a policy', async () => {
        for (const policy of [new AddressPolicy({ allowNetworks: ['127.0.0.1/32'] }), undefined]) {
          const before = proxies[kind].connections;
          const { service, handle } = serviceFor(kind, '127.0.0.1', policy);
          try {
            expect(await names(handle.list('/'))).toEqual(expected[kind]);
          } finally {
            await service.closeAll();
          }
          expect(proxies[kind].connections).toBeGreaterThan(before);
        }
      });

      it('refuses the reconnect of a name that rebinds to a refused address, without a retry', async () => {
        const resolver = rebinding('127.0.0.1', '127.0.0.2');
        const policy = new AddressPolicy({ allowNetworks: ['127.0.0.1/32'], resolve: resolver });
        const { service, handle } = serviceFor(kind, 'storage.test', policy);
        try {
          expect(await names(handle.list('/'))).toEqual(expected[kind]);
          const reached = proxies[kind].connections;
          const resolved = resolver.calls;
          await service.release(1);
          const error = await handle.check().catch((e: unknown) => e);
          expect(error).toMatchObject({ code: 'FORBIDDEN_ADDRESS' });
          expect((error as Error).message).toContain(
            'storage.test resolves to 127.0.0.2, a loopback address (127.0.0.0/8)',
          );
          expect(resolver.calls).toBe(resolved + 1);
          expect(proxies[kind].connections).toBe(reached);
        } finally {
          await service.closeAll();
        }
      });
    });
  }

  it('refuses at connect a name that resolved to a public address when it was registered', async () => {
    const resolver = rebinding('93.184.215.14', '127.0.0.1');
    const policy = new AddressPolicy({ resolve: resolver });
    const options = optionsFor.webdav('storage.test', proxies.webdav.port);
    // Registration: the name is public, the storage is accepted.
    await expect(checkStorageTarget(policy, 'webdav', options)).resolves.toBeUndefined();
    const before = proxies.webdav.connections;
    const { service, handle } = serviceFor('webdav', 'storage.test', policy);
    try {
      await expect(handle.check()).rejects.toThrow(
        'storage.test resolves to 127.0.0.1, a loopback address (127.0.0.0/8)',
      );
    } finally {
      await service.closeAll();
    }
    expect(resolver.calls).toBe(2);
    expect(proxies.webdav.connections).toBe(before);
  });

  it("refuses S3 without credentials under a policy: the SDK would use the server's own", async () => {
    const configs = new Configs();
    const {
      accessKeyId: _a,
      secretAccessKey: _s,
      ...anonymous
    } = optionsFor.s3('127.0.0.1', proxies.s3.port);
    configs.add({ id: 1, kind: 's3', options: anonymous });
    const before = proxies.s3.connections;
    const service = new StorageService({
      lookup: configs.lookup,
      env: {},
      addressPolicy: new AddressPolicy({ allowNetworks: ['127.0.0.1'] }),
    });
    try {
      await expect(service.handle(1).check()).rejects.toMatchObject({
        code: 'FORBIDDEN_ADDRESS',
        message: expect.stringContaining("the server's own AWS credentials"),
      });
    } finally {
      await service.closeAll();
    }
    expect(proxies.s3.connections).toBe(before);
  });

  it('refuses an SFTP private key read from a file of the server unless its folder is allowed', async () => {
    const dir = tempDir('trawl-ssrf-key-');
    const keyFile = join(dir.path, 'id_ed25519');
    writeFileSync(keyFile, ssh2.utils.generateKeyPairSync('ed25519').private);
    try {
      for (const allowLocalPaths of [[], [dir.path]]) {
        const configs = new Configs();
        const { password: _p, ...keyed } = optionsFor.sftp('127.0.0.1', proxies.sftp.port);
        configs.add({ id: 1, kind: 'sftp', options: { ...keyed, privateKey: keyFile } });
        const policy = new AddressPolicy({ allowNetworks: ['127.0.0.1'], allowLocalPaths });
        const service = new StorageService({
          lookup: configs.lookup,
          env: {},
          addressPolicy: policy,
        });
        try {
          const listed = names(service.handle(1).list('/'));
          if (allowLocalPaths.length === 0) {
            await expect(listed).rejects.toMatchObject({
              code: 'FORBIDDEN_ADDRESS',
              message: expect.stringContaining(
                'a private key read from a file of the server refused',
              ),
            });
          } else {
            expect(await listed).toEqual(expected.sftp);
          }
        } finally {
          await service.closeAll();
        }
      }
    } finally {
      dir.cleanup();
    }
  });

  it('refuses every spelling of loopback in a WebDAV URL', async () => {
    for (const host of ['localhost', '127.1', '2130706433', '0x7f.0.0.1', '[::ffff:127.0.0.1]']) {
      const before = proxies.webdav.connections;
      const { service, handle } = serviceFor('webdav', host, new AddressPolicy());
      try {
        await expect(handle.check(), host).rejects.toMatchObject({ code: 'FORBIDDEN_ADDRESS' });
      } finally {
        await service.closeAll();
      }
      expect(proxies.webdav.connections, host).toBe(before);
    }
  });
});

describe('SSRF guard for local storages', () => {
  let dir: { path: string; cleanup: () => void };
  beforeAll(() => {
    dir = tempDir('trawl-ssrf-local-');
    mkdirSync(join(dir.path, 'media'));
    writeFileSync(join(dir.path, 'media', 'a.mkv'), 'x');
  });
  afterAll(() => dir?.cleanup());

  async function listRoot(policy: AddressPolicy | undefined) {
    const configs = new Configs();
    configs.add({ id: 1, kind: 'local', options: { root: join(dir.path, 'media'), threads: 1 } });
    const service = new StorageService({
      lookup: configs.lookup,
      env: {},
      ...(policy ? { addressPolicy: policy } : {}),
    });
    try {
      return await names(service.handle(1).list('/'));
    } finally {
      await service.closeAll();
    }
  }

  it('refuses a local folder unless it is under TRAWL_ALLOW_LOCAL_PATHS', async () => {
    await expect(listRoot(new AddressPolicy())).rejects.toMatchObject({
      code: 'FORBIDDEN_ADDRESS',
      message: expect.stringContaining('the server allows no local folders'),
    });
    await expect(
      listRoot(new AddressPolicy({ allowLocalPaths: [join(dir.path, 'elsewhere')] })),
    ).rejects.toMatchObject({ code: 'FORBIDDEN_ADDRESS' });
    expect(await listRoot(new AddressPolicy({ allowLocalPaths: [dir.path] }))).toEqual(['a.mkv']);
    expect(await listRoot(undefined)).toEqual(['a.mkv']);
  });
});
