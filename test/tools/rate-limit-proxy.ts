/**
 * An HTTP proxy on 127.0.0.1 that answers a share of requests with
 * `429 Too Many Requests` + `Retry-After` and forwards the rest: a rate-limited WebDAV (or
 * S3) server, made from a real one.
 *
 * The share is exact and deterministic (no randomness): with share 0.3, requests 4, 7, 11,
 * 14, … of every ten are refused — the same run every time, so tests assert exact outcomes.
 */
import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { LOOPBACK } from '../servers/util.js';

export interface RateLimitProxyOptions {
  targetPort: number;
  /** Fraction of requests answered 429, from 0 to 1. */
  share: number;
  /** `Retry-After` value sent with each 429 (seconds); none when undefined. @default '1' */
  retryAfter?: string | undefined;
}

export interface RateLimitProxy {
  readonly port: number;
  readonly url: string;
  /** Requests seen, requests refused with 429, requests forwarded. */
  readonly stats: { requests: number; limited: number; forwarded: number };
  close(): Promise<void>;
}

export async function startRateLimitProxy(options: RateLimitProxyOptions): Promise<RateLimitProxy> {
  if (!(options.share >= 0 && options.share <= 1)) {
    throw new RangeError(`Expected \`share\` to be from 0 to 1, got ${options.share}`);
  }
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const stats = { requests: 0, limited: 0, forwarded: 0 };
  const retryAfter = 'retryAfter' in options ? options.retryAfter : '1';
  let debt = 0;

  const refuse = (res: ServerResponse) => {
    stats.limited++;
    const headers: Record<string, string> = { 'Content-Type': 'text/plain' };
    if (retryAfter !== undefined) headers['Retry-After'] = retryAfter;
    res.writeHead(429, headers);
    res.end('slow down\n');
  };

  const forward = (req: IncomingMessage, res: ServerResponse) => {
    stats.forwarded++;
    const upstream = request(
      {
        host: LOOPBACK,
        port: options.targetPort,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  };

  const server = createServer((req, res) => {
    stats.requests++;
    debt += options.share;
    if (debt >= 1 - 1e-9) {
      debt -= 1;
      req.resume();
      req.on('end', () => refuse(res));
      return;
    }
    forward(req, res);
  });
  server.keepAliveTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    url: `http://${LOOPBACK}:${port}`,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        agent.destroy();
        server.close(() => resolve());
      }),
  };
}
