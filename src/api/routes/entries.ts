import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { QueryError } from '../../db/queries/index.js';
import { tenantOf } from '../auth.js';
import { ownedStorage, type ApiContext } from '../context.js';
import { ApiError } from '../errors.js';
import { badText } from '../input.js';
import { EntryPage, ErrorBody, IdParams, Stats } from '../schemas.js';

const Sort = Type.Union([Type.Literal('name'), Type.Literal('size'), Type.Literal('mtime')]);
const Order = Type.Union([Type.Literal('asc'), Type.Literal('desc')]);
const Limit = Type.Integer({ minimum: 1, maximum: 1000, default: 100 });
const Cursor = Type.String({ maxLength: 2048 });
/** A directory or prefix of the storage: absolute, without NUL. */
const PathParam = Type.String({ minLength: 1, maxLength: 4096, pattern: '^/[^\\u0000]*$' });
const Bytes = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const Time = Type.Integer({ minimum: 0, maximum: 8_640_000_000_000_000 });

/** The query layer's names for what the API calls by its query parameters. */
const PARAM: Record<string, string> = {
  name: 'q',
  pathPrefix: 'prefix',
  mediaKind: 'kind',
  mtimeFrom: 'after',
  mtimeTo: 'before',
  storageId: 'storage',
};

/** A query the index refused, answered as the query parameter's error. */
async function asQueryField<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof QueryError) {
      const field = `query.${PARAM[error.field] ?? error.field}`;
      throw new ApiError(400, error.code, error.message.replace(/^[^:]+:/, `${field}:`), field);
    }
    throw error;
  }
}

/**
 * `..` and `.` segments are refused outright: index paths never hold them, so one in a
 * request is a mistake or a probe, and normalising it silently would hide which.
 */
function checkPath(path: string | undefined, field: string): void {
  if (path === undefined) return;
  if (path.split('/').some((s) => s === '..' || s === '.')) {
    throw new ApiError(400, 'BAD_REQUEST', `${field} must not hold . or .. segments`, field);
  }
}

/**
 * A cursor is opaque, but the text inside it (a name, for sort=name) goes to the index as a
 * bound value: one forged with a NUL or a lone surrogate is refused here like such text in
 * any field (see input.ts), not left to fail in the database. Unreadable ones are the query
 * layer's to explain.
 */
function checkCursor(cursor: string | undefined): void {
  if (cursor === undefined) return;
  let inside: unknown;
  try {
    inside = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return;
  }
  if (badText(inside, 'query.cursor')) {
    throw new ApiError(
      400,
      'BAD_CURSOR',
      'query.cursor: not a cursor of this index',
      'query.cursor',
    );
  }
}

/** The index: browse a directory, search, stats of a storage. */
export function entryRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  const queries = ctx.app.index.queries;
  return async (server) => {
    server.get(
      '/v1/storages/:id/entries',
      {
        schema: {
          tags: ['index'],
          summary: "A directory's entries (directories first), in keyset pages",
          params: IdParams,
          querystring: Type.Object(
            {
              dir: Type.Optional(PathParam),
              sort: Type.Optional(Sort),
              order: Type.Optional(Order),
              limit: Type.Optional(Limit),
              cursor: Type.Optional(Cursor),
            },
            { additionalProperties: false },
          ),
          response: { 200: EntryPage, 400: ErrorBody, 404: ErrorBody },
        },
      },
      async (request) => {
        const tenantId = tenantOf(request);
        const s = await ownedStorage(ctx, tenantId, request.params.id);
        const q = request.query;
        checkPath(q.dir, 'query.dir');
        checkCursor(q.cursor);
        return asQueryField(
          queries.browse({
            tenantId,
            storageId: s.id,
            dir: q.dir ?? '/',
            ...(q.sort ? { sort: q.sort } : {}),
            ...(q.order ? { order: q.order } : {}),
            ...(q.limit ? { limit: q.limit } : {}),
            ...(q.cursor ? { cursor: q.cursor } : {}),
          }),
        );
      },
    );
    server.get(
      '/v1/search',
      {
        schema: {
          tags: ['index'],
          summary:
            "Search the tenant's entries: name substring, path prefix, kind, size and time ranges",
          querystring: Type.Object(
            {
              q: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
              storage: Type.Optional(
                Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
              ),
              prefix: Type.Optional(PathParam),
              kind: Type.Optional(Type.String({ maxLength: 32, pattern: '^[a-z]+$' })),
              dirs: Type.Optional(Type.Boolean()),
              minSize: Type.Optional(Bytes),
              maxSize: Type.Optional(Bytes),
              after: Type.Optional(Time),
              before: Type.Optional(Time),
              sort: Type.Optional(Sort),
              order: Type.Optional(Order),
              limit: Type.Optional(Limit),
              cursor: Type.Optional(Cursor),
            },
            { additionalProperties: false },
          ),
          response: { 200: EntryPage, 400: ErrorBody, 404: ErrorBody },
        },
      },
      async (request) => {
        const tenantId = tenantOf(request);
        const q = request.query;
        checkPath(q.prefix, 'query.prefix');
        checkCursor(q.cursor);
        // A storage filter that is not the tenant's answers like any unknown storage.
        if (q.storage !== undefined) await ownedStorage(ctx, tenantId, q.storage);
        return asQueryField(
          queries.search({
            tenantId,
            ...(q.storage !== undefined ? { storageId: q.storage } : {}),
            ...(q.q !== undefined ? { name: q.q } : {}),
            ...(q.prefix !== undefined ? { pathPrefix: q.prefix } : {}),
            ...(q.kind !== undefined ? { mediaKind: q.kind } : {}),
            ...(q.dirs !== undefined ? { isDir: q.dirs } : {}),
            ...(q.minSize !== undefined ? { minSize: q.minSize } : {}),
            ...(q.maxSize !== undefined ? { maxSize: q.maxSize } : {}),
            ...(q.after !== undefined ? { mtimeFrom: q.after } : {}),
            ...(q.before !== undefined ? { mtimeTo: q.before } : {}),
            ...(q.sort ? { sort: q.sort } : {}),
            ...(q.order ? { order: q.order } : {}),
            ...(q.limit ? { limit: q.limit } : {}),
            ...(q.cursor ? { cursor: q.cursor } : {}),
          }),
        );
      },
    );
    server.get(
      '/v1/storages/:id/stats',
      {
        schema: {
          tags: ['index'],
          summary: 'Files, bytes, per media kind, largest directories',
          params: IdParams,
          querystring: Type.Object(
            { largestDirs: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })) },
            { additionalProperties: false },
          ),
          response: { 200: Stats, 404: ErrorBody },
        },
      },
      async (request) => {
        const tenantId = tenantOf(request);
        const s = await ownedStorage(ctx, tenantId, request.params.id);
        const n = request.query.largestDirs;
        return asQueryField(
          queries.stats({
            tenantId,
            storageId: s.id,
            ...(n !== undefined ? { largestDirs: n } : {}),
          }),
        );
      },
    );
  };
}
