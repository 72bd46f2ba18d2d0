/**
 * The SSRF guard's decision: which addresses and local folders a storage may reach when the
 * server registers storages for tenants (`trawl serve`). Loopback, private, link-local (cloud
 * metadata), shared, multicast, reserved and the other special-purpose ranges are refused
 * unless the operator allows them; local folders are refused unless under an allowed one.
 * The CLI, run by the machine's own user, builds no policy and keeps its freedom.
 *
 * The decision is made on addresses, after resolution, at every connection (see guard.ts):
 * a name that resolved to a public address when the storage was created and to 127.0.0.1
 * later (DNS rebinding) is refused at that later connect.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { realpath } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { resolve as resolvePath, sep } from 'node:path';
import { ForbiddenAddressError } from '../errors.js';
import { Allowlist, parseLocalPaths } from './allowlist.js';
import {
  classifyBytes,
  formatIp,
  literalAddress,
  parseIp,
  parseLooseIPv4,
  type SpecialAddress,
} from './ip.js';

/** The operator's allowlist of networks and names. */
export const ALLOW_NETWORKS_ENV = 'TRAWL_ALLOW_NETWORKS';
/** The operator's allowlist of folders for local storages. */
export const ALLOW_LOCAL_PATHS_ENV = 'TRAWL_ALLOW_LOCAL_PATHS';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/**
 * Every address of a name (0: either family). Rejects as the system resolver does
 * (`ENOTFOUND`…) when there is none. Tests hand in their own to play DNS rebinding.
 */
export type Resolver = (host: string, family: 0 | 4 | 6) => Promise<ResolvedAddress[]>;

export interface AddressPolicyOptions {
  /**
   * Networks (`10.0.0.0/8`), addresses (`127.0.0.1`), host names (`nas.local`) and name
   * suffixes (`*.corp.example`) that may be reached although special-purpose. A name allowed
   * here is trusted whatever it resolves to. @default none
   */
  allowNetworks?: readonly string[];
  /** Folders (absolute) local storages may be at or under, compared by real path. @default none: every local storage is refused */
  allowLocalPaths?: readonly string[];
  /** How names are resolved. @default the system resolver (dns.lookup: /etc/hosts, then DNS), every address */
  resolve?: Resolver;
}

/** The system resolver, every address in its order, as `net.connect` would get them. */
export const systemResolver: Resolver = async (host, family) => {
  const found = await dnsLookup(host, { all: true, family });
  return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

export class AddressPolicy {
  readonly #allow: Allowlist;
  readonly #localPaths: readonly string[];
  readonly #resolve: Resolver;

  /** Throws a ConfigError naming a bad allowlist item. */
  constructor(options: AddressPolicyOptions = {}) {
    this.#allow = Allowlist.parse(options.allowNetworks ?? [], ALLOW_NETWORKS_ENV);
    this.#localPaths = parseLocalPaths(options.allowLocalPaths ?? [], ALLOW_LOCAL_PATHS_ENV);
    this.#resolve = options.resolve ?? systemResolver;
  }

  /**
   * Why connecting to `address` — what `host` is or resolved to — is refused, or undefined
   * when it is allowed: a public address, one in an allowed network, or any address of a
   * host allowed by name.
   */
  refusal(host: string, address: string): ForbiddenAddressError | undefined {
    const verdict = this.#judge(host, address);
    if (verdict === undefined) return undefined;
    if (verdict === 'not an address') {
      return new ForbiddenAddressError(
        `${host} resolved to ${JSON.stringify(address)}, which is not an IP address`,
      );
    }
    const { bytes, special } = verdict;
    const canonical = formatIp(bytes);
    const what = describe(special);
    const subject =
      literalAddress(host) === canonical
        ? `${host} is ${what}`
        : `${host} resolves to ${canonical}, ${what}`;
    return new ForbiddenAddressError(
      `${subject}: refused by the server's address policy (allow it with ${ALLOW_NETWORKS_ENV})`,
    );
  }

  /** Undefined when allowed; else why not (without building an error: resolve filters with it). */
  #judge(
    host: string,
    address: string,
  ): { bytes: Uint8Array; special: SpecialAddress } | 'not an address' | undefined {
    if (this.#allow.allowsName(host)) return undefined;
    const bytes = parseIp(address) ?? parseLooseIPv4(address);
    if (!bytes) return 'not an address';
    const special = classifyBytes(bytes);
    if (!special || this.#allow.allowsAddress(bytes)) return undefined;
    return { bytes, special };
  }

  /**
   * The addresses of `host` a connection may use: a literal (any form) when allowed, or
   * the allowed ones among what the resolver answers (all of them for a name allowed by
   * name). Throws the ForbiddenAddressError of the first answer when none is allowed, and a
   * resolver's failure (`ENOTFOUND`) as it came.
   */
  async resolve(host: string, family: 0 | 4 | 6 = 0): Promise<ResolvedAddress[]> {
    const literal = literalAddress(host);
    if (literal !== undefined) {
      const refused = this.refusal(host, literal);
      if (refused) throw refused;
      return [{ address: literal, family: isIPv4(literal) ? 4 : 6 }];
    }
    const found = await this.#resolve(host, family);
    if (found.length === 0) {
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), {
        code: 'ENOTFOUND',
        hostname: host,
      });
    }
    if (this.#allow.allowsName(host)) return found;
    // A name with a public and a private address is used by its public ones only: the
    // connection never goes to the private one, whichever order the answers come in.
    const allowed = found.filter((a) => this.#judge(host, a.address) === undefined);
    if (allowed.length === 0) throw this.refusal(host, found[0]!.address)!;
    return allowed;
  }

  /**
   * Throws a ForbiddenAddressError unless `path` (a local storage's folder, or a file a
   * storage would have the server read), by its real path (symlinks followed), is an allowed
   * folder or under one. A path that does not exist is judged as written (resolved); the
   * backend then reports it missing. `subject` names it in the message.
   * @default subject `local storage <path>` (and its real path when that differs)
   */
  async checkLocalPath(path: string, subject?: string): Promise<void> {
    const real = await realOrResolved(path);
    for (const allowed of this.#localPaths) {
      const base = await realOrResolved(allowed);
      if (real === base || real.startsWith(base.endsWith(sep) ? base : base + sep)) return;
    }
    const what =
      subject ?? `local storage ${real === resolvePath(path) ? path : `${path} (really ${real})`}`;
    throw new ForbiddenAddressError(
      this.#localPaths.length === 0
        ? `${what} refused: the server allows no local folders (set ${ALLOW_LOCAL_PATHS_ENV})`
        : `${what} refused: not under ${ALLOW_LOCAL_PATHS_ENV} (${this.#localPaths.join(', ')})`,
    );
  }
}

/**
 * The policy the environment asks for: `TRAWL_ALLOW_NETWORKS` and `TRAWL_ALLOW_LOCAL_PATHS`,
 * comma-separated. Always a policy (with nothing allowed when both are unset): whoever calls
 * this wants the guard. Throws a ConfigError naming a bad item.
 */
export function addressPolicyFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  resolve?: Resolver,
): AddressPolicy {
  const list = (name: string) => (env[name] ?? '').split(',');
  return new AddressPolicy({
    allowNetworks: list(ALLOW_NETWORKS_ENV),
    allowLocalPaths: list(ALLOW_LOCAL_PATHS_ENV),
    ...(resolve ? { resolve } : {}),
  });
}

/** `a loopback address (127.0.0.0/8)`, `an IPv4-mapped address of 10.0.0.1, a private address (10.0.0.0/8)`. */
function describe(special: SpecialAddress): string {
  const own = `${special.label} (${special.range})`;
  if (!special.embedded) return own;
  const { via, address } = special.embedded;
  return `${via === 'NAT64' || via === '6to4' ? 'a' : 'an'} ${via} address of ${address}, ${own}`;
}

async function realOrResolved(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    return resolvePath(path);
  }
}
