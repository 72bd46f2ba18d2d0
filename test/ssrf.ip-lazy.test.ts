/**
 * src/storage/net/ip.ts builds its address tables at the first address it classifies, not at
 * load: parsing them runs Node's IPv6 pattern, ~5 ms of every start of the command line,
 * which loads this file with every backend (bench:startup, docs/benchmarks.md).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';

const isIPv6 = vi.fn();
vi.mock('node:net', async (importOriginal) => {
  const net = await importOriginal<typeof import('node:net')>();
  isIPv6.mockImplementation(net.isIPv6);
  return { ...net, isIPv6 };
});

describe('the address tables of the SSRF guard', () => {
  afterEach(() => isIPv6.mockClear());

  it('are built at the first classification, and classify as before', async () => {
    const ip = await import('../src/storage/net/ip.js');
    expect(isIPv6).not.toHaveBeenCalled();
    expect(ip.classifyAddress('10.1.2.3')).toMatchObject({ kind: 'private', range: '10.0.0.0/8' });
    expect(isIPv6).toHaveBeenCalled();
    expect(ip.classifyAddress('::ffff:127.0.0.1')).toMatchObject({
      kind: 'loopback',
      embedded: { via: 'IPv4-mapped', address: '127.0.0.1' },
    });
    expect(ip.classifyAddress('2002:0a00:0001::')).toMatchObject({
      kind: 'private',
      embedded: { via: '6to4' },
    });
    expect(ip.classifyAddress('2606:4700::1')).toBeUndefined();
    expect(ip.classifyAddress('3fff::1')).toBeUndefined();
    expect(ip.classifyAddress('4000::1')).toMatchObject({ kind: 'reserved', range: '2000::/3' });
  });
});
