/**
 * What an operator allows a guarded storage to reach although the guard would refuse it:
 * networks (`10.0.0.0/8`, `fd00::/8`), single addresses (`127.0.0.1`), host names
 * (`nas.local`) and name suffixes (`*.corp.example`) — and folders for local storages.
 * Read once; a bad item is an error that names it and the setting it came from.
 */
import { isIPv4 } from 'node:net';
import { isAbsolute, resolve } from 'node:path';
import { ConfigError } from '../../config/env.js';
import { Cidr, embeddedIPv4, parseLooseIPv4 } from './ip.js';

/** A host name label as DNS and /etc/hosts spell them (underscores occur in practice). */
const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

export class Allowlist {
  readonly networks: readonly Cidr[];
  /** Exact names, lower case, no trailing dot. */
  readonly names: ReadonlySet<string>;
  /** `*.corp.example` kept as `.corp.example`. */
  readonly suffixes: readonly string[];

  constructor(networks: Cidr[], names: Set<string>, suffixes: string[]) {
    this.networks = networks;
    this.names = names;
    this.suffixes = suffixes;
  }

  /**
   * Parses items such as `127.0.0.1/32`, `10.0.0.0/8`, `::1`, `nas.local`, `*.corp.example`.
   * Empty items (a trailing comma) are skipped. Throws a ConfigError naming the item.
   */
  static parse(items: readonly string[], setting: string): Allowlist {
    const networks: Cidr[] = [];
    const names = new Set<string>();
    const suffixes: string[] = [];
    for (const raw of items) {
      const item = raw.trim();
      if (item === '') continue;
      const bad = (why: string) => new ConfigError(`${setting}: ${JSON.stringify(item)} ${why}`);
      const bare = item.replace(/^\*\./, '');
      if (parseLooseIPv4(bare) && !isIPv4(bare)) {
        throw bad(
          'is an IPv4 address in a shorthand form (decimal, octal or hex parts): write it as a dotted quad like 127.0.0.1',
        );
      }
      // A name has neither `/` nor `:`, and is not all digits and dots.
      if (/[:/]/.test(item) || /^[0-9.]+$/.test(item)) {
        try {
          networks.push(Cidr.parse(item.replace(/^\[(.*)\](\/\d+)?$/, '$1$2')));
        } catch (error) {
          throw bad(`is not a usable network: ${(error as Error).message}`);
        }
        continue;
      }
      const name = normaliseName(item);
      const wildcard = name.startsWith('*.');
      const labels = (wildcard ? name.slice(2) : name).split('.');
      if (labels.some((l) => !LABEL.test(l))) {
        throw bad(
          'is neither an IP network (10.0.0.0/8, fd00::/8), an address, a host name (nas.local) nor a name suffix (*.corp.example)',
        );
      }
      if (wildcard) suffixes.push(name.slice(1));
      else names.add(name);
    }
    return new Allowlist(networks, names, suffixes);
  }

  /** Whether `host` (a name as the storage gives it) is allowed by name. */
  allowsName(host: string): boolean {
    const name = normaliseName(host);
    return this.names.has(name) || this.suffixes.some((s) => name.endsWith(s));
  }

  /** Whether the address (bytes) lies in an allowed network, itself or the IPv4 it carries. */
  allowsAddress(bytes: Uint8Array): boolean {
    const inner = embeddedIPv4(bytes)?.bytes;
    return this.networks.some(
      (n) => n.contains(bytes) || (inner !== undefined && n.contains(inner)),
    );
  }
}

/** Folders local storages may be under: absolute, normalised. Throws a ConfigError. */
export function parseLocalPaths(items: readonly string[], setting: string): string[] {
  const out: string[] = [];
  for (const raw of items) {
    const item = raw.trim();
    if (item === '') continue;
    if (!isAbsolute(item)) {
      throw new ConfigError(
        `${setting}: ${JSON.stringify(item)} is not an absolute path (like /srv/media)`,
      );
    }
    out.push(resolve(item));
  }
  return out;
}

/** `NAS.Local.` → `nas.local`. */
export function normaliseName(host: string): string {
  return host.trim().toLowerCase().replace(/\.$/, '');
}
