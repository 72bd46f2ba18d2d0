/**
 * The guard's three socket shapes on their own, against servers on 127.0.0.1: an HTTP agent,
 * a socket whose `connect` a library calls (with a trusted address, as FTP data connections
 * have), and the `lookup` Node calls — for one address or, with happy eyeballs, for all.
 */
import { createServer as createHttpServer, get, Agent, type Server } from 'node:http';
import { createServer, Socket, type AddressInfo, type Server as NetServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ForbiddenAddressError } from '../src/storage/errors.js';
import { AddressPolicy, type Resolver } from '../src/storage/net/address-policy.js';
import { guardAgent, guardedLookup, guardSocket } from '../src/storage/net/guard.js';

const resolve: Resolver = async (host) => {
  if (host === 'guard.test') return [{ address: '127.0.0.1', family: 4 }];
  if (host === 'mixed.test') {
    return [
      { address: '10.0.0.1', family: 4 },
      { address: '127.0.0.1', family: 4 },
      { address: '::1', family: 6 },
    ];
  }
  throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
};

describe('guardAgent', () => {
  let server: Server;
  let port: number;
  let requests = 0;
  beforeAll(async () => {
    server = createHttpServer((_req, res) => {
      requests++;
      res.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  function fetchVia(host: string, policy: AddressPolicy): Promise<string> {
    const agent = guardAgent(new Agent(), policy);
    return new Promise<string>((resolvePromise, reject) => {
      const req = get({ host, port, agent, path: '/' }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolvePromise(body));
      });
      req.on('error', reject);
    }).finally(() => agent.destroy());
  }

  it('fails a request to a refused literal or name with the refusal itself', async () => {
    const before = requests;
    const policy = new AddressPolicy({ resolve });
    for (const host of ['127.0.0.1', 'guard.test', '2130706433']) {
      const error = await fetchVia(host, policy).catch((e: unknown) => e);
      expect(error, host).toBeInstanceOf(ForbiddenAddressError);
    }
    expect(requests).toBe(before);
  });

  it('lets allowed addresses and names through', async () => {
    expect(await fetchVia('127.0.0.1', new AddressPolicy({ allowNetworks: ['127.0.0.1'] }))).toBe(
      'ok',
    );
    expect(
      await fetchVia('guard.test', new AddressPolicy({ allowNetworks: ['guard.test'], resolve })),
    ).toBe('ok');
  });
});

describe('guardSocket', () => {
  let server: NetServer;
  let port: number;
  let accepted = 0;
  beforeAll(async () => {
    server = createServer((s) => {
      accepted++;
      s.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  /** Connects a guarded socket as a library would: `connect(options)` or `connect(port, host)`. */
  function connectVia(
    args: unknown[],
    policy: AddressPolicy,
    trusted?: string,
  ): Promise<{ error?: unknown; refused: unknown[] }> {
    const refused: unknown[] = [];
    const socket = guardSocket(new Socket(), policy, {
      trusted: () => trusted,
      onRefused: (e) => refused.push(e),
    });
    return new Promise((done) => {
      socket.once('connect', () => {
        socket.destroy();
        done({ refused });
      });
      socket.once('error', (error) => done({ error, refused }));
      (socket.connect as (...a: unknown[]) => Socket)(...args);
    });
  }

  it('refuses a data connection to an address other than the trusted one', async () => {
    const before = accepted;
    const policy = new AddressPolicy();
    const other = await connectVia([{ port, host: '127.0.0.2' }], policy, '127.0.0.1');
    expect(other.error).toBeInstanceOf(ForbiddenAddressError);
    expect(other.refused).toEqual([other.error]);
    const byPort = await connectVia([port, '10.0.0.1'], policy, '127.0.0.1');
    expect(byPort.error).toBeInstanceOf(ForbiddenAddressError);
    expect(accepted).toBe(before);
    // The trusted address itself, written either way a dual-stack socket reports it.
    expect(await connectVia([{ port, host: '127.0.0.1' }], policy, '::ffff:127.0.0.1')).toEqual({
      refused: [],
    });
    expect(await connectVia([port, '127.0.0.1'], policy, '127.0.0.1')).toEqual({ refused: [] });
    expect(accepted).toBe(before + 2);
  });

  it('checks a name through the lookup, and refuses it when it resolves to a refused address', async () => {
    const named = await connectVia([port, 'guard.test'], new AddressPolicy({ resolve }));
    expect(named.error).toBeInstanceOf(ForbiddenAddressError);
    expect((named.error as Error).message).toContain('guard.test resolves to 127.0.0.1');
    expect(named.refused).toHaveLength(1);
    const allowed = new AddressPolicy({ allowNetworks: ['127.0.0.1/32'], resolve });
    expect(await connectVia([port, 'guard.test'], allowed)).toEqual({ refused: [] });
  });
});

describe('guardedLookup', () => {
  const lookupOf = (policy: AddressPolicy, all: boolean) =>
    new Promise<unknown>((done) =>
      guardedLookup(policy)('mixed.test', { all }, (error, address, family) =>
        done(error ?? (all ? address : { address, family })),
      ),
    );

  it('hands Node only the allowed addresses, for one and for all (happy eyeballs)', async () => {
    const policy = new AddressPolicy({ allowNetworks: ['127.0.0.0/8', '::1'], resolve });
    expect(await lookupOf(policy, true)).toEqual([
      { address: '127.0.0.1', family: 4 },
      { address: '::1', family: 6 },
    ]);
    expect(await lookupOf(policy, false)).toEqual({ address: '127.0.0.1', family: 4 });
    const refused = await lookupOf(new AddressPolicy({ resolve }), true);
    expect(refused).toBeInstanceOf(ForbiddenAddressError);
    expect((refused as Error).message).toContain('mixed.test resolves to 10.0.0.1');
  });
});
