import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';

/** What a token row shows: never its value (only its hash is stored). */
export interface TokenRecord {
  id: number;
  tenantId: number;
  name: string;
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
}

/** A token that authenticated: whose it is. */
export interface TokenOwner {
  tokenId: number;
  tenantId: number;
  tenantName: string;
}

/** Tokens are `trawl_` and 43 base64url characters: 256 random bits. */
const PREFIX = 'trawl_';

/**
 * A token is 256 random bits, so a plain SHA-256 is the right store (no salt or slow hash
 * needed: there is nothing to guess), and looking one up is one indexed equality.
 */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export class TokenRepository {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** A new token for the tenant: its value is returned here once and never again. */
  async issue(
    tenantId: number,
    name: string,
    expiresAt: number | null,
  ): Promise<TokenRecord & { token: string }> {
    const token = PREFIX + randomBytes(32).toString('base64url');
    const now = Date.now();
    const row = await this.#db
      .insertInto('api_tokens')
      .values({
        tenant_id: tenantId,
        name,
        hash: hashToken(token),
        created_at: now,
        expires_at: expiresAt,
        last_used_at: null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return {
      id: Number(row.id),
      tenantId,
      name,
      createdAt: now,
      expiresAt,
      lastUsedAt: null,
      token,
    };
  }

  async list(tenantId: number): Promise<TokenRecord[]> {
    const rows = await this.#db
      .selectFrom('api_tokens')
      .select(['id', 'tenant_id', 'name', 'created_at', 'expires_at', 'last_used_at'])
      .where('tenant_id', '=', tenantId)
      .orderBy('id')
      .execute();
    return rows.map((r) => ({
      id: Number(r.id),
      tenantId: Number(r.tenant_id),
      name: r.name,
      createdAt: Number(r.created_at),
      expiresAt: r.expires_at === null ? null : Number(r.expires_at),
      lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at),
    }));
  }

  /** false: no such token of this tenant. */
  async revoke(tenantId: number, id: number): Promise<boolean> {
    const r = await this.#db
      .deleteFrom('api_tokens')
      .where('id', '=', id)
      .where('tenant_id', '=', tenantId)
      .executeTakeFirst();
    return Number(r.numDeletedRows) === 1;
  }

  /** Whose the token is; undefined when unknown, revoked or expired. */
  async verify(token: string, now = Date.now()): Promise<TokenOwner | undefined> {
    if (!token.startsWith(PREFIX) || token.length > 100) return undefined;
    const row = await this.#db
      .selectFrom('api_tokens')
      .innerJoin('tenants', 'tenants.id', 'api_tokens.tenant_id')
      .select([
        'api_tokens.id as id',
        'api_tokens.tenant_id as tenant_id',
        'api_tokens.expires_at as expires_at',
        'api_tokens.last_used_at as last_used_at',
        'tenants.name as tenant_name',
      ])
      .where('api_tokens.hash', '=', hashToken(token))
      .executeTakeFirst();
    if (!row) return undefined;
    if (row.expires_at !== null && Number(row.expires_at) <= now) return undefined;
    // Last use, to the minute: enough to spot an unused token without a write per request.
    if (row.last_used_at === null || now - Number(row.last_used_at) > 60_000) {
      await this.#db
        .updateTable('api_tokens')
        .set({ last_used_at: now })
        .where('id', '=', row.id)
        .execute();
    }
    return {
      tokenId: Number(row.id),
      tenantId: Number(row.tenant_id),
      tenantName: row.tenant_name,
    };
  }
}
