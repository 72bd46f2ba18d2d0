import { Type, type Static, type TSchema } from 'typebox';

/**
 * The JSON schemas of the API: request validation (unknown fields refused), response
 * serialization (nothing the schema does not name leaves the server) and the OpenAPI
 * document all come from these.
 */

export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String(),
      message: Type.String(),
      field: Type.Optional(Type.String()),
    }),
  },
  { $id: 'Error' },
);

/** Ids in paths: positive integers of a sane size (the index's ids are 64-bit at most). */
export const IdParams = Type.Object(
  { id: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) },
  { additionalProperties: false },
);

export const Tenant = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  createdAt: Type.Integer(),
});

export const Token = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  createdAt: Type.Integer(),
  expiresAt: Type.Union([Type.Integer(), Type.Null()]),
  lastUsedAt: Type.Union([Type.Integer(), Type.Null()]),
});

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

export const Progress = Type.Object({
  dirsListed: Type.Integer(),
  dirsQueued: Type.Integer(),
  dirs: Type.Integer(),
  files: Type.Integer(),
  bytes: Type.Integer(),
  created: Type.Integer(),
  updated: Type.Integer(),
  deleted: Type.Integer(),
  unchanged: Type.Integer(),
  errors: Type.Integer(),
  ratePerSec: Type.Number(),
  at: Type.Integer(),
});

export const ScanStatus = Type.Union([
  Type.Literal('queued'),
  Type.Literal('running'),
  Type.Literal('succeeded'),
  Type.Literal('partial'),
  Type.Literal('failed'),
  Type.Literal('cancelled'),
  Type.Literal('interrupted'),
]);

export const Scan = Type.Object({
  id: Type.Integer(),
  storageId: Type.Integer(),
  status: ScanStatus,
  startedAt: Type.Integer(),
  finishedAt: Nullable(Type.Integer()),
  durationMs: Type.Integer(),
  dirs: Type.Integer(),
  files: Type.Integer(),
  mediaFiles: Type.Integer(),
  bytes: Type.Integer(),
  created: Type.Integer(),
  updated: Type.Integer(),
  deleted: Type.Integer(),
  unchanged: Type.Integer(),
  skipped: Type.Integer(),
  errors: Type.Integer(),
  invalidEntries: Type.Integer(),
  errorSample: Type.Array(
    Type.Object({ path: Type.String(), code: Type.String(), message: Type.String() }),
  ),
  cancelRequested: Type.Boolean(),
  progress: Nullable(Type.Partial(Progress)),
});

export const Storage = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  kind: Type.String(),
  location: Type.String(),
  /** Options with every secret left out; `secrets` names the ones that are set. */
  options: Type.Record(Type.String(), Type.Unknown()),
  secrets: Type.Array(Type.String()),
  enabled: Type.Boolean(),
  maxConcurrency: Nullable(Type.Integer()),
  schedule: Type.Object({ every: Nullable(Type.String()), cron: Nullable(Type.String()) }),
  version: Type.Integer(),
  createdAt: Type.Integer(),
  updatedAt: Type.Integer(),
  lastScan: Nullable(Scan),
});

export const Entry = Type.Object({
  id: Type.Integer(),
  storageId: Type.Integer(),
  path: Type.String(),
  name: Type.String(),
  isDir: Type.Boolean(),
  size: Type.Integer(),
  mtime: Type.Integer({
    description:
      'Modified, ms since the epoch; 0 when the storage gives no time (an S3 prefix has none)',
  }),
  mediaKind: Nullable(Type.String()),
});

export const EntryPage = Type.Object({ items: Type.Array(Entry), next: Nullable(Type.String()) });

export const Stats = Type.Object({
  files: Type.Integer(),
  dirs: Type.Integer(),
  bytes: Type.Integer(),
  byMediaKind: Type.Array(
    Type.Object({
      mediaKind: Nullable(Type.String()),
      files: Type.Integer(),
      bytes: Type.Integer(),
    }),
  ),
  largestDirs: Type.Array(
    Type.Object({ path: Type.String(), files: Type.Integer(), bytes: Type.Integer() }),
  ),
});

export const Items = <T extends TSchema>(t: T) => Type.Object({ items: Type.Array(t) });

/** Names of tenants, tokens and storages. */
export const Name = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
});

export type ScanView = Static<typeof Scan>;
export type StorageView = Static<typeof Storage>;
