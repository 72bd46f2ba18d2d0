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
  /** Prefix of trawl's keys in Redis, for several deployments on one Redis (`TRAWL_REDIS_PREFIX`). @default 'trawl' */
  redisPrefix: string;
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
  });
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
