import { homedir } from 'node:os';
import { join } from 'node:path';

/** Settings read from the environment, once, validated, frozen. */
export interface Config {
  /** `--db` default: a SQLite file or a postgres:// URL. */
  database: string;
  tenant: string;
  debug: boolean;
}

export function defaultSqlitePath(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_DATA_HOME || join(env.HOME || homedir(), '.local', 'share');
  return join(base, 'trawl', 'index.db');
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  return Object.freeze({
    database: env.TRAWL_DATABASE_URL || defaultSqlitePath(env),
    tenant: env.TRAWL_TENANT || 'default',
    debug: env.TRAWL_DEBUG === '1',
  });
}
