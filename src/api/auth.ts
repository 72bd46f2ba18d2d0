import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Methods } from '../db/open.js';
import type { TokenRepository } from '../db/repositories/tokens.js';
import type { AuthLimiter } from './auth-limiter.js';
import { ApiError } from './errors.js';

/** Who is calling: the operator (admin token) or one tenant (its API token). */
export type Caller =
  { kind: 'admin' } | { kind: 'tenant'; tenantId: number; tenantName: string; tokenId: number };

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller | undefined;
  }
  interface FastifyContextConfig {
    /** Who may call the route. @default 'tenant' under /v1/, else 'none' */
    auth?: 'none' | 'admin' | 'tenant';
    /** EventSource cannot send headers: this route also reads `?access_token=`. */
    tokenInQuery?: boolean;
  }
}

export interface AuthDeps {
  tokens: Methods<TokenRepository>;
  /** undefined: no admin routes (no TRAWL_ADMIN_TOKEN). */
  adminToken: string | undefined;
  limiter: AuthLimiter;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function tokenOf(request: FastifyRequest, inQuery: boolean): string | undefined {
  const header = request.headers.authorization;
  if (typeof header === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return m ? m[1] : '';
  }
  if (inQuery) {
    const q = request.query as Record<string, unknown> | undefined;
    if (typeof q?.access_token === 'string') return q.access_token;
  }
  return undefined;
}

/**
 * The `onRequest` hook: every route says who may call it (`config.auth`); a route without a
 * caller of that kind answers 401 (no or bad token) or 403 (a tenant on an admin route).
 * Failures count per client address; a client past the limit gets 429 before its token is
 * even looked at.
 */
export function authenticate(deps: AuthDeps) {
  const admin = deps.adminToken === undefined ? undefined : digest(deps.adminToken);
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    // Routes of the API say who may call them; anything under /v1/ that does not is a
    // tenant's (deny by default); the page and its assets are public.
    const route = request.routeOptions;
    const need = route.config?.auth ?? (route.url?.startsWith('/v1/') ? 'tenant' : 'none');
    request.caller = undefined;
    if (need === 'none') return;
    const wait = deps.limiter.blockedFor(request.ip);
    if (wait > 0) {
      void reply.header('retry-after', Math.ceil(wait / 1000));
      throw new ApiError(
        429,
        'RATE_LIMITED',
        'too many failed sign-ins from this address; wait and try again',
      );
    }
    const token = tokenOf(request, route.config?.tokenInQuery === true);
    if (!token) {
      if (token === undefined) {
        throw new ApiError(401, 'UNAUTHORIZED', 'send a token: Authorization: Bearer <token>');
      }
      deps.limiter.failed(request.ip);
      throw new ApiError(401, 'UNAUTHORIZED', 'the Authorization header must be "Bearer <token>"');
    }
    // Constant-time against the admin token; tenant tokens are looked up by their hash.
    if (admin && timingSafeEqual(digest(token), admin)) {
      request.caller = { kind: 'admin' };
    } else {
      const owner = await deps.tokens.verify(token);
      if (owner) request.caller = { kind: 'tenant', ...owner };
    }
    if (!request.caller) {
      deps.limiter.failed(request.ip);
      throw new ApiError(401, 'UNAUTHORIZED', 'the token is unknown, revoked or expired');
    }
    if (need === 'admin' && request.caller.kind !== 'admin') {
      throw new ApiError(403, 'FORBIDDEN', 'this route needs the admin token');
    }
    if (need === 'tenant' && request.caller.kind !== 'tenant') {
      throw new ApiError(
        403,
        'FORBIDDEN',
        "this route needs a tenant's token, not the admin token",
      );
    }
  };
}

/** The calling tenant's id (routes whose `config.auth` is 'tenant'). */
export function tenantOf(request: FastifyRequest): number {
  const c = request.caller;
  if (c?.kind !== 'tenant') throw new ApiError(401, 'UNAUTHORIZED', 'a tenant token is needed');
  return c.tenantId;
}
