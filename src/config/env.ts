import { homedir } from 'node:os';
import { join } from 'node:path';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Settings read from the environment, once, validated, frozen. */
export interface Config {
  /** `--db` default: a SQLite file or a postgres:// URL. @default `~/.local/share/trawl/index.db` */
  database: string;
  /** The tenant the CLI acts for. @default 'default' */
  tenant: string;
  /** Stack traces for unexpected errors. @default false */
  debug: boolean;
  /** Structured logs on stderr at this level. @default 'silent' */
  logLevel: LogLevel;
  /**
   * How long a SQLite index waits for another process's lock (`TRAWL_SQLITE_BUSY_TIMEOUT_MS`).
   * @default 5000 (see db/sqlite/busy.ts)
   */
  sqliteBusyTimeoutMs: number;
  /** Redis for fleet mode (queue, leases, fleet-wide limits): `TRAWL_REDIS_URL`. @default none (embedded) */
  redisUrl: string | undefined;
  /** How long a storage's lease lives unless renewed (`TRAWL_LEASE_TTL_MS`). @default 30000 */
  leaseTtlMs: number;
  /**
   * In a fleet, write every batch's change event to the outbox for the `changes` queue
   * (`TRAWL_CHANGE_EVENTS=off` when nothing consumes it: the queue would only grow).
   * @default true
   */
  changeEvents: boolean;
  /** Prefix of trawl's keys in Redis, for several deployments on one Redis (`TRAWL_REDIS_PREFIX`). @default 'trawl' */
  redisPrefix: string;
  /**
   * Requests in flight per limit key, by kind (`TRAWL_KIND_MAX_CONCURRENCY=webdav=20,s3=200`);
   * across the whole fleet in fleet mode. @default the StorageService's (50 per key)
   */
  kindMaxConcurrency: Readonly<Record<string, number>> | undefined;
  /** The same for one limit key (`TRAWL_KEY_MAX_CONCURRENCY=webdav:nas.example.com=8`); wins over the kind's. */
  keyMaxConcurrency: Readonly<Record<string, number>> | undefined;
  /** Requests in flight per tenant over all its storages (`TRAWL_TENANT_MAX_CONCURRENCY`). @default no cap */
  tenantMaxConcurrency: number | undefined;
  /** Scans of one tenant running at once, fleet-wide (`TRAWL_TENANT_MAX_SCANS`). @default 4 */
  tenantMaxScans: number;
}

/** An environment variable with a value trawl cannot use. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export function defaultSqlitePath(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_DATA_HOME || join(env.HOME || homedir(), '.local', 'share');
  return join(base, 'trawl', 'index.db');
}

/** Reads and checks the environment; a bad value names the variable and what was expected. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  return Object.freeze({
    database: env.TRAWL_DATABASE_URL || defaultSqlitePath(env),
    tenant: tenant(env.TRAWL_TENANT),
    debug: oneOf('TRAWL_DEBUG', env.TRAWL_DEBUG, ['0', '1'], '0') === '1',
    logLevel: oneOf('TRAWL_LOG_LEVEL', env.TRAWL_LOG_LEVEL, LOG_LEVELS, 'silent'),
    sqliteBusyTimeoutMs: millis(
      'TRAWL_SQLITE_BUSY_TIMEOUT_MS',
      env.TRAWL_SQLITE_BUSY_TIMEOUT_MS,
      5000,
    ),
    redisUrl: env.TRAWL_REDIS_URL || undefined,
    leaseTtlMs: Math.max(100, millis('TRAWL_LEASE_TTL_MS', env.TRAWL_LEASE_TTL_MS, 30_000)),
    redisPrefix: redisPrefix(env.TRAWL_REDIS_PREFIX),
    changeEvents:
      oneOf('TRAWL_CHANGE_EVENTS', env.TRAWL_CHANGE_EVENTS, ['on', 'off'], 'on') === 'on',
    kindMaxConcurrency: caps('TRAWL_KIND_MAX_CONCURRENCY', env.TRAWL_KIND_MAX_CONCURRENCY),
    keyMaxConcurrency: caps('TRAWL_KEY_MAX_CONCURRENCY', env.TRAWL_KEY_MAX_CONCURRENCY),
    tenantMaxConcurrency: count('TRAWL_TENANT_MAX_CONCURRENCY', env.TRAWL_TENANT_MAX_CONCURRENCY),
    tenantMaxScans: count('TRAWL_TENANT_MAX_SCANS', env.TRAWL_TENANT_MAX_SCANS) ?? 4,
  });
}

/** An integer from 1 up, or undefined when unset. */
function count(name: string, value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new ConfigError(`${name} expects an integer from 1 and up, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** `name=N,name=N`: caps by kind or by limit key (a key may hold `:`, never `=` or `,`). */
function caps(name: string, value: string | undefined): Record<string, number> | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const out: Record<string, number> = {};
  for (const item of value.split(',')) {
    const eq = item.lastIndexOf('=');
    const key = item.slice(0, eq).trim();
    const n =
      eq > 0 && key !== '' ? count(`${name} (${key})`, item.slice(eq + 1).trim()) : undefined;
    if (n === undefined) {
      throw new ConfigError(
        `${name} expects name=N pairs separated by commas (webdav=20,s3=200), got ${JSON.stringify(value)}`,
      );
    }
    out[key] = n;
  }
  return out;
}

function redisPrefix(value: string | undefined): string {
  if (value === undefined || value === '') return 'trawl';
  // Inside a Redis Cluster hash tag ({prefix}): braces would end the tag early.
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(value)) {
    throw new ConfigError(
      `TRAWL_REDIS_PREFIX expects 1 to 64 letters, digits or _ . : -, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function millis(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) {
    throw new ConfigError(
      `${name} expects whole milliseconds from 0 up, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

function tenant(value: string | undefined): string {
  if (value === undefined || value === '') return 'default';
  // The name keys rows in the index and shows in listings: no invisible differences.
  if (value.trim() !== value || value.length > 200 || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new ConfigError(
      `TRAWL_TENANT expects a name of 1 to 200 characters without control characters or ` +
        `surrounding spaces, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function oneOf<T extends string>(
  name: string,
  value: string | undefined,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined || value === '') return fallback;
  const found = allowed.find((a) => a === value);
  if (found === undefined) {
    throw new ConfigError(
      `${name} expects one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`,
    );
  }
  return found;
}
