import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ApiError, notFound } from '../errors.js';
import { ErrorBody, Items, Name, Tenant, Token } from '../schemas.js';
import type { ApiContext } from '../context.js';

const TenantParams = Type.Object({ tenant: Name }, { additionalProperties: false });

/** The operator's routes (admin token): tenants and their API tokens. */
export function adminRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  const { tenants, tokens } = ctx.app.index;
  const admin = { auth: 'admin' as const };
  const tenantNamed = async (name: string) => {
    const t = await tenants.byName(name);
    if (!t) throw notFound(`tenant ${name}`);
    return t;
  };
  return async (server) => {
    server.post(
      '/v1/tenants',
      {
        config: admin,
        schema: {
          tags: ['admin'],
          summary: 'Create a tenant',
          body: Type.Object({ name: Name }, { additionalProperties: false }),
          response: { 201: Tenant, 409: ErrorBody },
        },
      },
      async (request, reply) => {
        const t = await tenants.create(request.body.name);
        if (!t)
          throw new ApiError(
            409,
            'CONFLICT',
            `a tenant named ${request.body.name} exists`,
            'body.name',
          );
        return reply.status(201).send(t);
      },
    );
    server.get(
      '/v1/tenants',
      {
        config: admin,
        schema: { tags: ['admin'], summary: 'List tenants', response: { 200: Items(Tenant) } },
      },
      async () => ({ items: await tenants.list() }),
    );
    server.post(
      '/v1/tenants/:tenant/tokens',
      {
        config: admin,
        schema: {
          tags: ['admin'],
          summary: 'Issue an API token for a tenant (its value is shown only in this answer)',
          params: TenantParams,
          body: Type.Object(
            {
              name: Name,
              /** Epoch ms; omitted: never expires. */
              expiresAt: Type.Optional(
                Type.Integer({ minimum: 0, maximum: 8_640_000_000_000_000 }),
              ),
            },
            { additionalProperties: false },
          ),
          response: {
            201: Type.Intersect([Token, Type.Object({ token: Type.String() })]),
            404: ErrorBody,
          },
        },
      },
      async (request, reply) => {
        const t = await tenantNamed(request.params.tenant);
        const expiresAt = request.body.expiresAt ?? null;
        if (expiresAt !== null && expiresAt <= Date.now()) {
          throw new ApiError(400, 'BAD_REQUEST', 'body.expiresAt is in the past', 'body.expiresAt');
        }
        return reply.status(201).send(await tokens.issue(t.id, request.body.name, expiresAt));
      },
    );
    server.get(
      '/v1/tenants/:tenant/tokens',
      {
        config: admin,
        schema: {
          tags: ['admin'],
          summary: "A tenant's API tokens (never their values)",
          params: TenantParams,
          response: { 200: Items(Token), 404: ErrorBody },
        },
      },
      async (request) => ({
        items: await tokens.list((await tenantNamed(request.params.tenant)).id),
      }),
    );
    server.delete(
      '/v1/tenants/:tenant/tokens/:id',
      {
        config: admin,
        schema: {
          tags: ['admin'],
          summary: 'Revoke an API token',
          params: Type.Object(
            { tenant: Name, id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) },
            { additionalProperties: false },
          ),
          response: { 204: Type.Null(), 404: ErrorBody },
        },
      },
      async (request, reply) => {
        const t = await tenantNamed(request.params.tenant);
        if (!(await tokens.revoke(t.id, request.params.id)))
          throw notFound(`token ${request.params.id}`);
        return reply.status(204).send(null);
      },
    );
    server.get(
      '/v1/me',
      {
        config: { auth: 'tenant' },
        schema: {
          tags: ['tenant'],
          summary: 'Who the token belongs to',
          response: {
            200: Type.Object({ tenant: Type.Object({ id: Type.Integer(), name: Type.String() }) }),
          },
        },
      },
      async (request) => {
        const c = request.caller;
        if (c?.kind !== 'tenant')
          throw new ApiError(401, 'UNAUTHORIZED', 'a tenant token is needed');
        return { tenant: { id: c.tenantId, name: c.tenantName } };
      },
    );
  };
}
