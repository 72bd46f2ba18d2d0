import { BACKENDS } from '../../storage/registry.js';
import { hanging } from './text.js';

/** An environment variable trawl reads, and what for. */
export interface EnvVar {
  name: string;
  doc: string;
}

/**
 * Every variable trawl reads itself (config/env.ts, the secrets' keyring, `trawl serve`).
 * Storages' credential variables come from the backends' option schemas:
 * {@link storageEnvironment}. test/cli.help.test.ts finds every `TRAWL_…` name in src/ and
 * fails when one is missing here, and checks docs/cli.md holds this list as generated.
 */
export const ENVIRONMENT: readonly EnvVar[] = [
  {
    name: 'TRAWL_DATABASE_URL',
    doc: 'the index when --db is not given: a SQLite file or a postgres:// URL',
  },
  {
    name: 'XDG_DATA_HOME',
    doc: 'the default index is $XDG_DATA_HOME/trawl/index.db (else ~/.local/share/trawl/index.db)',
  },
  { name: 'TRAWL_TENANT', doc: 'the tenant the command line acts for (when unset: `default`)' },
  { name: 'TRAWL_DEBUG', doc: '`1`: a stack trace with an unexpected error' },
  {
    name: 'TRAWL_LOG_LEVEL',
    doc: 'JSON logs on stderr at this level: fatal, error, warn, info, debug, trace (default none)',
  },
  {
    name: 'TRAWL_SQLITE_BUSY_TIMEOUT_MS',
    doc: "how long a SQLite index waits for another process's lock (default 5000)",
  },
  {
    name: 'TRAWL_SECRET_KEY',
    doc: 'the key that seals stored secrets, 64 hex digits (default: secret.key beside a SQLite index)',
  },
  { name: 'TRAWL_SECRET_KEY_FILE', doc: 'a key file instead of secret.key beside the index' },
  {
    name: 'TRAWL_SECRET_KEYS_PREVIOUS',
    doc: 'keys that only open secrets, comma-separated, during a rotation',
  },
  {
    name: 'TRAWL_REDIS_URL',
    doc: 'Redis of a fleet (queue, leases, schedules, fleet-wide limits); unset: embedded',
  },
  { name: 'TRAWL_REDIS_PREFIX', doc: "prefix of trawl's keys in Redis (default `trawl`)" },
  {
    name: 'TRAWL_LEASE_TTL_MS',
    doc: "how long a storage's lease lives unless renewed (default 30000)",
  },
  { name: 'TRAWL_CHANGE_EVENTS', doc: '`off`: a fleet writes no change events (default `on`)' },
  {
    name: 'TRAWL_KIND_MAX_CONCURRENCY',
    doc: 'requests in flight per limit key, by kind: `webdav=20,s3=200` (default 50)',
  },
  {
    name: 'TRAWL_KEY_MAX_CONCURRENCY',
    doc: 'the same for one limit key: `webdav:nas.example.com=8`',
  },
  {
    name: 'TRAWL_TENANT_MAX_CONCURRENCY',
    doc: 'requests in flight per tenant over all its storages (default: no cap)',
  },
  {
    name: 'TRAWL_TENANT_MAX_SCANS',
    doc: 'scans of one tenant running at once, fleet-wide (default 4)',
  },
  {
    name: 'TRAWL_ALLOW_NETWORKS',
    doc: 'trawl serve: private networks, addresses or names storages may reach (`10.0.0.0/8,nas.local`)',
  },
  {
    name: 'TRAWL_ALLOW_LOCAL_PATHS',
    doc: 'trawl serve: folders local storages may be under (`/srv/media,/data`)',
  },
  { name: 'TRAWL_ADMIN_TOKEN', doc: "trawl serve: the operator's token (16 characters or more)" },
  {
    name: 'TRAWL_ADMIN_TOKEN_FILE',
    doc: 'trawl serve: a file holding it (default, SQLite only: admin.token beside the index)',
  },
  {
    name: 'TRAWL_TRUST_PROXY',
    doc: '`1`: trawl serve is behind a reverse proxy (client addresses from X-Forwarded-For)',
  },
  {
    name: 'TRAWL_LOCAL_NATIVE',
    doc: '`0`: local scans list directories in JavaScript, not with the native listing',
  },
];

/**
 * The variables a storage's options fall back on when the storage leaves them unset
 * (`TRAWL_WEBDAV_PASSWORD`, `AWS_REGION`…), from every backend's option schema.
 */
export function storageEnvironment(): EnvVar[] {
  const out: EnvVar[] = [];
  for (const [kind, backend] of Object.entries(BACKENDS)) {
    for (const [key, spec] of Object.entries(backend.options)) {
      for (const name of spec.env ?? []) {
        out.push({ name, doc: `${kind} \`${key}\` when the storage sets none` });
      }
    }
  }
  return out;
}

/** Both lists as aligned lines for `--help`. */
export function environmentText(): string {
  const all = [...ENVIRONMENT, ...storageEnvironment()];
  const width = Math.max(...all.map((v) => v.name.length));
  return all.map((v) => hanging(`  ${v.name.padEnd(width)}  `, v.doc.replace(/`/g, ''))).join('\n');
}

/** Both lists as a Markdown table, as docs/cli.md holds it. */
export function environmentTable(): string {
  const rows = [...ENVIRONMENT, ...storageEnvironment()].map(
    (v) => `| \`${v.name}\` | ${v.doc.replace(/\|/g, '\\|')} |`,
  );
  return ['| variable | meaning |', '| --- | --- |', ...rows].join('\n');
}
