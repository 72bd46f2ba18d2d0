/**
 * The sftp storage's definition (URL form, options, parsing): what every command that parses
 * a storage needs. Its client, ./sftp.js with the protocol code under it, loads at the first
 * connect (deferred.ts): a local scan evaluates none of it.
 */
import { InvalidConfigError } from '../errors.js';
import { defineBackend } from '../backend.js';
import { connectTimeoutMs, TIMEOUT_MS, withEnv, type OptionSchema } from '../options.js';
import type { BackendDeps } from '../types.js';
import { decodedPath, trimFolder, urlHost, urlParts } from './remote-common.js';
import { deferredClient } from './deferred.js';
import type { SftpOptions } from './sftp.js';

/** Every sftp option, declared once: parsing, redaction, sealing and docs come from here. */
export const SFTP_OPTIONS = {
  host: { type: 'string', required: true, doc: 'Server name or address (from the URL).' },
  port: { type: 'int', default: 22, min: 1, max: 65535, doc: 'SSH port.' },
  user: { type: 'string', env: ['TRAWL_SFTP_USER'], doc: 'Login name.' },
  password: { type: 'string', secret: true, env: ['TRAWL_SFTP_PASSWORD'], doc: 'Password.' },
  privateKey: {
    type: 'string',
    secret: true,
    env: ['TRAWL_SFTP_PRIVATE_KEY'],
    doc: 'A private key: a file path, or the key itself (PEM / OpenSSH).',
  },
  passphrase: {
    type: 'string',
    secret: true,
    env: ['TRAWL_SFTP_PASSPHRASE'],
    doc: 'Passphrase of the private key.',
  },
  root: {
    type: 'string',
    default: '/',
    doc: "Server folder that is the storage's root: absolute, or `/~/…` for the login folder.",
  },
  hostKey: {
    type: 'string',
    doc: "The server's host key fingerprint, `SHA256:<base64>` as `ssh-keygen -lf` prints it (write `+` as `%2B` in a URL).",
  },
  insecureHostKey: {
    type: 'bool',
    default: false,
    doc: 'Connect without checking the host key (test rigs only).',
  },
  timeoutMs: {
    ...TIMEOUT_MS,
    doc: 'Per request, in ms; for a listing, the longest wait for the next READDIR answer (not the whole listing).',
  },
  connectTimeoutMs: connectTimeoutMs(
    600_000,
    'TCP connect, SSH handshake, login and SFTP session, in ms.',
  ),
} as const satisfies OptionSchema;

export const sftpBackend = defineBackend('sftp', {
  schemes: ['sftp'],
  url: {
    pattern: 'sftp://user[:password]@host[:port]/absolute/dir',
    names: 'host',
    note: '?hostKey=SHA256:… pins the server key; /~/dir is relative to the login folder',
    example: 'sftp://me@nas.local/srv/media',
  },
  options: SFTP_OPTIONS,
  fromUrl(url) {
    return { ...urlParts(url), root: decodedPath(url.pathname) };
  },
  finish(raw): SftpOptions {
    const root = raw.root;
    if (!root.startsWith('/')) {
      throw new InvalidConfigError(
        `sftp \`root\` must be an absolute path, got ${JSON.stringify(root)}`,
      );
    }
    // A `+` in a URL query reads as a space; a fingerprint never contains one.
    const hostKey = raw.hostKey?.replace(/ /g, '+');
    if (hostKey !== undefined && !/^(SHA256:)?[A-Za-z0-9+/]{43}=?$/.test(hostKey)) {
      throw new InvalidConfigError(
        `Expected \`hostKey\` to be a SHA256 fingerprint like SHA256:AbC…(43 characters), got ${JSON.stringify(hostKey)}`,
      );
    }
    return { ...raw, root: trimFolder(root), hostKey };
  },
  create(options, deps: BackendDeps) {
    const given = withEnv(SFTP_OPTIONS, options, deps.env);
    return deferredClient(
      async () => new (await import('./sftp.js')).SftpClient(given, deps.addressPolicy),
      { readHead: true },
    );
  },
  location(o) {
    const user = o.user ? `${encodeURIComponent(o.user)}@` : '';
    return `sftp://${user}${urlHost(o.host)}:${o.port}${encodeURI(o.root)}`;
  },
  limitHost: (o) => `${o.host}:${o.port}`,
});
