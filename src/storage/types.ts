/**
 * The storage contract. One small interface per kind of storage; everything above it
 * (StorageService, scan engine) is written against this file only.
 *
 * Paths are POSIX-style and rooted at the storage's root: the root is `/`, a child of the
 * root is `/name`, there is never a trailing slash (except the root itself) and never a
 * `.` or `..` segment. Names are byte-for-byte what the server gave (no Unicode
 * normalisation), with `/` as the only separator.
 */

import type { AddressPolicy } from './net/address-policy.js';
import type { OptionSchema } from './options.js';

/**
 * Why an entry was listed but is not indexed. `excluded` is set by the scan (an exclude
 * pattern or a marker file), never by a backend.
 */
export type SkipReason = 'symlink' | 'special' | 'loop' | 'unreadable' | 'excluded';

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

/** Entries per page of a listing at most: what one page may cost in memory is bounded. */
export const PAGE_ENTRIES = 1000;

export interface ListOptions {
  signal?: AbortSignal;
  /**
   * This listing starts a new walk (a scan's first directory, whatever it is): nothing a
   * backend listed ahead for an earlier walk may answer it or its subdirectories.
   */
  newWalk?: boolean;
}

export interface ReadHeadOptions {
  signal?: AbortSignal;
}

/**
 * One directory's listing, or one page of it, as yielded by {@link StorageClient.listTree}.
 * A directory too large for one page comes as several, all but the last with `more: true`;
 * the last (`more` unset) says the directory's listing is complete.
 */
export interface TreeListing {
  dir: string;
  /**
   * Its entries. The local backend yields `PackedListing`s (storage/packed.ts), whose
   * entries are made on first read: a caller that can read the packed arrays in place
   * should not touch this.
   */
  entries: Entry[];
  /** More pages of this directory follow later in the iteration. */
  more?: boolean;
  /**
   * This directory could not be listed (whole, or from this piece on): the pieces before it
   * are true, but the listing is not complete, so nothing in it may be deleted. The walk goes
   * on with other directories. Set only by backends that walk a tree themselves (local).
   */
  error?: unknown;
  /**
   * This directory comes in several pieces because it is too large to list whole, not
   * because of the listing's order (S3's pieces split around subdirectories): a caller that
   * must know some of its names before taking the first piece may read them (`readHead`).
   */
  large?: boolean;
}

export interface TreeOptions extends ListOptions {
  /**
   * Whether to list a subdirectory, asked once the piece that holds it has been taken (so the
   * caller's rules for it are settled): false prunes its subtree, unlisted. A backend whose
   * native listing is flat (S3) lists everything anyway and may ignore it.
   */
  descend?: (dir: string) => boolean;
}

export interface StorageClient {
  /** Opens connections / sessions. Throws a StorageError (AUTH_FAILED, UNAVAILABLE, …). */
  connect(): Promise<void>;
  /** Releases everything; never throws. Safe to call twice. */
  close(): Promise<void>;
  /** Cheap liveness probe (e.g. stat of the root). Throws a StorageError when dead. */
  check(): Promise<void>;
  /**
   * One directory's listing, in pages (at most {@link PAGE_ENTRIES} entries each, in no
   * particular order), so that a directory of millions of entries is never held whole.
   *
   * The listing is complete only when the iteration ends without throwing: the scan deletes
   * index entries on the strength of a complete listing, so a listing that silently lost
   * entries would delete real data. A throw after some pages means "these entries are true,
   * but the listing is not whole": the scan keeps them and deletes nothing in the directory.
   * So a backend that meets entries it cannot read (a bad name, size or time) yields the
   * good ones and throws a PROTOCOL error at the end, and one whose server says it cut the
   * listing short (FTP "output truncated", WebDAV 507) throws at the end too.
   *
   * `NOT_FOUND` when the directory does not exist, `PERMISSION_DENIED` when it may not be
   * read. A small directory's single page is yielded only once its answer is whole, so a
   * failure before the first page can be retried as one request.
   */
  list(dir: string, options?: ListOptions): AsyncIterable<Entry[]>;
  /**
   * Optional: every directory's listing under `root`, for stores whose native listing is
   * flat (S3), or that walk a tree cheaper themselves (local). Yields each directory once (or
   * in pages, see {@link TreeListing.more}), a directory's first page before any of its
   * children; a step may yield several, in that order, as an array (listings already at
   * hand: one step's bookkeeping for them all). The engine prefers it when present and the
   * scan is recursive without a depth limit, from one root.
   */
  listTree?(root: string, options?: TreeOptions): AsyncIterable<TreeListing | TreeListing[]>;
  /**
   * Optional: the first `bytes` bytes of the file at `path` (fewer when the file is shorter),
   * for backends where that is one cheap read (local; one request on WebDAV, S3, SFTP), never
   * more than `bytes` kept whatever a server sends. The scan uses it to tell a video `.ts`
   * from a TypeScript one; backends without it are judged by context. `NOT_FOUND` when the
   * file is gone, `PERMISSION_DENIED` when it may not be read; something that is not a
   * regular file (a FIFO put there since the listing) yields no bytes and never blocks.
   */
  readHead?(path: string, bytes: number, options?: ReadHeadOptions): Promise<Uint8Array>;
}

/** What a registry entry knows about a kind of storage. */
/** How a storage of one kind is written as a URL: for help texts, docs and error messages. */
export interface UrlForm {
  /** The pattern, optional parts in brackets: `webdav[s]://[user[:password]@]host[:port]/path`. */
  pattern: string;
  /**
   * What the part after `://` must name (`host`, `bucket`), so `webdav://` alone is told what
   * is missing; absent when it may be empty (`file:///dir`).
   */
  names?: string;
  /** One short line more: what a scheme variant or a common option does. */
  note?: string;
  /** A URL that parses, for `--help`. */
  example: string;
  /** Left out of `--help`: of no use from the command line (`memory://`, tests only). */
  hidden?: boolean;
}

export interface BackendInfo<Options = unknown> {
  /** URL schemes that name this kind (`webdav`, `webdavs`…); empty for kinds without a URL form. */
  schemes: readonly string[];
  /** How the URL is written (`trawl --help`, docs/storages.md, a URL missing its host). */
  url: UrlForm;
  /**
   * Every option, declared once (type, default, bounds, doc, `secret`): {@link parseOptions}
   * and {@link redact} are derived from it (see `defineBackend`), and so are the stored form
   * (secrets sealed) and the docs.
   */
  options: OptionSchema;
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
  /**
   * The SSRF guard (`trawl serve`): every connection the client opens, at every connect, goes
   * only where the policy allows, and a local storage only to an allowed folder; a refusal
   * is a FORBIDDEN_ADDRESS error. @default none: connect anywhere (the CLI)
   */
  addressPolicy?: AddressPolicy;
}
