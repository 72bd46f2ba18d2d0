/**
 * Typed storage errors. The code says how the scan and the StorageService react:
 * retry, back off, drop the client, or record and move on. Backends map their native
 * errors to these in one function each; nothing above the storage layer sees a native error.
 */
export type StorageErrorCode =
  | 'NOT_FOUND'
  | 'PERMISSION_DENIED'
  | 'AUTH_FAILED'
  | 'UNAVAILABLE'
  | 'TIMEOUT'
  | 'RATE_LIMITED'
  | 'PROTOCOL'
  | 'INVALID_CONFIG'
  | 'CANCELLED'
  /**
   * The storage would connect to an address (or a local folder) the server's SSRF guard
   * refuses: loopback, private, link-local… Never retried: the place, not the moment, is wrong.
   */
  | 'FORBIDDEN_ADDRESS'
  /** A bug in trawl or a backend (a TypeError, say): fails the scan, never hides as PROTOCOL. */
  | 'INTERNAL';

/** Codes that are worth another attempt by default. */
const RETRYABLE: ReadonlySet<StorageErrorCode> = new Set([
  'UNAVAILABLE',
  'TIMEOUT',
  'RATE_LIMITED',
]);

export interface StorageErrorOptions {
  /** Path (storage-relative) the failing request was about, if any. */
  path?: string;
  /** Overrides the code's default. */
  retryable?: boolean;
  /** For RATE_LIMITED: how long the server asked us to wait. */
  retryAfterMs?: number;
  /** Entries of the listing that could not be read (bad name, size or time). */
  invalidEntries?: number;
  cause?: unknown;
}

export class StorageError extends Error {
  readonly code: StorageErrorCode;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly path: string | undefined;
  readonly invalidEntries: number | undefined;

  constructor(code: StorageErrorCode, message: string, options: StorageErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StorageError';
    this.code = code;
    this.retryable = options.retryable ?? RETRYABLE.has(code);
    this.retryAfterMs = options.retryAfterMs;
    this.path = options.path;
    this.invalidEntries = options.invalidEntries;
  }
}

export class NotFoundError extends StorageError {
  constructor(message: string, options?: StorageErrorOptions) {
    super('NOT_FOUND', message, options);
  }
}
export class PermissionDeniedError extends StorageError {
  constructor(message: string, options?: StorageErrorOptions) {
    super('PERMISSION_DENIED', message, options);
  }
}
export class AuthFailedError extends StorageError {
  constructor(message: string, options?: StorageErrorOptions) {
    super('AUTH_FAILED', message, options);
  }
}
export class UnavailableError extends StorageError {
  constructor(message: string, options?: StorageErrorOptions) {
    super('UNAVAILABLE', message, options);
  }
}
export class TimeoutError extends StorageError {
  constructor(message: string, options?: StorageErrorOptions) {
    super('TIMEOUT', message, options);
  }
}
export class RateLimitedError extends StorageError {
  constructor(message: string, options?: StorageErrorOptions) {
    super('RATE_LIMITED', message, options);
  }
}
export class ProtocolError extends StorageError {
  constructor(message: string, options?: StorageErrorOptions) {
    super('PROTOCOL', message, options);
  }
}
export class InvalidConfigError extends StorageError {
  constructor(message: string, options?: StorageErrorOptions) {
    super('INVALID_CONFIG', message, options);
  }
}
export class ForbiddenAddressError extends StorageError {
  constructor(message: string, options?: StorageErrorOptions) {
    super('FORBIDDEN_ADDRESS', message, { ...options, retryable: false });
  }
}

/** The one way a stopped request reports itself, wherever it was stopped. */
export function cancelledError(path?: string): StorageError {
  return new StorageError('CANCELLED', 'cancelled', { path });
}

/**
 * Wraps anything thrown into a StorageError so callers never handle a bare value. Backends
 * map their native errors themselves, so what arrives here unmapped is an abort (CANCELLED)
 * or a bug (INTERNAL, with the original kept as `cause` for its stack).
 */
export function toStorageError(error: unknown, path?: string): StorageError {
  if (error instanceof StorageError) return error;
  if ((error as { name?: unknown } | null)?.name === 'AbortError') return cancelledError(path);
  const message = error instanceof Error ? error.message : String(error);
  return new StorageError('INTERNAL', message, { path, cause: error });
}
