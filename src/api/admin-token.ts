import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigError } from '../config/env.js';

export interface AdminToken {
  token: string;
  /** Where it came from, for the start-up line (never the token itself). */
  source: string;
  /** True when this start made it (embedded mode's first `serve`). */
  created: boolean;
}

const MIN_LENGTH = 16;

function checked(token: string, source: string): string {
  const t = token.trim();
  if (t.length < MIN_LENGTH || /\s/.test(t)) {
    throw new ConfigError(
      `the admin token from ${source} must be at least ${MIN_LENGTH} characters, without spaces`,
    );
  }
  return t;
}

/**
 * The operator's token: `TRAWL_ADMIN_TOKEN`, else the file `TRAWL_ADMIN_TOKEN_FILE` names.
 * Embedded (a SQLite index) with neither, `admin.token` beside the index — made on first
 * start with mode 0600 — so that `trawl serve` alone is a working service. A fleet never
 * makes one: its other API nodes would not have it.
 */
export function adminToken(
  env: NodeJS.ProcessEnv,
  sqliteFile: string | undefined,
): AdminToken | undefined {
  if (env.TRAWL_ADMIN_TOKEN) {
    return {
      token: checked(env.TRAWL_ADMIN_TOKEN, 'TRAWL_ADMIN_TOKEN'),
      source: 'TRAWL_ADMIN_TOKEN',
      created: false,
    };
  }
  const file =
    env.TRAWL_ADMIN_TOKEN_FILE ??
    (sqliteFile ? join(dirname(sqliteFile), 'admin.token') : undefined);
  if (!file) return undefined;
  if (existsSync(file)) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError(
        `cannot read the admin token file ${file}: ${(error as Error).message}`,
      );
    }
    return { token: checked(text, file), source: file, created: false };
  }
  if (env.TRAWL_ADMIN_TOKEN_FILE) {
    throw new ConfigError(`TRAWL_ADMIN_TOKEN_FILE names ${file}, which does not exist`);
  }
  const token = `trawl_admin_${randomBytes(32).toString('base64url')}`;
  writeFileSync(file, token + '\n', { mode: 0o600, flag: 'wx' });
  return { token, source: file, created: true };
}
