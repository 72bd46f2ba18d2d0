/**
 * Where the address policy meets the sockets: every connection a guarded backend opens is
 * checked on the address it actually connects to, at the moment it connects — names through
 * a `lookup` that resolves, checks and hands Node only allowed addresses (so a name that
 * rebinds to 127.0.0.1 after a first, public answer is refused at its next connection), and
 * IP literals (which Node connects to without any lookup) before the connect.
 *
 * Three shapes, for the ways the libraries open sockets: an HTTP(S) agent (WebDAV, the S3
 * SDK), a `net.Socket` whose `connect` a library calls (basic-ftp, the SMB client), and a
 * socket opened here and handed over (ssh2's `sock`).
 */
import type { LookupAddress, LookupOptions } from 'node:dns';
import type { Agent as HttpAgent } from 'node:http';
import { connect as netConnect, isIP, type LookupFunction, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ForbiddenAddressError } from '../errors.js';
import type { AddressPolicy } from './address-policy.js';
import { literalAddress, sameAddress } from './ip.js';

/** Told of every refusal (a library may wrap the error it then sees beyond recognition). */
export type RefusalListener = (error: ForbiddenAddressError) => void;

/** A `lookup` for net, tls and http options: only addresses the policy allows come out. */
export function guardedLookup(policy: AddressPolicy, onRefused?: RefusalListener): LookupFunction {
  return (hostname: string, options: LookupOptions, callback) => {
    const family =
      options.family === 4 || options.family === 'IPv4'
        ? 4
        : options.family === 6 || options.family === 'IPv6'
          ? 6
          : 0;
    policy.resolve(hostname, family).then(
      (addresses) => {
        if (options.all) callback(null, addresses as LookupAddress[]);
        else callback(null, addresses[0]!.address, addresses[0]!.family);
      },
      (error: NodeJS.ErrnoException) => {
        if (error instanceof ForbiddenAddressError) onRefused?.(error);
        callback(error, '', 0);
      },
    );
  };
}

/**
 * The refusal for a host Node would connect to without a lookup (an IP literal), checked
 * now; undefined for an allowed literal and for a name (the lookup checks those).
 */
export function literalRefusal(
  policy: AddressPolicy,
  host: string,
  trusted?: () => string | undefined,
): ForbiddenAddressError | undefined {
  if (isIP(host) === 0) return undefined;
  const trust = trusted?.();
  if (trust !== undefined && sameAddress(trust, host)) return undefined;
  return policy.refusal(host, literalAddress(host)!);
}

/**
 * Makes every new connection of `agent` go through the policy: the agent keeps its pool,
 * timeouts and TLS; only where it connects is checked. A refused connection fails its
 * request with the ForbiddenAddressError itself.
 */
export function guardAgent<A extends HttpAgent>(agent: A, policy: AddressPolicy | undefined): A {
  if (!policy) return agent;
  type Create = (
    options: Record<string, unknown>,
    callback?: (err: Error | null, stream?: Duplex) => void,
  ) => Duplex | null | undefined;
  const self = agent as unknown as { createConnection: Create };
  const create = self.createConnection.bind(agent);
  self.createConnection = (options, callback) => {
    const host = typeof options.host === 'string' ? options.host : 'localhost';
    const refused = literalRefusal(policy, host);
    if (refused) {
      // The agent waits for the callback when nothing is returned, and fails the request.
      process.nextTick(() => callback?.(refused));
      return undefined;
    }
    return create({ ...options, lookup: guardedLookup(policy) }, callback);
  };
  return agent;
}

export interface GuardSocketOptions {
  /**
   * An address allowed whatever the policy says, read at connect time: the FTP control
   * connection's own address, which an FTP data connection may always go back to (the
   * control host may be allowed by name, and its address only through it).
   */
  trusted?: () => string | undefined;
  onRefused?: RefusalListener;
}

/**
 * Checks where `socket` connects whenever a library calls its `connect` (with options or
 * with a port and host): a literal before the connect, a name through the guarded lookup.
 * A refused connect ends the socket with the ForbiddenAddressError, as a failed one would.
 */
export function guardSocket<S extends Socket>(
  socket: S,
  policy: AddressPolicy,
  options: GuardSocketOptions = {},
): S {
  const connect = socket.connect.bind(socket) as (...args: unknown[]) => S;
  (socket as { connect: (...args: unknown[]) => S }).connect = (...args: unknown[]) => {
    const [first, second] = args;
    let opts: Record<string, unknown>;
    let rest: unknown[];
    if (typeof first === 'object' && first !== null) {
      opts = { ...(first as Record<string, unknown>) };
      rest = args.slice(1);
    } else {
      const hostGiven = typeof second === 'string';
      opts = { port: first, host: hostGiven ? second : 'localhost' };
      rest = args.slice(hostGiven ? 2 : 1);
    }
    if (opts.path !== undefined) return connect(opts, ...rest); // a Unix socket: no address
    const host = typeof opts.host === 'string' ? opts.host : 'localhost';
    const refused = literalRefusal(policy, host, options.trusted);
    if (refused) {
      options.onRefused?.(refused);
      process.nextTick(() => socket.destroy(refused));
      return socket;
    }
    return connect({ ...opts, lookup: guardedLookup(policy, options.onRefused) }, ...rest);
  };
  return socket;
}

/**
 * Starts a TCP connection to `host:port` under the policy, for a library that takes a socket
 * (ssh2's `sock`). Throws a refused literal at once; a refused name fails the socket.
 */
export function guardedConnect(
  policy: AddressPolicy,
  host: string,
  port: number,
  onRefused?: RefusalListener,
): Socket {
  const refused = literalRefusal(policy, host);
  if (refused) throw refused;
  return netConnect({ host, port, lookup: guardedLookup(policy, onRefused) });
}
