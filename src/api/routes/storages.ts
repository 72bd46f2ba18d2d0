import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { CatalogError } from '../../catalog/errors.js';
import { checkCron, parseEvery, type Schedule } from '../../catalog/schedule.js';
import type { StorageRecord } from '../../db/repositories/storages.js';
import { StorageError } from '../../storage/errors.js';
import { checkStorageTarget } from '../../storage/net/target.js';
import { parseStorageSpec } from '../../storage/url.js';
import { tenantOf } from '../auth.js';
import { ownedStorage, type ApiContext } from '../context.js';
import { ApiError, refusal } from '../errors.js';
import { ErrorBody, IdParams, Items, Name, Storage } from '../schemas.js';
import { storageView } from '../views.js';

/**
 * Option values a storage takes: text, numbers, booleans (the backend's schema checks them),
 * and lists of text (`exclude`: gitignore patterns).
 */
const OptionValues = Type.Record(
  Type.String({ maxLength: 64 }),
  Type.Union([
    Type.String({ maxLength: 4096 }),
    Type.Number(),
    Type.Boolean(),
    Type.Array(Type.String({ maxLength: 1024 }), { maxItems: 256 }),
  ]),
  { maxProperties: 64 },
);
const Every = Type.String({ maxLength: 32, description: 'A duration: 30m, 6h, 1d, 1h30m' });
const Cron = Type.String({ maxLength: 128, description: '5 cron fields, UTC: "0 3 * * *"' });
const MaxConcurrency = Type.Integer({ minimum: 1, maximum: 1024 });

function scheduleOf(
  every: string | null | undefined,
  cron: string | null | undefined,
): Schedule | null | undefined {
  if (every !== undefined && every !== null && cron !== undefined && cron !== null) {
    throw new ApiError(400, 'BAD_REQUEST', 'give `every` or `cron`, not both', 'body.cron');
  }
  if (every) return { everyMs: asField(() => parseEvery(every), 'body.every') };
  if (cron) return { cron: asField(() => checkCron(cron), 'body.cron') };
  if (every === null || cron === null) return null;
  return undefined;
}

/** A catalog check's message, tied to the request field it is about. */
function asField<T>(check: () => T, field: string): T {
  try {
    return check();
  } catch (error) {
    const message = (error as Error).message.replace(/`--(\w+)`/g, '`$1`');
    throw new ApiError(400, 'BAD_REQUEST', message, field);
  }
}

/** Storages: create, read, update, delete, enable / disable, test the connection. */
export function storageRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  const { app } = ctx;
  const view = async (s: StorageRecord) =>
    storageView(
      s,
      (await app.index.scans.list({ tenantId: s.tenantId, storageId: s.id, limit: 1 }))[0],
    );
  return async (server) => {
    server.get(
      '/v1/storages',
      {
        schema: {
          tags: ['storages'],
          summary: "The tenant's storages",
          response: { 200: Items(Storage) },
        },
      },
      async (request) => {
        const list = await app.catalog.list(tenantOf(request));
        return { items: await Promise.all(list.map(view)) };
      },
    );
    server.post(
      '/v1/storages',
      {
        schema: {
          tags: ['storages'],
          summary: 'Register a storage',
          body: Type.Object(
            {
              url: Type.String({
                minLength: 1,
                maxLength: 4096,
                description:
                  'webdav://user:pw@host/path, s3://bucket/prefix?endpoint=…, sftp://, ftp://, smb://, or a local path',
              }),
              name: Type.Optional(Name),
              options: Type.Optional(OptionValues),
              every: Type.Optional(Every),
              cron: Type.Optional(Cron),
              maxConcurrency: Type.Optional(MaxConcurrency),
              enabled: Type.Optional(Type.Boolean()),
            },
            { additionalProperties: false },
          ),
          response: { 201: Storage, 400: ErrorBody, 409: ErrorBody },
        },
      },
      async (request, reply) => {
        const tenantId = tenantOf(request);
        const b = request.body;
        if (b.url.includes('\0'))
          throw new ApiError(400, 'BAD_REQUEST', 'body.url holds a NUL byte', 'body.url');
        const schedule = scheduleOf(b.every, b.cron);
        const spec = asStorageField(() => parseStorageSpec(b.url, b.options ?? {}), 'body.url');
        if (ctx.addressPolicy) {
          const policy = ctx.addressPolicy;
          await blame(() => checkStorageTarget(policy, spec.kind, spec.options), 'body.url');
        }
        let s = await blame(
          () =>
            app.catalog.add(tenantId, spec, {
              ...(b.name !== undefined ? { name: b.name } : {}),
              ...(schedule !== undefined ? { schedule } : {}),
              ...(b.maxConcurrency !== undefined ? { maxConcurrency: b.maxConcurrency } : {}),
            }),
          (error) => (isNameTaken(error) ? 'body.name' : 'body.url'),
        );
        if (b.enabled === false) s = await app.catalog.setEnabled(tenantId, s.name, false);
        return reply.status(201).send(await view(s));
      },
    );
    server.get(
      '/v1/storages/:id',
      {
        schema: {
          tags: ['storages'],
          summary: 'One storage',
          params: IdParams,
          response: { 200: Storage, 404: ErrorBody },
        },
      },
      async (request) => view(await ownedStorage(ctx, tenantOf(request), request.params.id)),
    );
    server.patch(
      '/v1/storages/:id',
      {
        schema: {
          tags: ['storages'],
          summary: 'Change a storage (options, name, schedule, concurrency, enabled)',
          params: IdParams,
          body: Type.Object(
            {
              name: Type.Optional(Name),
              options: Type.Optional(OptionValues),
              unset: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 64 })),
              every: Type.Optional(Type.Union([Every, Type.Null()])),
              cron: Type.Optional(Type.Union([Cron, Type.Null()])),
              maxConcurrency: Type.Optional(Type.Union([MaxConcurrency, Type.Null()])),
              enabled: Type.Optional(Type.Boolean()),
            },
            { additionalProperties: false },
          ),
          response: { 200: Storage, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody },
        },
      },
      async (request) => {
        const tenantId = tenantOf(request);
        const b = request.body;
        let s = await ownedStorage(ctx, tenantId, request.params.id);
        const schedule = scheduleOf(b.every, b.cron);
        const name = s.name;
        s = await blame(
          () =>
            app.catalog.edit(tenantId, name, {
              ...(b.name !== undefined ? { name: b.name } : {}),
              ...(b.options !== undefined ? { set: b.options } : {}),
              ...(b.unset !== undefined ? { unset: b.unset } : {}),
              ...(schedule !== undefined ? { schedule } : {}),
              ...(b.maxConcurrency !== undefined ? { maxConcurrency: b.maxConcurrency } : {}),
            }),
          editField,
        );
        if (b.enabled !== undefined) s = await app.catalog.setEnabled(tenantId, s.name, b.enabled);
        return view(s);
      },
    );
    server.delete(
      '/v1/storages/:id',
      {
        schema: {
          tags: ['storages'],
          summary: 'Remove a storage with its entries, scans and schedule',
          params: IdParams,
          response: { 204: Type.Null(), 404: ErrorBody },
        },
      },
      async (request, reply) => {
        const tenantId = tenantOf(request);
        const s = await ownedStorage(ctx, tenantId, request.params.id);
        await app.catalog.remove(tenantId, s.name);
        return reply.status(204).send(null);
      },
    );
    for (const [action, enabled] of [
      ['enable', true],
      ['disable', false],
    ] as const) {
      server.post(
        `/v1/storages/:id/${action}`,
        {
          schema: {
            tags: ['storages'],
            summary: enabled
              ? 'Enable a storage (its schedule runs again)'
              : 'Disable a storage (no scans)',
            params: IdParams,
            response: { 200: Storage, 404: ErrorBody },
          },
        },
        async (request) => {
          const tenantId = tenantOf(request);
          const s = await ownedStorage(ctx, tenantId, request.params.id);
          return view(await app.catalog.setEnabled(tenantId, s.name, enabled));
        },
      );
    }
    server.post(
      '/v1/storages/:id/test',
      {
        schema: {
          tags: ['storages'],
          summary: 'Connect and list the root once',
          params: IdParams,
          response: {
            200: Type.Object({
              ok: Type.Boolean(),
              latencyMs: Type.Integer(),
              error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
            }),
            404: ErrorBody,
          },
        },
      },
      async (request) => {
        const s = await ownedStorage(ctx, tenantOf(request), request.params.id);
        const started = Date.now();
        const signal = AbortSignal.timeout(20_000);
        try {
          await app.storage.refresh(s.id);
          const handle = await app.storage.open(s.id, { signal });
          await handle.check({ signal });
          return { ok: true, latencyMs: Date.now() - started };
        } catch (error) {
          const code = error instanceof StorageError ? error.code : 'INTERNAL';
          if (code === 'INTERNAL') request.log.error({ err: error }, 'storage test failed');
          const message =
            code === 'INTERNAL'
              ? `the test failed inside trawl (request id ${request.id})`
              : (error as Error).message;
          return { ok: false, latencyMs: Date.now() - started, error: { code, message } };
        }
      },
    );
  };
}

/** The catalog's refusal of an existing name (its message is the only sign of which check). */
function isNameTaken(error: unknown): boolean {
  return (
    error instanceof CatalogError &&
    error.code === 'CONFLICT' &&
    error.message.startsWith('a storage named')
  );
}

/**
 * The request field an edit's refusal is about: an unknown option to unset (the one INVALID
 * the schema cannot catch first), a name taken, options that are bad or move the storage onto
 * another one's place. A version conflict is no field's fault.
 */
function editField(error: unknown): string | undefined {
  if (error instanceof StorageError) return 'body.options';
  if (!(error instanceof CatalogError)) return undefined;
  if (error.code === 'INVALID') return 'body.unset';
  if (isNameTaken(error)) return 'body.name';
  return error.message.includes('registered already') ? 'body.options' : undefined;
}

/**
 * Runs `work`; a catalog or storage refusal comes back as the error of the request field it
 * is about (`field`, or what `field` makes of the error), so a client can point at it.
 */
async function blame<T>(
  work: () => Promise<T>,
  field: string | ((error: unknown) => string | undefined),
): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const named = typeof field === 'string' ? field : field(error);
    throw (named !== undefined && refusal(error, named)) || error;
  }
}

/** A storage-layer config error about the URL, answered as that field's error. */
function asStorageField<T>(parse: () => T, field: string): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof StorageError && error.code === 'INVALID_CONFIG') {
      throw new ApiError(400, 'INVALID_OPTION', error.message, field);
    }
    throw error;
  }
}
