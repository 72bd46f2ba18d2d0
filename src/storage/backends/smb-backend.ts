/**
 * The smb storage's definition (URL form, options, parsing): what every command that parses
 * a storage needs. Its client, ./smb.js with the protocol code under it, loads at the first
 * connect (deferred.ts): a local scan evaluates none of it.
 */
import { InvalidConfigError } from '../errors.js';
import { defineBackend } from '../backend.js';
import { connectTimeoutMs, TIMEOUT_MS, withEnv, type OptionSchema } from '../options.js';
import type { BackendDeps } from '../types.js';
import { decodedPath, trimFolder, urlHost, urlParts } from './remote-common.js';
import { deferredClient } from './deferred.js';
import type { SmbOptions } from './smb.js';

/** Every smb option, declared once: parsing, redaction, sealing and docs come from here. */
export const SMB_OPTIONS = {
  host: { type: 'string', required: true, doc: 'Server name or address (from the URL).' },
  port: { type: 'int', default: 445, min: 1, max: 65535, doc: 'SMB port.' },
  share: { type: 'string', required: true, doc: 'Share name: one name without slashes.' },
  root: {
    type: 'string',
    default: '/',
    doc: "Folder inside the share that is the storage's root (`\\` read as `/`).",
  },
  user: { type: 'string', env: ['TRAWL_SMB_USER'], doc: 'Login name.' },
  password: { type: 'string', secret: true, env: ['TRAWL_SMB_PASSWORD'], doc: 'Password.' },
  domain: {
    type: 'string',
    doc: 'For the URL form `smb://DOMAIN;user@…`; NTLMv2 answers for the domain the server names, so this cannot select another.',
  },
  timeoutMs: {
    ...TIMEOUT_MS,
    doc: 'Per request, in ms; for a listing, the longest wait for the next QUERY_DIRECTORY answer (not the whole listing).',
  },
  connectTimeoutMs: connectTimeoutMs(
    600_000,
    'TCP connect, negotiate, login and tree connect, in ms.',
  ),
} as const satisfies OptionSchema;

export const smbBackend = defineBackend('smb', {
  schemes: ['smb'],
  url: {
    pattern: 'smb://[domain;]user[:password]@host[:port]/share/dir',
    names: 'host',
    note: 'SMB 2.0.2/2.1 only',
    example: 'smb://me@nas.local/media/films',
  },
  options: SMB_OPTIONS,
  fromUrl(url) {
    const raw = urlParts(url);
    const user = raw.user as string | undefined;
    if (user?.includes(';')) {
      const [domain, name] = [user.slice(0, user.indexOf(';')), user.slice(user.indexOf(';') + 1)];
      raw.domain = domain;
      raw.user = name;
    }
    const [share = '', ...rest] = decodedPath(url.pathname).split('/').slice(1);
    return { ...raw, share, root: `/${rest.join('/')}` };
  },
  finish(raw): SmbOptions {
    const share = raw.share;
    if (/[\\/]/.test(share)) {
      throw new InvalidConfigError(
        `smb \`share\` is one name without slashes, got ${JSON.stringify(share)}`,
      );
    }
    // Backslashes are SMB's separators: accept them in a configured root, as `/`.
    const root = raw.root.replace(/\\/g, '/');
    return { ...raw, root: trimFolder(root.replace(/\/{2,}/g, '/')) };
  },
  create(options, deps: BackendDeps) {
    const given = withEnv(SMB_OPTIONS, options, deps.env);
    return deferredClient(
      async () => new (await import('./smb.js')).SmbClient(given, deps.addressPolicy),
      { readHead: true },
    );
  },
  location(o) {
    const domain = o.domain ? `${encodeURIComponent(o.domain)};` : '';
    const user = o.user ? `${domain}${encodeURIComponent(o.user)}@` : '';
    const root = o.root === '/' ? '' : encodeURI(o.root);
    return `smb://${user}${urlHost(o.host)}:${o.port}/${encodeURIComponent(o.share)}${root}`;
  },
  limitHost: (o) => `${o.host}:${o.port}`,
});
