/**
 * The SSRF guard's decisions, without sockets: how every spelling of an address is read and
 * classified, what the operator's allowlists accept (and the errors for what they do not),
 * local folders by real path, and the creation-time check of a storage's options.
 */
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/env.js';
import { ForbiddenAddressError, StorageError } from '../src/storage/errors.js';
import {
  AddressPolicy,
  addressPolicyFromEnv,
  type Resolver,
} from '../src/storage/net/address-policy.js';
import { classifyAddress, literalAddress, sameAddress } from '../src/storage/net/ip.js';
import { checkStorageTarget } from '../src/storage/net/target.js';
import { tempDir } from './support/harness.js';

/** A resolver answering from a table; a name not in it does not exist. */
function fakeDns(table: Record<string, string[]>): Resolver {
  return async (host) => {
    const found = table[host.toLowerCase().replace(/\.$/, '')];
    if (!found)
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return found.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
}

describe('classifyAddress', () => {
  // [written as, kind (undefined: public), range that decided, IPv4 inside an IPv6 one]
  const table: Array<[string, string | undefined, string?, string?]> = [
    ['127.0.0.1', 'loopback', '127.0.0.0/8'],
    ['127.255.255.254', 'loopback', '127.0.0.0/8'],
    ['127.1', 'loopback', '127.0.0.0/8'],
    ['2130706433', 'loopback', '127.0.0.0/8'],
    ['0x7f.1', 'loopback', '127.0.0.0/8'],
    ['0x7f000001', 'loopback', '127.0.0.0/8'],
    ['017700000001', 'loopback', '127.0.0.0/8'],
    ['0177.0.0.01', 'loopback', '127.0.0.0/8'],
    ['0', 'unspecified', '0.0.0.0/32'],
    ['0.0.0.0', 'unspecified', '0.0.0.0/32'],
    ['0.1.2.3', 'reserved', '0.0.0.0/8'],
    ['::', 'unspecified', '::/128'],
    ['::1', 'loopback', '::1/128'],
    ['[::1]', 'loopback', '::1/128'],
    ['0:0:0:0:0:0:0:1', 'loopback', '::1/128'],
    ['::ffff:127.0.0.1', 'loopback', '127.0.0.0/8', '127.0.0.1'],
    ['::ffff:7f00:1', 'loopback', '127.0.0.0/8', '127.0.0.1'],
    ['[::ffff:169.254.169.254]', 'link-local', '169.254.0.0/16', '169.254.169.254'],
    ['64:ff9b::a9fe:a9fe', 'link-local', '169.254.0.0/16', '169.254.169.254'],
    ['64:ff9b::10.0.0.1', 'private', '10.0.0.0/8', '10.0.0.1'],
    ['2002:7f00:1::', 'loopback', '127.0.0.0/8', '127.0.0.1'],
    ['2002:c0a8:101::1', 'private', '192.168.0.0/16', '192.168.1.1'],
    ['::127.0.0.1', 'loopback', '127.0.0.0/8', '127.0.0.1'],
    ['::8.8.8.8', 'reserved', '::/96'],
    ['64:ff9b:1::1', 'private', '64:ff9b:1::/48'],
    ['10.1.2.3', 'private', '10.0.0.0/8'],
    ['172.16.0.1', 'private', '172.16.0.0/12'],
    ['172.31.255.255', 'private', '172.16.0.0/12'],
    ['192.168.1.1', 'private', '192.168.0.0/16'],
    ['100.64.0.1', 'shared', '100.64.0.0/10'],
    ['100.127.255.255', 'shared', '100.64.0.0/10'],
    ['169.254.169.254', 'link-local', '169.254.0.0/16'],
    ['fe80::1', 'link-local', 'fe80::/10'],
    ['fe80::1%eth0', 'link-local', 'fe80::/10'],
    ['febf:ffff::1', 'link-local', 'fe80::/10'],
    ['fec0::1', 'private', 'fec0::/10'],
    ['fc00::1', 'private', 'fc00::/7'],
    ['fd12:3456:789a::1', 'private', 'fc00::/7'],
    ['ff02::1', 'multicast', 'ff00::/8'],
    ['224.0.0.1', 'multicast', '224.0.0.0/4'],
    ['239.255.255.250', 'multicast', '224.0.0.0/4'],
    ['255.255.255.255', 'broadcast', '255.255.255.255/32'],
    ['240.0.0.1', 'reserved', '240.0.0.0/4'],
    ['192.0.2.1', 'documentation', '192.0.2.0/24'],
    ['198.51.100.7', 'documentation', '198.51.100.0/24'],
    ['203.0.113.9', 'documentation', '203.0.113.0/24'],
    ['2001:db8::1', 'documentation', '2001:db8::/32'],
    ['198.18.0.1', 'reserved', '198.18.0.0/15'],
    ['192.0.0.8', 'reserved', '192.0.0.0/24'],
    ['2001::1', 'reserved', '2001::/23'],
    ['100::1', 'reserved', '100::/64'],
    ['::2', 'reserved', '2000::/3'],
    ['4000::1', 'reserved', '2000::/3'],
    // public
    ['8.8.8.8', undefined],
    ['1.1.1.1', undefined],
    ['172.32.0.1', undefined],
    ['100.128.0.1', undefined],
    ['169.253.255.255', undefined],
    ['11.0.0.1', undefined],
    ['2606:4700:4700::1111', undefined],
    ['::ffff:8.8.8.8', undefined],
    ['64:ff9b::808:808', undefined],
    ['2002:808:808::1', undefined],
  ];
  it.each(table)('%s is %s', (written, kind, range, embedded) => {
    const special = classifyAddress(written);
    expect(special?.kind).toBe(kind);
    if (range) expect(special?.range).toBe(range);
    expect(special?.embedded?.address).toBe(embedded);
  });

  it('reads the shorthand IPv4 forms getaddrinfo accepts, and nothing else, as literals', () => {
    expect(literalAddress('2130706433')).toBe('127.0.0.1');
    expect(literalAddress('0x7f.1')).toBe('127.0.0.1');
    expect(literalAddress('10.1')).toBe('10.0.0.1');
    expect(literalAddress('192.168.257')).toBe('192.168.1.1');
    expect(literalAddress('0:0::FFFF:7F00:0001')).toBe('::ffff:127.0.0.1');
    expect(literalAddress('[fe80::1%25eth0]')).toBe('fe80::1');
    for (const name of [
      'localhost',
      'nas.local',
      '1.2.3.4.5',
      '256.1.1.1',
      '0x',
      '08.1',
      '1..1',
      '',
    ]) {
      expect(literalAddress(name), name).toBeUndefined();
    }
    expect(sameAddress('::ffff:127.0.0.1', '127.0.0.1')).toBe(true);
    expect(sameAddress('127.0.0.1', '127.0.0.2')).toBe(false);
  });
});

describe(AddressPolicy.name, () => {
  it('refuses a literal with a message naming the address, its range and the allowlist', () => {
    const refusal = new AddressPolicy().refusal('169.254.169.254', '169.254.169.254');
    expect(refusal).toBeInstanceOf(ForbiddenAddressError);
    expect(refusal).toMatchObject({ code: 'FORBIDDEN_ADDRESS', retryable: false });
    expect(refusal!.message).toBe(
      "169.254.169.254 is a link-local address (169.254.0.0/16): refused by the server's address policy (allow it with TRAWL_ALLOW_NETWORKS)",
    );
  });

  it('names the host and what it resolved to, mapped and NAT64 forms included', async () => {
    const policy = new AddressPolicy({
      resolve: fakeDns({
        'metadata.example': ['169.254.169.254'],
        'mapped.example': ['::ffff:10.0.0.1'],
      }),
    });
    await expect(policy.resolve('metadata.example')).rejects.toThrow(
      /^metadata\.example resolves to 169\.254\.169\.254, a link-local address \(169\.254\.0\.0\/16\): refused/,
    );
    await expect(policy.resolve('mapped.example')).rejects.toThrow(
      'mapped.example resolves to ::ffff:10.0.0.1, an IPv4-mapped address of 10.0.0.1, a private address (10.0.0.0/8)',
    );
    await expect(policy.resolve('0x7f.1')).rejects.toThrow(
      '0x7f.1 is a loopback address (127.0.0.0/8)',
    );
    await expect(policy.resolve('[::1]')).rejects.toThrow('[::1] is a loopback address');
  });

  it('uses only the public addresses of a name that also has private ones', async () => {
    const policy = new AddressPolicy({
      resolve: fakeDns({ 'mixed.example': ['10.0.0.5', '93.184.215.14', '::1', '2606:4700::1'] }),
    });
    expect(await policy.resolve('mixed.example')).toEqual([
      { address: '93.184.215.14', family: 4 },
      { address: '2606:4700::1', family: 6 },
    ]);
  });

  it('passes a resolver failure on as it came (not a refusal)', async () => {
    const policy = new AddressPolicy({ resolve: fakeDns({}) });
    await expect(policy.resolve('nowhere.example')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  it('allows networks, single addresses (mapped forms too), names and name suffixes', async () => {
    const policy = new AddressPolicy({
      allowNetworks: ['127.0.0.1/32', '10.0.0.0/8', 'fd00::/8', 'NAS.Local', '*.corp.example'],
      resolve: fakeDns({
        'nas.local': ['192.168.1.5'],
        'a.b.corp.example': ['172.16.0.9'],
        'corp.example': ['172.16.0.10'],
      }),
    });
    const allowed = (address: string) => policy.refusal(address, address) === undefined;
    expect(allowed('127.0.0.1')).toBe(true);
    expect(allowed('::ffff:127.0.0.1')).toBe(true);
    expect(allowed('127.0.0.2')).toBe(false);
    expect(allowed('10.200.0.1')).toBe(true);
    expect(allowed('64:ff9b::10.0.0.1')).toBe(true);
    expect(allowed('fd00::1')).toBe(true);
    expect(allowed('fc00::1')).toBe(false);
    expect(allowed('169.254.169.254')).toBe(false);
    expect(await policy.resolve('nas.local.')).toEqual([{ address: '192.168.1.5', family: 4 }]);
    expect(await policy.resolve('a.b.corp.example')).toEqual([
      { address: '172.16.0.9', family: 4 },
    ]);
    // The suffix is for names under it, not the name itself.
    await expect(policy.resolve('corp.example')).rejects.toBeInstanceOf(ForbiddenAddressError);
  });

  it.each([
    [
      '10.0.0.0/33',
      /"10\.0\.0\.0\/33" is not a usable network: the prefix length must be a number from 0 to 32/,
    ],
    [
      'fe80::/129',
      /"fe80::\/129" is not a usable network: the prefix length must be a number from 0 to 128/,
    ],
    [
      '10.0.0.1/8',
      /"10\.0\.0\.1\/8" is not a usable network: host bits are set: write 10\.0\.0\.0\/8 for the network, or 10\.0\.0\.1\/32/,
    ],
    ['10.0.0/8', /"10\.0\.0\/8" is not a usable network: not an IP address/],
    ['2130706433', /"2130706433" is an IPv4 address in a shorthand form/],
    ['0x7f.1', /"0x7f\.1" is an IPv4 address in a shorthand form/],
    ['10.0.0.0/x', /"10\.0\.0\.0\/x" is not a usable network/],
    ['nas local', /"nas local" is neither an IP network/],
    ['*', /"\*" is neither/],
    ['-bad.example', /"-bad\.example" is neither/],
  ])('refuses TRAWL_ALLOW_NETWORKS item %s, naming it', (item, message) => {
    const env = { TRAWL_ALLOW_NETWORKS: `127.0.0.1/32, ${item},nas.local` };
    expect(() => addressPolicyFromEnv(env)).toThrow(ConfigError);
    expect(() => addressPolicyFromEnv(env)).toThrow(/^TRAWL_ALLOW_NETWORKS: /);
    expect(() => addressPolicyFromEnv(env)).toThrow(message);
  });

  it('reads both variables, skipping empty items, and refuses a relative folder', () => {
    expect(() =>
      addressPolicyFromEnv({
        TRAWL_ALLOW_NETWORKS: '127.0.0.1,,::1,',
        TRAWL_ALLOW_LOCAL_PATHS: '',
      }),
    ).not.toThrow();
    expect(() => addressPolicyFromEnv({ TRAWL_ALLOW_LOCAL_PATHS: '/srv,media' })).toThrow(
      'TRAWL_ALLOW_LOCAL_PATHS: "media" is not an absolute path (like /srv/media)',
    );
  });

  describe('local folders', () => {
    let dir: { path: string; cleanup: () => void };
    beforeAll(() => {
      dir = tempDir('trawl-ssrf-local-');
      for (const d of ['allowed/sub', 'allowed2', 'other'])
        mkdirSync(join(dir.path, d), { recursive: true });
      symlinkSync(join(dir.path, 'other'), join(dir.path, 'allowed', 'escape'));
      symlinkSync(join(dir.path, 'allowed'), join(dir.path, 'alias'));
    });
    afterAll(() => dir?.cleanup());

    it('allows a folder under an allowed one by real path, and nothing else', async () => {
      const policy = new AddressPolicy({ allowLocalPaths: [join(dir.path, 'allowed')] });
      const at = (p: string) => join(dir.path, p);
      await expect(policy.checkLocalPath(at('allowed'))).resolves.toBeUndefined();
      await expect(policy.checkLocalPath(at('allowed/sub'))).resolves.toBeUndefined();
      await expect(policy.checkLocalPath(at('alias/sub'))).resolves.toBeUndefined();
      await expect(policy.checkLocalPath(at('allowed/not-yet'))).resolves.toBeUndefined();
      await expect(policy.checkLocalPath(at('allowed2'))).rejects.toThrow(
        /not under TRAWL_ALLOW_LOCAL_PATHS/,
      );
      await expect(policy.checkLocalPath(at('allowed/escape'))).rejects.toThrow(
        `local storage ${at('allowed/escape')} (really ${at('other')}) refused`,
      );
      await expect(policy.checkLocalPath(at('allowed/../other'))).rejects.toBeInstanceOf(
        ForbiddenAddressError,
      );
      await expect(new AddressPolicy().checkLocalPath(at('allowed'))).rejects.toThrow(
        'the server allows no local folders (set TRAWL_ALLOW_LOCAL_PATHS)',
      );
    });
  });
});

describe(checkStorageTarget.name, () => {
  const policy = new AddressPolicy({
    resolve: fakeDns({ 'dav.example': ['93.184.215.14'], 'inside.example': ['10.1.1.1'] }),
  });

  it('refuses each kind by where its options point', async () => {
    const refused = [
      ['webdav', { url: 'http://127.0.0.1:8080/dav' }],
      ['webdav', { url: 'https://inside.example/dav' }],
      ['webdav', { url: 'http://[::ffff:a9fe:a9fe]/' }],
      ['webdav', { url: 'http://2130706433/' }],
      ['s3', { bucket: 'bkt', endpoint: 'http://169.254.169.254' }],
      ['sftp', { host: '0x7f.1' }],
      ['ftp', { host: 'inside.example' }],
      ['smb', { host: '192.168.0.10', share: 's' }],
      ['local', { root: '/etc' }],
    ] as const;
    for (const [kind, options] of refused) {
      await expect(
        checkStorageTarget(policy, kind, options),
        `${kind} ${JSON.stringify(options)}`,
      ).rejects.toMatchObject({ code: 'FORBIDDEN_ADDRESS' });
    }
  });

  it('passes public places, S3 without an endpoint, memory, and names that do not resolve', async () => {
    const passed = [
      ['webdav', { url: 'https://dav.example/dav', maxConcurrency: 4 }],
      ['webdav', { url: 'https://8.8.8.8/' }],
      ['s3', { bucket: 'bkt' }],
      ['sftp', { host: 'unknown.example' }],
      ['memory', { volume: 'v' }],
    ] as const;
    for (const [kind, options] of passed) {
      await expect(checkStorageTarget(policy, kind, options), kind).resolves.toBeUndefined();
    }
  });

  it('reports bad options and kinds as INVALID_CONFIG first', async () => {
    await expect(checkStorageTarget(policy, 'gopher', {})).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
    });
    const error = await checkStorageTarget(policy, 'webdav', { url: 'ftp://x' }).catch((e) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect(error.code).toBe('INVALID_CONFIG');
  });
});
