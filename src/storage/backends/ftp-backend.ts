/**
 * The ftp storage's definition (URL form, options, parsing): what every command that parses
 * a storage needs. Its client, ./ftp.js with the protocol code under it, loads at the first
 * connect (deferred.ts): a local scan evaluates none of it.
 */
import { InvalidConfigError } from '../errors.js';
import { defineBackend } from '../backend.js';
import { connectTimeoutMs, TIMEOUT_MS, withEnv, type OptionSchema } from '../options.js';
import type { BackendDeps } from '../types.js';
import { decodedPath, trimFolder, urlHost, urlParts } from './remote-common.js';
import { deferredClient } from './deferred.js';
import type { FtpOptions } from './ftp.js';

/** Every ftp option, declared once: parsing, redaction, sealing and docs come from here. */
export const FTP_OPTIONS = {
  host: { type: 'string', required: true, doc: 'Server name or address (from the URL).' },
  port: {
    type: 'int',
    min: 1,
    max: 65535,
    defaultDoc: '21, 990 with `tls=implicit`',
    doc: 'FTP port.',
  },
  user: { type: 'string', env: ['TRAWL_FTP_USER'], defaultDoc: '`anonymous`', doc: 'Login name.' },
  password: {
    type: 'string',
    secret: true,
    env: ['TRAWL_FTP_PASSWORD'],
    defaultDoc: '`anonymous@` for the anonymous user',
    doc: 'Password.',
  },
  root: { type: 'string', default: '/', doc: "Server folder that is the storage's root." },
  tls: {
    type: 'enum',
    values: ['none', 'explicit', 'implicit'],
    default: 'none',
    doc: '`explicit` (AUTH TLS on the FTP port), `implicit` (what `ftps://` sets), or `none`.',
  },
  insecureTls: {
    type: 'bool',
    default: false,
    doc: 'Accept a TLS certificate that does not verify (self-signed test servers).',
  },
  connections: {
    type: 'int',
    default: 5,
    min: 1,
    max: 64,
    doc: 'Control connections kept open, one listing each at a time.',
  },
  timeoutMs: {
    ...TIMEOUT_MS,
    doc: 'The longest wait for one reply, and the longest silence of the data connection while a listing streams in (not the whole listing), in ms.',
  },
  connectTimeoutMs: connectTimeoutMs(
    3_600_000,
    'Opening one connection: TCP, TLS, greeting, login and settings, in ms.',
  ),
} as const satisfies OptionSchema;

export const ftpBackend = defineBackend('ftp', {
  schemes: ['ftp', 'ftps'],
  url: {
    pattern: 'ftp[s]://[user[:password]@]host[:port]/dir',
    names: 'host',
    note: 'ftps:// is implicit TLS (port 990); ?tls=explicit asks for AUTH TLS on port 21',
    example: 'ftp://me@nas.local/pub?tls=explicit',
  },
  options: FTP_OPTIONS,
  fromUrl(url) {
    const scheme = url.protocol.slice(0, -1).toLowerCase();
    return {
      tls: scheme === 'ftps' ? 'implicit' : undefined,
      ...urlParts(url),
      root: decodedPath(url.pathname),
    };
  },
  finish(raw): FtpOptions {
    const root = raw.root;
    if (!root.startsWith('/')) {
      throw new InvalidConfigError(
        `ftp \`root\` must be an absolute path, got ${JSON.stringify(root)}`,
      );
    }
    if (/[\r\n\0]/.test(root)) {
      throw new InvalidConfigError(
        `ftp \`root\` cannot contain line breaks or NUL, got ${JSON.stringify(root)}`,
      );
    }
    return {
      ...raw,
      port: raw.port ?? (raw.tls === 'implicit' ? 990 : 21),
      root: trimFolder(root),
    };
  },
  create(options, deps: BackendDeps) {
    const given = withEnv(FTP_OPTIONS, options, deps.env);
    return deferredClient(
      async () => new (await import('./ftp.js')).FtpClient(given, deps.addressPolicy),
      { readHead: true },
    );
  },
  location(o) {
    const scheme = o.tls === 'implicit' ? 'ftps' : 'ftp';
    const user = o.user ? `${encodeURIComponent(o.user)}@` : '';
    return `${scheme}://${user}${urlHost(o.host)}:${o.port}${encodeURI(o.root)}`;
  },
  limitHost: (o) => `${o.host}:${o.port}`,
});
