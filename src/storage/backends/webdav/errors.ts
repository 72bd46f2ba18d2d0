/**
 * Every native WebDAV failure (an HTTP status, a socket or TLS error code, a deadline of
 * trawl's own) becomes a StorageError here, and nowhere else.
 */
import {
  AuthFailedError,
  InvalidConfigError,
  NotFoundError,
  PermissionDeniedError,
  ProtocolError,
  RateLimitedError,
  StorageError,
  TimeoutError,
  UnavailableError,
} from '../../errors.js';

const SOCKET_UNAVAILABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  // The response stream ended before its end: the connection went away mid-answer.
  'ERR_STREAM_PREMATURE_CLOSE',
]);

export interface HttpFailure {
  status?: number;
  retryAfter?: string | undefined;
  /** Node / OpenSSL error code for failures below HTTP. */
  code?: string | undefined;
  message?: string;
}

/** Parses Retry-After (seconds or an HTTP date) into milliseconds from now. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Every native WebDAV failure becomes a StorageError here, and nowhere else. */
export function mapWebdavError(failure: HttpFailure, path: string, where: string): StorageError {
  const at = `${where} (${path})`;
  const { status, code } = failure;
  if (status !== undefined) {
    const retryAfterMs = parseRetryAfter(failure.retryAfter);
    switch (status) {
      case 401:
        return new AuthFailedError(`${at}: 401 Unauthorized: wrong or missing credentials`, {
          path,
        });
      case 403:
        return new PermissionDeniedError(`${at}: 403 Forbidden`, { path });
      case 404:
      case 410:
        return new NotFoundError(`${at}: ${status}: no such directory`, { path });
      case 405:
      case 501:
        return new InvalidConfigError(
          `${at}: ${status}: the server does not accept PROPFIND here; is this a WebDAV URL?`,
          { path },
        );
      case 408:
      case 504:
        return new TimeoutError(`${at}: ${status}: the server timed out`, { path });
      case 507:
        // RFC 4918: the server will not compute an answer this large. Asking again will not help.
        return new ProtocolError(
          `${at}: 507 Insufficient Storage: the server refuses to answer for this many entries`,
          { path, retryable: false },
        );
      case 429:
        return new RateLimitedError(`${at}: 429 Too Many Requests`, { path, retryAfterMs });
      case 500:
      case 502:
      case 503:
        return new UnavailableError(`${at}: ${status} from the server`, {
          path,
          retryAfterMs,
        });
      default:
        if (status >= 300 && status < 400) {
          return new ProtocolError(`${at}: unexpected redirect (${status}); not followed`, {
            path,
          });
        }
        return new ProtocolError(`${at}: unexpected HTTP status ${status}`, {
          path,
          retryable: status >= 500,
        });
    }
  }
  const message = failure.message ?? 'request failed';
  if (code === 'TIMEOUT' || code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT') {
    return new TimeoutError(`${at}: ${message}`, { path });
  }
  if (code !== undefined && SOCKET_UNAVAILABLE.has(code)) {
    return new UnavailableError(`${at}: ${code}: ${message}`, { path });
  }
  if (code !== undefined && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) {
    return new InvalidConfigError(
      `${at}: TLS certificate not trusted (${code}); set insecure=true only for a server you trust`,
      { path },
    );
  }
  return new ProtocolError(`${at}: ${code ? `${code}: ` : ''}${message}`, { path });
}
