/**
 * IP addresses as the SSRF guard sees them: every spelling a resolver or a socket accepts
 * read into bytes (dotted quads, IPv6 with zones and brackets, and the inet_aton forms
 * `2130706433`, `0x7f.1`, `017700000001` that getaddrinfo turns into 127.0.0.1), and the
 * special-purpose ranges (IANA's registries) an address belongs to. Pure: no I/O.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** The kinds of special-purpose address a guarded storage may not reach unless allowed. */
export type AddressKind =
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'shared'
  | 'link-local'
  | 'multicast'
  | 'broadcast'
  | 'documentation'
  | 'reserved';

/** The special-purpose range an address lies in. */
export interface SpecialAddress {
  kind: AddressKind;
  /** The range, as a CIDR (`169.254.0.0/16`). */
  range: string;
  /** For a message: `a link-local address`. */
  label: string;
  /** Set when an IPv6 address carries an IPv4 one (mapped, NAT64, 6to4) and that decided. */
  embedded?: { via: EmbeddingKind; address: string };
}

export type EmbeddingKind = 'IPv4-mapped' | 'IPv4-compatible' | 'NAT64' | '6to4';

/** A network: address bytes (4 or 16) and a prefix length. */
export class Cidr {
  readonly bytes: Uint8Array;
  readonly prefix: number;

  constructor(bytes: Uint8Array, prefix: number) {
    this.bytes = bytes;
    this.prefix = prefix;
  }

  /** `10.0.0.0/8`, `fd00::/8`, or a single address. Throws an Error saying what is wrong. */
  static parse(text: string): Cidr {
    const slash = text.indexOf('/');
    const addressText = slash < 0 ? text : text.slice(0, slash);
    const bytes = parseIp(addressText);
    if (!bytes) throw new Error('not an IP address or CIDR network');
    const bits = bytes.length * 8;
    if (slash < 0) return new Cidr(bytes, bits);
    const prefixText = text.slice(slash + 1);
    const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
    if (!(prefix >= 0 && prefix <= bits)) {
      throw new Error(
        `the prefix length must be a number from 0 to ${bits} for an IPv${bytes.length === 4 ? 4 : 6} network`,
      );
    }
    const network = masked(bytes, prefix);
    if (!equalBytes(network, bytes)) {
      throw new Error(
        `host bits are set: write ${formatIp(network)}/${prefix} for the network, or ${formatIp(bytes)}/${bits} for the one address`,
      );
    }
    return new Cidr(network, prefix);
  }

  contains(address: Uint8Array): boolean {
    if (address.length !== this.bytes.length) return false;
    for (let i = 0, left = this.prefix; left > 0; i++, left -= 8) {
      const mask = left >= 8 ? 0xff : (0xff << (8 - left)) & 0xff;
      if ((address[i]! & mask) !== this.bytes[i]) return false;
    }
    return true;
  }

  toString(): string {
    return `${formatIp(this.bytes)}/${this.prefix}`;
  }
}

/** A standard IPv4 or IPv6 address (brackets and an IPv6 zone allowed) as bytes. */
export function parseIp(text: string): Uint8Array | undefined {
  const bare = stripHost(text);
  if (isIPv4(bare)) return Uint8Array.from(bare.split('.').map(Number));
  if (isIPv6(bare)) return parseIPv6(bare);
  return undefined;
}

/**
 * The IPv4 address a host name is read as by inet_aton, which getaddrinfo uses for numeric
 * hosts: one to four parts, each decimal, octal (`0…`) or hex (`0x…`), the last filling the
 * bytes left (`127.1`, `0x7f000001`, `2130706433`). Undefined for anything else.
 */
export function parseLooseIPv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length > 4) return undefined;
  const values: number[] = [];
  for (const part of parts) {
    let value: number;
    if (/^0x[0-9a-f]+$/i.test(part)) value = parseInt(part.slice(2), 16);
    else if (/^0[0-7]*$/.test(part)) value = parseInt(part, 8);
    else if (/^[1-9][0-9]*$/.test(part)) value = Number(part);
    else return undefined;
    if (!Number.isSafeInteger(value)) return undefined;
    values.push(value);
  }
  const last = values.pop()!;
  if (values.some((v) => v > 255)) return undefined;
  const lastBytes = 4 - values.length;
  if (last >= 2 ** (8 * lastBytes)) return undefined;
  const out = new Uint8Array(4);
  values.forEach((v, i) => (out[i] = v));
  for (let i = 0; i < lastBytes; i++) out[3 - i] = Math.floor(last / 2 ** (8 * i)) % 256;
  return out;
}

/**
 * The address a host stands for by itself, without asking a resolver, in canonical form:
 * an IP literal (with brackets or a zone) or an inet_aton form. Undefined for a name.
 */
export function literalAddress(host: string): string | undefined {
  const bytes = parseIp(host) ?? parseLooseIPv4(stripHost(host));
  return bytes && formatIp(bytes);
}

/** Whether two literals name one address (`::ffff:127.0.0.1` is `127.0.0.1`: a dual-stack socket says so). */
export function sameAddress(a: string, b: string): boolean {
  const x = literalAddress(a);
  const y = literalAddress(b);
  if (x === undefined || y === undefined) return false;
  const unmapped = (t: string) => t.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
  return unmapped(x) === unmapped(y);
}

/** Canonical text: dotted quad, or RFC 5952 IPv6 (`::ffff:a.b.c.d` for a mapped one). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join('.');
  if (isMapped(bytes)) return `::ffff:${formatIp(bytes.subarray(12))}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLength).join(':')}`;
}

/** Which special-purpose range `address` (any literal form) lies in; undefined for public. */
export function classifyAddress(address: string): SpecialAddress | undefined {
  const bytes = parseIp(address) ?? parseLooseIPv4(stripHost(address));
  if (!bytes) throw new Error(`not an IP address: ${JSON.stringify(address)}`);
  return classifyBytes(bytes);
}

/** The IPv4 address an IPv6 one carries (mapped, compatible, NAT64, 6to4), if any. */
export function embeddedIPv4(
  bytes: Uint8Array,
): { via: EmbeddingKind; bytes: Uint8Array } | undefined {
  if (bytes.length !== 16) return undefined;
  const { NAT64, SIX_TO_FOUR, COMPATIBLE } = tables();
  if (isMapped(bytes)) return { via: 'IPv4-mapped', bytes: bytes.slice(12) };
  if (NAT64.contains(bytes)) return { via: 'NAT64', bytes: bytes.slice(12) };
  if (SIX_TO_FOUR.contains(bytes)) return { via: '6to4', bytes: bytes.slice(2, 6) };
  // `::a.b.c.d`, deprecated; `::` and `::1` are themselves.
  if (COMPATIBLE.contains(bytes) && !equalBytes(bytes.subarray(12, 15), new Uint8Array(3))) {
    return { via: 'IPv4-compatible', bytes: bytes.slice(12) };
  }
  return undefined;
}

export function classifyBytes(bytes: Uint8Array): SpecialAddress | undefined {
  const { V4_RANGES, V6_RANGES, GLOBAL_UNICAST } = tables();
  if (bytes.length === 4) return lookupRange(V4_RANGES, bytes);
  const embedded = embeddedIPv4(bytes);
  if (embedded) {
    const inner = lookupRange(V4_RANGES, embedded.bytes);
    const address = formatIp(embedded.bytes);
    if (inner) return { ...inner, embedded: { via: embedded.via, address } };
    // A public IPv4 reached through NAT64 or 6to4 is a public address; the two deprecated
    // forms are not a way to reach anything.
    if (embedded.via === 'IPv4-compatible') {
      return { kind: 'reserved', range: '::/96', label: 'a deprecated IPv4-compatible address' };
    }
    return undefined;
  }
  const special = lookupRange(V6_RANGES, bytes);
  if (special) return special;
  if (!GLOBAL_UNICAST.contains(bytes)) {
    return { kind: 'reserved', range: '2000::/3', label: 'an address outside global unicast' };
  }
  return undefined;
}

// --- tables -----------------------------------------------------------------------------

interface Range {
  cidr: Cidr;
  kind: AddressKind;
  label: string;
}

function ranges(table: Array<[string, AddressKind, string]>): Range[] {
  return table.map(([cidr, kind, label]) => ({ cidr: Cidr.parse(cidr), kind, label }));
}

/**
 * The tables, built on first use: parsing them runs Node's IPv6 pattern (a large regular
 * expression V8 compiles at its first match), ~5 ms of every start of the command line
 * (bench:startup) — which loads this file with every backend and, for a local scan, never
 * checks an address.
 */
let built: ReturnType<typeof buildTables> | undefined;
function tables(): ReturnType<typeof buildTables> {
  return (built ??= buildTables());
}

function buildTables() {
  return {
    /** First match wins: the more specific ranges come first. */
    V4_RANGES: ranges([
      ['0.0.0.0/32', 'unspecified', 'the unspecified address (it reaches this machine)'],
      ['0.0.0.0/8', 'reserved', 'a "this network" address'],
      ['10.0.0.0/8', 'private', 'a private address'],
      ['100.64.0.0/10', 'shared', 'a carrier-grade NAT (shared) address'],
      ['127.0.0.0/8', 'loopback', 'a loopback address'],
      ['169.254.0.0/16', 'link-local', 'a link-local address'],
      ['172.16.0.0/12', 'private', 'a private address'],
      ['192.0.0.0/24', 'reserved', 'an IETF protocol address'],
      ['192.0.2.0/24', 'documentation', 'a documentation address'],
      ['192.88.99.0/24', 'reserved', 'a 6to4 relay address'],
      ['192.168.0.0/16', 'private', 'a private address'],
      ['198.18.0.0/15', 'reserved', 'a benchmarking address'],
      ['198.51.100.0/24', 'documentation', 'a documentation address'],
      ['203.0.113.0/24', 'documentation', 'a documentation address'],
      ['224.0.0.0/4', 'multicast', 'a multicast address'],
      ['255.255.255.255/32', 'broadcast', 'the broadcast address'],
      ['240.0.0.0/4', 'reserved', 'a reserved address'],
    ]),
    V6_RANGES: ranges([
      ['::/128', 'unspecified', 'the unspecified address (it reaches this machine)'],
      ['::1/128', 'loopback', 'a loopback address'],
      ['64:ff9b:1::/48', 'private', 'a local-use NAT64 address'],
      ['100::/64', 'reserved', 'a discard-only address'],
      ['2001:db8::/32', 'documentation', 'a documentation address'],
      ['2001::/23', 'reserved', 'an IETF protocol address (Teredo, benchmarking, ORCHID)'],
      ['fc00::/7', 'private', 'a unique local (private) address'],
      ['fe80::/10', 'link-local', 'a link-local address'],
      ['fec0::/10', 'private', 'a site-local (private) address'],
      ['ff00::/8', 'multicast', 'a multicast address'],
    ]),
    NAT64: Cidr.parse('64:ff9b::/96'),
    SIX_TO_FOUR: Cidr.parse('2002::/16'),
    COMPATIBLE: Cidr.parse('::/96'),
    GLOBAL_UNICAST: Cidr.parse('2000::/3'),
  };
}

function lookupRange(table: Range[], bytes: Uint8Array): SpecialAddress | undefined {
  const hit = table.find((r) => r.cidr.contains(bytes));
  return hit && { kind: hit.kind, range: hit.cidr.toString(), label: hit.label };
}

// --- bytes ------------------------------------------------------------------------------

/** `[::1]` → `::1`, `fe80::1%eth0` → `fe80::1`. */
function stripHost(text: string): string {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const zone = bare.indexOf('%');
  return zone >= 0 && bare.includes(':') ? bare.slice(0, zone) : bare;
}

/** A valid IPv6 literal (net.isIPv6 said so) as 16 bytes. */
function parseIPv6(text: string): Uint8Array {
  const out = new Uint8Array(16);
  let tail: number[] = [];
  let body = text;
  const lastColon = body.lastIndexOf(':');
  if (body.includes('.', lastColon)) {
    const quad = body
      .slice(lastColon + 1)
      .split('.')
      .map(Number);
    tail = [(quad[0]! << 8) | quad[1]!, (quad[2]! << 8) | quad[3]!];
    body = body.slice(0, lastColon + 1) + '0';
  }
  const [head, rest] = body.split('::') as [string, string | undefined];
  const groupsOf = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  let front = groupsOf(head);
  let back = groupsOf(rest);
  if (tail.length > 0) {
    // The placeholder `0` stands for the two groups of the dotted quad.
    if (rest === undefined) front = [...front.slice(0, -1), ...tail];
    else back = [...back.slice(0, -1), ...tail];
  }
  const groups =
    rest === undefined
      ? front
      : [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

function isMapped(bytes: Uint8Array): boolean {
  if (bytes.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

function masked(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    out[i] = out[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
