import { afterEach, describe, expect, it } from 'vitest';
import { emptyMemoryStats, MemoryTree } from '../src/storage/backends/memory-tree.js';
import { createClient } from '../src/storage/registry.js';
import { AdaptiveLimit } from '../src/storage/limits/adaptive.js';
import { InProcessGates } from '../src/storage/limits/gates.js';
import { KeyedSemaphores } from '../src/storage/limits/keyed.js';
import { Limiter } from '../src/storage/limits/limiter.js';
import { keyConcurrency, limitKeyOf } from '../src/storage/limits/keys.js';
import { splitServiceOptions } from '../src/storage/limits/options.js';
import { StorageService, type StorageServiceDeps } from '../src/storage/service.js';
import { parseStorageSpec } from '../src/storage/url.js';
import { Configs, grow, grown, scanFixture, volume, type ScanFixture } from './service.helpers.js';
import { memoryFixture, type MemoryFixture } from './support/harness.js';
import { listAll } from './support/list-all.js';

/** 100 concurrent lists of the root through a handle. */
function burst(service: StorageService, id: number, n = 100) {
  const handle = service.handle(id);
  return Promise.all(Array.from({ length: n }, () => listAll(handle.list('/'))));
}

describe('StorageService limits', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  function serve(configs: Configs, deps: Partial<StorageServiceDeps> = {}) {
    const service = new StorageService({ lookup: configs.lookup, ...deps });
    cleanups.push(() => service.closeAll());
    return service;
  }
  function vol(tree = new MemoryTree()) {
    const v = volume(tree);
    v.tree.latencyMs = 3;
    v.tree.writeFile('/f', 1, 1);
    cleanups.push(v.drop);
    return v;
  }

  it('never has more than maxConcurrency (default 5) requests in flight per storage', async () => {
    const a = vol();
    const b = vol();
    const configs = new Configs();
    configs.add({ id: 1, options: { volume: a.name } });
    configs.add({ id: 2, options: { volume: b.name }, maxConcurrency: 3 });
    const service = serve(configs);
    await Promise.all([burst(service, 1), burst(service, 2)]);
    expect(a.tree.stats.maxInFlight).toBe(5);
    expect(b.tree.stats.maxInFlight).toBe(3);
    expect(a.tree.stats.lists).toBe(100);
  });

  it('caps all storages of all tenants that share a limit key, and no other key', async () => {
    const host = vol(); // two storages on one volume: one host, one key
    const other = vol();
    const configs = new Configs();
    configs.add({ id: 1, tenantId: 1, options: { volume: host.name } });
    configs.add({ id: 2, tenantId: 2, options: { volume: host.name } });
    configs.add({ id: 3, tenantId: 2, options: { volume: other.name } });
    const service = serve(configs, { limits: { perKind: { memory: 7 } } });
    await Promise.all([burst(service, 1), burst(service, 2), burst(service, 3)]);
    expect(host.tree.stats.lists).toBe(200);
    expect(host.tree.stats.maxInFlight).toBe(7);
    expect(other.tree.stats.maxInFlight).toBe(5);
  });

  it('shares a key named by the storages across hosts, with a per-key cap', async () => {
    const stats = emptyMemoryStats();
    const a = vol(new MemoryTree({ stats }));
    const b = vol(new MemoryTree({ stats }));
    const configs = new Configs();
    configs.add({ id: 1, options: { volume: a.name, limitKey: 'cloud' } });
    configs.add({ id: 2, options: { volume: b.name }, limitKey: 'cloud' });
    const service = serve(configs, { limits: { perKey: { cloud: 4 } } });
    await Promise.all([burst(service, 1), burst(service, 2)]);
    expect(stats.lists).toBe(200);
    expect(stats.maxInFlight).toBe(4);
  });

  it('caps a tenant over all its storages when asked to', async () => {
    const stats = emptyMemoryStats();
    const a = vol(new MemoryTree({ stats }));
    const b = vol(new MemoryTree({ stats }));
    const c = vol();
    const configs = new Configs();
    configs.add({ id: 1, tenantId: 1, options: { volume: a.name } });
    configs.add({ id: 2, tenantId: 1, options: { volume: b.name } });
    configs.add({ id: 3, tenantId: 2, options: { volume: c.name } });
    const service = serve(configs, { limits: { perTenant: (t) => (t === 1 ? 3 : undefined) } });
    await Promise.all([burst(service, 1), burst(service, 2), burst(service, 3)]);
    expect(stats.lists).toBe(200);
    expect(stats.maxInFlight).toBe(3);
    expect(c.tree.stats.maxInFlight).toBe(5);
  });

  it('takes a storage-level tenant cap from its options', async () => {
    const a = vol();
    const configs = new Configs();
    configs.add({ id: 1, options: { volume: a.name, tenantMaxConcurrency: 2 } });
    await burst(serve(configs), 1);
    expect(a.tree.stats.maxInFlight).toBe(2);
  });

  it('honours ?maxConcurrency= in a storage URL, without the backend seeing it', async () => {
    const a = vol();
    const spec = parseStorageSpec(`memory://${a.name}?maxConcurrency=16`);
    expect(spec.options).toEqual({ volume: a.name, maxConcurrency: 16 });
    expect(spec.location).toBe(`memory://${a.name}`);
    const configs = new Configs();
    configs.add({ id: 1, options: spec.options });
    const seen: unknown[] = [];
    const service = serve(configs, {
      createClient: (kind, options, deps) => {
        seen.push(options);
        return createClient(kind, options, deps);
      },
    });
    await burst(service, 1);
    expect(a.tree.stats.maxInFlight).toBe(16);
    expect(seen).toEqual([{ volume: a.name }]);
    expect(service.concurrency(1)).toMatchObject({ max: 16, limit: 16 });
  });

  it('rejects a bad maxConcurrency naming the value', () => {
    expect(() => parseStorageSpec('memory://v?maxConcurrency=0')).toThrow(
      'Expected `maxConcurrency` to be an integer from 1 and up, got "0"',
    );
    expect(() => splitServiceOptions({ limitKey: 3 })).toThrow(
      'Expected `limitKey` to be a non-empty string, got 3',
    );
  });

  it('defaults the limit key to kind + host, capped at 50 for webdav', () => {
    expect(limitKeyOf('webdav', 'dav.example.com')).toBe('webdav:dav.example.com');
    expect(limitKeyOf('webdav', 'dav.example.com', 'mine')).toBe('mine');
    expect(keyConcurrency({}, 'webdav', 'webdav:h')).toBe(50);
    expect(keyConcurrency({ perKind: { webdav: 20 } }, 'webdav', 'webdav:h')).toBe(20);
    expect(
      keyConcurrency({ perKind: { webdav: 20 }, perKey: { 'webdav:h': 8 } }, 'webdav', 'webdav:h'),
    ).toBe(8);
  });
});

describe('limits during a scan', () => {
  let fx: ScanFixture | undefined;
  afterEach(async () => fx?.close());

  it('keeps a scan with 20 listers within maxConcurrency at the backend', async () => {
    const tree = new MemoryTree();
    grow(tree, [12, 3], 2);
    tree.latencyMs = 2;
    fx = await scanFixture({}, tree);
    await fx.app.index.storages.upsert({
      tenantId: fx.storage.tenantId,
      name: fx.volume,
      kind: 'memory',
      location: `memory://${fx.volume}`,
      options: { volume: fx.volume, maxConcurrency: 3 },
    });
    const result = await fx.scanWith({ listers: 20 });
    expect(result).toMatchObject({ status: 'succeeded', errors: 0, ...grown([12, 3], 2) });
    expect(tree.stats.maxInFlight).toBe(3);
  });

  it('brings enough listers to fill a maxConcurrency above the default lister count', async () => {
    const tree = new MemoryTree();
    grow(tree, [40, 2], 1);
    tree.latencyMs = 5;
    fx = await scanFixture({}, tree);
    await fx.app.index.storages.upsert({
      tenantId: fx.storage.tenantId,
      name: fx.volume,
      kind: 'memory',
      location: `memory://${fx.volume}`,
      options: { volume: fx.volume, maxConcurrency: 16 },
    });
    const result = await fx.scanWith({});
    expect(result).toMatchObject({ status: 'succeeded', errors: 0, ...grown([40, 2], 1) });
    expect(tree.stats.maxInFlight).toBe(16);
  });
});

describe(AdaptiveLimit.name, () => {
  it('halves on overload once per burst and grows back by one per success', () => {
    let now = 0;
    const limit = new AdaptiveLimit(8, () => now);
    now = 10;
    limit.overloaded(5);
    expect(limit.limit).toBe(4);
    limit.overloaded(6); // sent before the decrease: same burst
    expect(limit.limit).toBe(4);
    now = 20;
    limit.overloaded(15);
    expect(limit.limit).toBe(2);
    limit.overloaded(20);
    limit.overloaded(20);
    expect(limit.limit).toBe(1);
    expect(limit.lowest).toBe(1);
    limit.succeeded();
    expect(limit.limit).toBe(2);
    limit.succeeded();
    expect(limit.limit).toBe(3);
    for (let i = 0; i < 100; i++) limit.succeeded();
    expect(limit.limit).toBe(8);
    expect(limit.lowest).toBe(1);
    limit.max = 20; // a new config: an unthrottled limit starts at the new ceiling
    expect(limit.limit).toBe(20);
    expect(limit.lowest).toBe(20);
  });
});

describe('a storage URL with ?maxConcurrency= through the app', () => {
  let fx: MemoryFixture | undefined;
  afterEach(async () => fx?.close());

  it('stores it, replaces the live client on the new version, and caps the next scan', async () => {
    const tree = new MemoryTree();
    grow(tree, [20], 1);
    tree.latencyMs = 2;
    fx = await memoryFixture({ tree });
    await fx.app.scan(fx.storage, { listers: 20 });
    expect(tree.stats.maxInFlight).toBe(5);
    expect(tree.stats.openClients).toBe(1);

    const record = await fx.app.ensureStorage(
      parseStorageSpec(`memory://${fx.volume}?maxConcurrency=2`),
    );
    expect(record).toMatchObject({ id: fx.storage.id, version: fx.storage.version + 1 });
    expect(tree.stats.openClients).toBe(0); // the old client went with the old version
    tree.stats.maxInFlight = 0;
    const result = await fx.app.scan(record, { listers: 20 });
    expect(result).toMatchObject({ status: 'succeeded', unchanged: 21 });
    expect(tree.stats.maxInFlight).toBe(2);
    expect(tree.stats.connects).toBe(2);
    expect(fx.app.storage.concurrency(record.id)).toMatchObject({ max: 2 });
  });
});

describe(Limiter.name, () => {
  it('gives back the slots already taken when a request is cancelled while it waits', async () => {
    const limiter = new Limiter({ perKey: { k: 1 } });
    const a = new AdaptiveLimit(5);
    const b = new AdaptiveLimit(5);
    const target = (storage: AdaptiveLimit) => ({
      storage,
      kind: 'memory',
      limitKey: 'k',
      tenantId: 1,
    });
    const releaseA = await limiter.acquire(target(a));
    const controller = new AbortController();
    const waiting = limiter.acquire(target(b), controller.signal);
    await new Promise((r) => setImmediate(r));
    expect(b.active).toBe(1); // holds its storage slot, waits for the key
    controller.abort(new Error('cancelled'));
    await expect(waiting).rejects.toThrow('cancelled');
    expect(b.active).toBe(0);
    expect(limiter.keyGate('k')!.active).toBe(1);
    releaseA();
    releaseA(); // a second release is a no-op
    expect(limiter.keyGate('k')).toBeUndefined(); // idle: dropped
    expect(a.active).toBe(0);
  });

  it('keeps no gate for a key or tenant once its requests are done', async () => {
    const limiter = new Limiter({ perTenant: 2 });
    const storage = new AdaptiveLimit(1000);
    const releases = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        limiter.acquire({ storage, kind: 'webdav', limitKey: `webdav:h${i % 100}`, tenantId: i }),
      ),
    );
    expect(limiter.keyGate('webdav:h7')!.active).toBe(3);
    for (const release of releases) release();
    expect(limiter.keyGate('webdav:h7')).toBeUndefined();
    expect(limiter.gates).toBe(0);
  });
});

describe(InProcessGates.name, () => {
  it('takes every gate at once or none, leaving waiters their turn', async () => {
    const gates = new InProcessGates();
    const tenant = { name: 'tenant:1', limit: 2 };
    const key = { name: 'key:k', limit: 1 };
    const release = gates.acquireNow([tenant, key]);
    expect(release).toBeTypeOf('function');
    expect([gates.get('tenant:1')!.active, gates.get('key:k')!.active]).toEqual([1, 1]);
    // The key is full: the tenant's free slot is not kept either.
    expect(gates.acquireNow([tenant, key])).toBeUndefined();
    expect(gates.get('tenant:1')!.active).toBe(1);
    // One waits for the key: a slot freed is its, not a later caller's.
    const waiting = gates.acquire([key]);
    release!();
    expect(gates.acquireNow([key])).toBeUndefined();
    (await waiting)();
    expect(gates.size).toBe(0);
  });
});

describe(KeyedSemaphores.name, () => {
  it('drops a key once no one holds or waits for it, and makes it again with its limit', async () => {
    const gates = new KeyedSemaphores<string>();
    const a = await gates.acquire('k', 1);
    const controller = new AbortController();
    const cancelled = gates.acquire('k', 1, controller.signal);
    const waiting = gates.acquire('k', 1);
    controller.abort(new Error('cancelled'));
    await expect(cancelled).rejects.toThrow('cancelled');
    expect(gates.size).toBe(1); // held, and one still waits
    a.release();
    const b = await waiting;
    expect(gates.get('k')!.active).toBe(1);
    b.release();
    expect(gates.size).toBe(0);
    // Made again: the limit named with the request holds as before.
    const c = await gates.acquire('k', 1);
    let admitted = false;
    const d = gates.acquire('k', 1).then((held) => ((admitted = true), held));
    await new Promise((r) => setImmediate(r));
    expect(admitted).toBe(false);
    c.release();
    (await d).release();
    expect(gates.size).toBe(0);
  });

  it('lets holders keep their slots when the limit is lowered', async () => {
    const gates = new KeyedSemaphores<string>();
    const held = await Promise.all([gates.acquire('k', 3), gates.acquire('k', 3)]);
    let admitted = false;
    const next = gates.acquire('k', 1).then((h) => ((admitted = true), h));
    await new Promise((r) => setImmediate(r));
    expect([gates.get('k')!.active, admitted]).toEqual([2, false]);
    held[0]!.release();
    await new Promise((r) => setImmediate(r));
    expect(admitted).toBe(false); // one holder left, limit 1
    held[1]!.release();
    (await next).release();
    expect(gates.size).toBe(0);
  });

  it('drops a gate whose only request was aborted before it was admitted', async () => {
    const gates = new KeyedSemaphores<number>();
    await expect(gates.acquire(1, 1, AbortSignal.abort(new Error('gone')))).rejects.toThrow('gone');
    expect(gates.size).toBe(0);
  });
});
