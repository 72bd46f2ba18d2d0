import { afterEach, describe, expect, it } from 'vitest';
import { AuthFailedError, StorageError } from '../src/storage/errors.js';
import { StorageService } from '../src/storage/service.js';
import type { Entry, StorageClient } from '../src/storage/types.js';
import { Configs, FAST_RETRY, volume } from './service.helpers.js';
import { listAll, treePieces } from './support/list-all.js';

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A client whose connect waits for the test to let it finish. */
class FakeClient implements StorageClient {
  static made: FakeClient[] = [];
  readonly options: unknown;
  readonly gate = deferred();
  connects = 0;
  closed = 0;
  lists = 0;

  constructor(options: unknown) {
    this.options = options;
    FakeClient.made.push(this);
  }
  async connect() {
    this.connects++;
    await this.gate.promise;
  }
  async close() {
    this.closed++;
  }
  async check() {}
  async *list(dir: string): AsyncGenerator<Entry[]> {
    this.lists++;
    yield [{ path: `${dir === '/' ? '' : dir}/x`, name: 'x', isDir: false, size: 1, mtime: 1 }];
  }
}

const createClient = (_kind: string, options: unknown) => new FakeClient(options);

describe('StorageService client registry', () => {
  let service: StorageService | undefined;
  afterEach(async () => {
    for (const c of FakeClient.made) c.gate.resolve();
    await service?.closeAll();
    FakeClient.made = [];
  });

  it('connects once for 100 concurrent callers, and other ids never wait on it', async () => {
    const configs = new Configs();
    configs.add({ id: 1, options: { n: 1 } });
    configs.add({ id: 2, options: { n: 2 } });
    service = new StorageService({ lookup: configs.lookup, createClient });
    const callers = Array.from({ length: 100 }, () => service!.getClient(1));
    await new Promise((r) => setImmediate(r));
    expect(FakeClient.made).toHaveLength(1);

    // Storage 2 connects and answers while storage 1's connect is still hanging.
    const second = service.getClient(2);
    await new Promise((r) => setImmediate(r));
    FakeClient.made[1]!.gate.resolve();
    const c2 = (await second) as FakeClient;
    expect(c2.options).toEqual({ n: 2 });
    expect(FakeClient.made[0]!.connects).toBe(1);

    FakeClient.made[0]!.gate.resolve();
    const clients = await Promise.all(callers);
    expect(new Set(clients).size).toBe(1);
    expect(FakeClient.made).toHaveLength(2);
    expect(FakeClient.made[0]!.connects).toBe(1);
    expect(await service.getClient(1)).toBe(clients[0]);
    expect(configs.lookups).toBe(2);
  });

  it('rejects every waiter of a failed connect with the same typed error and does not cache it', async () => {
    const configs = new Configs();
    configs.add({ id: 1, options: {} });
    service = new StorageService({ lookup: configs.lookup, createClient });
    const callers = Array.from({ length: 100 }, () =>
      service!.getClient(1).then(
        () => undefined,
        (e: unknown) => e,
      ),
    );
    await new Promise((r) => setImmediate(r));
    const failure = new AuthFailedError('bad password for storage 1');
    FakeClient.made[0]!.gate.reject(failure);
    const errors = await Promise.all(callers);
    expect(errors.every((e) => e === failure)).toBe(true);
    expect((errors[0] as StorageError).code).toBe('AUTH_FAILED');
    expect(FakeClient.made[0]!.closed).toBe(1);

    const again = service.getClient(1);
    await new Promise((r) => setImmediate(r));
    expect(FakeClient.made).toHaveLength(2);
    FakeClient.made[1]!.gate.resolve();
    expect(await again).toBe(FakeClient.made[1]);
  });

  it('looks the config up once per connect, not per request', async () => {
    const configs = new Configs();
    configs.add({ id: 1, options: {} });
    service = new StorageService({ lookup: configs.lookup, createClient });
    const handle = service.handle(1);
    const first = listAll(handle.list('/'));
    await new Promise((r) => setImmediate(r));
    FakeClient.made[0]!.gate.resolve();
    await first;
    await Promise.all(Array.from({ length: 50 }, () => listAll(handle.list('/'))));
    await handle.check();
    expect(configs.lookups).toBe(1);
    expect(FakeClient.made[0]!.lists).toBe(51);
  });

  it('replaces the client on a new version and closes it when disabled or deleted', async () => {
    const configs = new Configs();
    configs.add({ id: 1, options: { v: 1 } });
    service = new StorageService({ lookup: configs.lookup, createClient });
    FakeClient.made.length = 0;
    const connect = async () => {
      const p = service!.getClient(1);
      await new Promise((r) => setImmediate(r));
      FakeClient.made.at(-1)!.gate.resolve();
      return (await p) as FakeClient;
    };
    const a = await connect();

    await service.refresh(1); // same version: kept
    expect(a.closed).toBe(0);
    expect(await service.getClient(1)).toBe(a);

    configs.add({ id: 1, options: { v: 2 }, version: 2 });
    await service.refresh(1);
    expect(a.closed).toBe(1);
    const b = await connect();
    expect(b).not.toBe(a);
    expect(b.options).toEqual({ v: 2 });

    configs.add({ id: 1, options: { v: 2 }, version: 2, enabled: false });
    await service.refresh(1);
    expect(b.closed).toBe(1);
    expect(service.liveIds()).toEqual([]);
    await expect(service.getClient(1)).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
      message: 'storage 1 is disabled',
    });

    configs.add({ id: 1, options: {}, version: 3 });
    const c = await connect();
    configs.map.delete(1);
    await service.refresh(1);
    expect(c.closed).toBe(1);
    await expect(service.getClient(1)).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
      message: 'storage 1 does not exist',
    });
  });

  it('closeAll closes live clients and connects in flight, then refuses new requests', async () => {
    const configs = new Configs();
    configs.add({ id: 1, options: {} });
    configs.add({ id: 2, options: {} });
    service = new StorageService({ lookup: configs.lookup, createClient });
    const first = service.getClient(1);
    await new Promise((r) => setImmediate(r));
    FakeClient.made[0]!.gate.resolve();
    await first;
    const pending = service.getClient(2).catch((e: unknown) => e);
    await new Promise((r) => setImmediate(r));
    const closing = service.closeAll();
    FakeClient.made[1]!.gate.resolve();
    await closing;
    expect(FakeClient.made.map((c) => c.closed)).toEqual([1, 1]);
    expect(await pending).toMatchObject({ code: 'UNAVAILABLE' });
    await expect(listAll(service.handle(1).list('/'))).rejects.toMatchObject({
      code: 'UNAVAILABLE',
    });
  });
});

describe('StorageService listTree pass-through', () => {
  it('offers listTree only when the connected backend has it, one request slot per step', async () => {
    const configs = new Configs();
    configs.add({ id: 1, options: { flat: true }, maxConcurrency: 1 });
    configs.add({ id: 2, options: {} });
    let inFlight = 0;
    let maxInFlight = 0;
    let closed = 0;
    const pages = async function* (fail: boolean) {
      for (let page = 0; page < 3; page++) {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((r) => setTimeout(r, 1));
        inFlight--;
        if (fail && page === 1) throw new StorageError('UNAVAILABLE', 'connection reset');
        yield { dir: page === 0 ? '/' : `/p${page}`, entries: [] };
      }
    };
    let fail = false;
    const service = new StorageService({
      lookup: configs.lookup,
      createClient: (_kind, options) => ({
        connect: async () => {},
        close: async () => void closed++,
        check: async () => {},
        list: async function* () {},
        ...((options as { flat?: boolean }).flat ? { listTree: () => pages(fail) } : {}),
      }),
    });
    try {
      expect(service.handle(1).listTree).toBeUndefined(); // not connected yet: unknown
      const tree = await service.open(1);
      expect(typeof tree.listTree).toBe('function');
      expect((await service.open(2)).listTree).toBeUndefined();

      // Two iterations at once on a storage limited to 1: never two page fetches in flight.
      const collect = async () => {
        const dirs: string[] = [];
        for await (const l of treePieces(tree.listTree!('/'))) dirs.push(l.dir);
        return dirs;
      };
      const [a, b] = await Promise.all([collect(), collect()]);
      expect(a).toEqual(['/', '/p1', '/p2']);
      expect(b).toEqual(a);
      expect(maxInFlight).toBe(1);

      fail = true;
      await expect(collect()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
      expect(closed).toBe(1);
      expect(service.liveIds()).toEqual([2]);
    } finally {
      await service.closeAll();
    }
  });
});

describe('StorageService with the memory backend', () => {
  it('shares one slow connect among 100 callers; a failed one fails them all, once', async () => {
    const vol = volume();
    vol.tree.writeFile('/f', 1, 1);
    vol.tree.connectLatencyMs = 20;
    const configs = new Configs();
    configs.add({ id: 1, options: { volume: vol.name } });
    const service = new StorageService({ lookup: configs.lookup, retry: FAST_RETRY });
    try {
      vol.tree.failConnect({ code: 'AUTH_FAILED', times: 1 });
      const failed = await Promise.all(
        Array.from({ length: 100 }, () => service.getClient(1).catch((e: unknown) => e)),
      );
      expect(new Set(failed).size).toBe(1);
      expect(failed[0]).toMatchObject({ code: 'AUTH_FAILED' });
      expect(vol.tree.stats).toMatchObject({ connects: 1, connectFailures: 1, openClients: 0 });

      const handle = service.handle(1);
      const listings = await Promise.all(
        Array.from({ length: 100 }, () => listAll(handle.list('/'))),
      );
      expect(listings.every((l) => l.length === 1)).toBe(true);
      expect(vol.tree.stats).toMatchObject({ connects: 2, connectFailures: 1, openClients: 1 });
      expect(configs.lookups).toBe(2);
    } finally {
      await service.closeAll();
      vol.drop();
    }
    expect(vol.tree.stats.openClients).toBe(0);
  });
});
