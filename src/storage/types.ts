/**
 * The storage contract. One small interface per kind of storage; everything above it
 * (StorageService, scan engine) is written against this file only.
 *
 * Paths are POSIX-style and rooted at the storage's root: the root is `/`, a child of the
 * root is `/name`, there is never a trailing slash (except the root itself) and never a
 * `.` or `..` segment. Names are byte-for-byte what the server gave (no Unicode
 * normalisation), with `/` as the only separator.
 */

/** Why an entry was listed but is not indexed. */
export type SkipReason = 'symlink' | 'special' | 'loop' | 'unreadable';

export interface Entry {
  /** Storage-relative path, e.g. `/music/a.flac`. */
  path: string;
  /** Last path segment. */
  name: string;
  isDir: boolean;
  /** Bytes; 0 for directories where the protocol gives none. */
  size: number;
  /** Modification time, milliseconds since the epoch, to the precision the protocol gives. */
  mtime: number;
  /** Server-side version tag (WebDAV getetag, S3 ETag), when the protocol has one. */
  etag?: string;
  /**
   * Set when the entry exists but trawl does not index it (a symlink that is not followed,
   * a device or socket, a symlink loop). The scan counts it as skipped and leaves it out
   * of the index.
   */
  skip?: SkipReason;
}

export interface ListOptions {
  signal?: AbortSignal;
}

/** One directory's complete listing, as yielded by {@link StorageClient.listTree}. */
export interface TreeListing {
  dir: string;
  entries: Entry[];
}

export interface StorageClient {
  /** Opens connections / sessions. Throws a StorageError (AUTH_FAILED, UNAVAILABLE, …). */
  connect(): Promise<void>;
  /** Releases everything; never throws. Safe to call twice. */
  close(): Promise<void>;
  /** Cheap liveness probe (e.g. stat of the root). Throws a StorageError when dead. */
  check(): Promise<void>;
  /**
   * The complete listing of one directory, in no particular order, or a thrown
   * StorageError. Never a partial listing: the scan deletes index entries on the strength
   * of it, so a listing that silently lost entries would delete real data.
   * `NOT_FOUND` when the directory does not exist, `PERMISSION_DENIED` when it may not be read.
   */
  list(dir: string, options?: ListOptions): Promise<Entry[]>;
  /**
   * Optional: every directory's complete listing under `root`, for stores whose native
   * listing is flat (S3). Yields each directory once, parents before children. The engine
   * prefers it when present and the scan is recursive without a depth limit.
   */
  listTree?(root: string, options?: ListOptions): AsyncIterable<TreeListing>;
}

/** What a registry entry knows about a kind of storage. */
export interface BackendInfo<Options = unknown> {
  /** URL schemes that name this kind (`webdav`, `webdavs`…); empty for kinds without a URL form. */
  schemes: readonly string[];
  /** Turns a URL of one of {@link schemes} into raw options for {@link parseOptions}. */
  fromUrl?(url: URL): Record<string, unknown>;
  /** Validates raw options (from a URL, the database or the API) into typed options. Throws InvalidConfigError. */
  parseOptions(raw: unknown): Options;
  /** Builds an unconnected client. */
  create(options: Options, deps: BackendDeps): StorageClient;
  /** Options with secrets replaced, safe to log or print. */
  redact(options: Options): Record<string, unknown>;
  /** A stable string naming where the storage is (used to find a storage again), without secrets. */
  location(options: Options): string;
  /** Default limit key host part (kind + host shares one cap). */
  limitHost(options: Options): string;
}

export interface BackendDeps {
  /** Credentials and settings from the environment, never from a global. */
  env: Readonly<Record<string, string | undefined>>;
}
