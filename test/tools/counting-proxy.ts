/**
 * An HTTP proxy on 127.0.0.1 that counts the requests in flight at the server's door: from
 * the moment a request arrives to the moment its answer has been sent whole. What the caps
 * promise is measured here, outside trawl, whatever its processes believe. Answers can be
 * held back a fixed time (a slow server), so that requests overlap.
 */
import { Agent, createServer, request, type IncomingMessage, type Server } from 'node:http';
import { LOOPBACK } from '../servers/util.js';

export interface CountingProxy {
  readonly port: number;
  /** Requests in flight now, and the most seen at once: overall and per group. */
  readonly inFlight: number;
  readonly most: number;
  mostOf(group: string): number;
  /** Requests answered, overall. */
  readonly total: number;
  /** Forgets the most seen so far (the current counts stay). */
  reset(): void;
  close(): Promise<void>;
}

export interface CountingProxyOptions {
  targetPort: number;
  /** Held before an answer is passed on. @default 0 */
  latencyMs?: number;
  /** The group a request counts in (a tenant, by its path): none when undefined. */
  groupOf?: (path: string) => string | undefined;
}

export async function startCountingProxy(options: CountingProxyOptions): Promise<CountingProxy> {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const groups = new Map<string, { now: number; most: number }>();
  let inFlight = 0;
  let most = 0;
  let total = 0;
  const server: Server = createServer((req, res) => {
    const group = options.groupOf?.(req.url ?? '/');
    const g = group === undefined ? undefined : (groups.get(group) ?? { now: 0, most: 0 });
    if (group !== undefined) groups.set(group, g!);
    inFlight++;
    most = Math.max(most, inFlight);
    if (g) g.most = Math.max(g.most, ++g.now);
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      inFlight--;
      if (g) g.now--;
      total++;
    };
    res.on('finish', end);
    res.on('close', end);
    const upstream = request(
      {
        host: LOOPBACK,
        port: options.targetPort,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent,
      },
      (answer: IncomingMessage) => {
        const pass = () => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        };
        if (options.latencyMs) setTimeout(pass, options.latencyMs);
        else pass();
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    get inFlight() {
      return inFlight;
    },
    get most() {
      return most;
    },
    mostOf: (group) => groups.get(group)?.most ?? 0,
    get total() {
      return total;
    },
    reset() {
      most = inFlight;
      for (const g of groups.values()) g.most = g.now;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        agent.destroy();
        server.close(() => resolve());
      }),
  };
}
