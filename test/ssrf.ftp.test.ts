/**
 * FTP's data connections under the SSRF guard. A PASV reply names the address the client
 * connects to next, and a hostile server picks it. basic-ftp 6.2.6 (as trawl builds it,
 * without allowSeparateTransferHost) refuses a PASV host other than the control
 * connection's and otherwise connects to the control connection's address, taking only the
 * port from the reply; EPSV names only a port. The guard checks data connections anyway
 * (guard.ts, tested in ssrf.guard.test.ts) and always allows the control connection's own
 * address, so that a server allowed by name keeps its data connections.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ftpBackend } from '../src/storage/backends/ftp-backend.js';
import { AddressPolicy, type Resolver } from '../src/storage/net/address-policy.js';
import type { Entry, StorageClient } from '../src/storage/types.js';
import { listLine, startHostileFtp, type HostileFtp } from './tools/hostile-ftp.js';

const DIRS = { '/': { lines: [listLine('a.txt'), listLine('b.txt')] } };

/** `ftp.test` is 127.0.0.1. */
const resolve: Resolver = async (host) => {
  if (host !== 'ftp.test') throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
  return [{ address: '127.0.0.1', family: 4 }];
};

describe('FTP data connections under the SSRF guard', () => {
  let server: HostileFtp | undefined;
  let client: StorageClient | undefined;
  afterEach(async () => {
    await client?.close();
    await server?.close();
    client = server = undefined;
  });

  async function list(
    options: { noEpsv?: boolean; pasvHost?: string },
    policy: AddressPolicy | undefined,
    host = '127.0.0.1',
  ): Promise<{ names?: string[]; error?: { code?: string; message: string } }> {
    server = await startHostileFtp({ dirs: DIRS, ...options });
    client = ftpBackend.create(
      ftpBackend.parseOptions({ host, port: server.port, user: 'u', password: 'p' }),
      { env: {}, ...(policy ? { addressPolicy: policy } : {}) },
    );
    try {
      await client.connect();
      const got: Entry[] = [];
      for await (const page of client.list('/')) got.push(...page);
      return { names: got.map((e) => e.name).sort() };
    } catch (error) {
      return { error: error as { code?: string; message: string } };
    }
  }

  it('basic-ftp refuses on its own a PASV address other than the control host', async () => {
    for (const pasvHost of ['10.0.0.1', '169.254.169.254', '8.8.8.8']) {
      const { error } = await list({ noEpsv: true, pasvHost }, undefined);
      expect(error, pasvHost).toMatchObject({ code: 'PROTOCOL' });
      expect(error!.message).toContain(`PASV returned another host (${pasvHost})`);
      expect(server!.commands.some((c) => c.startsWith('LIST'))).toBe(false);
      await client!.close();
      await server!.close();
    }
  });

  it('basic-ftp connects to the control host even when PASV names another loopback address', async () => {
    // The data listener is on 127.0.0.1 only: a client that went to 127.0.0.2 would fail.
    for (const policy of [undefined, new AddressPolicy({ allowNetworks: ['127.0.0.1/32'] })]) {
      const { names, error } = await list({ noEpsv: true, pasvHost: '127.0.0.2' }, policy);
      expect(error).toBeUndefined();
      expect(names).toEqual(['a.txt', 'b.txt']);
      await client!.close();
      await server!.close();
    }
  });

  it('allows data connections (EPSV, PASV) back to the address of a server allowed by name', async () => {
    const byName = new AddressPolicy({ allowNetworks: ['ftp.test'], resolve });
    expect(await list({}, byName, 'ftp.test')).toEqual({ names: ['a.txt', 'b.txt'] });
    await client!.close();
    await server!.close();
    expect(await list({ noEpsv: true }, byName, 'ftp.test')).toEqual({
      names: ['a.txt', 'b.txt'],
    });
  });

  it('refuses the control connection of a server whose name is not allowed', async () => {
    const policy = new AddressPolicy({ resolve });
    const { error } = await list({}, policy, 'ftp.test');
    expect(error).toMatchObject({ code: 'FORBIDDEN_ADDRESS' });
    expect(error!.message).toContain('ftp.test resolves to 127.0.0.1, a loopback address');
    expect(server!.connections).toBe(0);
  });
});
