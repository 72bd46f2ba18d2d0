/**
 * A TCP proxy on 127.0.0.1 for tests and benches: adds a fixed one-way latency to every
 * chunk in both directions (a WAN link on loopback), and can cut the server's answer
 * after N bytes to play a server that dies mid-response. It also plays the network
 * failing under a client: every connection dropped (a server restart), the proxy gone
 * (nothing listens any more), or every connection frozen (a stalled link or a paused
 * host: the kernel still accepts and acknowledges, nothing moves).
 *
 * Nagle is off on both legs: with it on, delayed ACKs add ~40 ms stalls to small
 * request/response exchanges that no real link has (Linux holds an ACK back for up to
 * 40 ms, and under Nagle a small write waits for the ACK of the one before).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { LOOPBACK } from '../servers/util.js';

export interface TcpProxyOptions {
  targetPort: number;
  /** @default 127.0.0.1 */
  targetHost?: string;
  /** Added to every chunk in each direction. @default 0 */
  latencyMs?: number;
  /** @default an OS-chosen port */
  port?: number;
}

export interface TcpProxy {
  readonly port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /**
   * After `bytes` more bytes from the server (all connections together), forwards no more:
   * calls `onCut` (kill the server), then drops every connection and refuses new ones.
   */
  cutAfter(bytes: number, onCut?: () => unknown): void;
  /**
   * Resolves right after the client has sent a chunk holding `text` (a statement's SQL, say),
   * forwarded to the server: the moment to break the link with that request in flight.
   */
  when(text: string): Promise<void>;
  /** Drops every open connection at once; new connections are still forwarded. */
  dropConnections(): void;
  /** Drops every open connection and stops listening: new connections are refused. */
  kill(): Promise<void>;
  /**
   * Stops moving bytes in both directions on every connection, open or new, without closing
   * any: what a client sees when the link stalls or the proxy process is SIGSTOPped.
   */
  freeze(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(options: TcpProxyOptions): Promise<TcpProxy> {
  const latency = options.latencyMs ?? 0;
  const sockets = new Set<Socket>();
  let connections = 0;
  let refusing = false;
  let frozen = false;
  let listening = true;
  let cut: { left: number; onCut: (() => unknown) | undefined } | undefined;
  const watches = new Set<{ text: string; resolve: () => void }>();

  const forward = (data: Buffer, to: Socket) => {
    if (latency > 0) {
      // Equal delays fire in creation order, so the byte stream stays in order.
      setTimeout(() => to.destroyed || to.write(data), latency);
    } else if (!to.destroyed) {
      to.write(data);
    }
  };

  const cutNow = async (onCut: (() => unknown) | undefined) => {
    refusing = true;
    try {
      await onCut?.();
    } finally {
      for (const s of sockets) s.destroy();
      sockets.clear();
    }
  };

  const dropAll = () => {
    for (const s of sockets) s.destroy();
    sockets.clear();
  };

  const server: Server = createServer((client) => {
    connections++;
    if (refusing) {
      client.destroy();
      return;
    }
    if (frozen) {
      // Accepted by the kernel, never answered: held open until the proxy closes.
      client.pause();
      sockets.add(client);
      client.on('error', () => client.destroy());
      return;
    }
    const upstream = createConnection({
      host: options.targetHost ?? LOOPBACK,
      port: options.targetPort,
    });
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('data', (data: Buffer) => {
      forward(data, upstream);
      for (const w of watches) {
        if (!data.includes(w.text)) continue;
        watches.delete(w);
        w.resolve();
      }
    });
    upstream.on('data', (data: Buffer) => {
      if (refusing) return;
      if (cut) {
        if (data.length >= cut.left) {
          const onCut = cut.onCut;
          const head = data.subarray(0, cut.left);
          cut = undefined;
          if (head.length > 0) client.write(head);
          upstream.pause();
          void cutNow(onCut);
          return;
        }
        cut.left -= data.length;
      }
      forward(data, client);
    });
    const end = (to: Socket) => () => {
      if (latency > 0) setTimeout(() => to.end(), latency);
      else to.end();
    };
    client.on('end', end(upstream));
    upstream.on('end', end(client));
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', () => sockets.delete(client));
    upstream.on('close', () => sockets.delete(upstream));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, LOOPBACK, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    port,
    get connections() {
      return connections;
    },
    cutAfter(bytes, onCut) {
      cut = { left: bytes, onCut };
    },
    when: (text) => new Promise<void>((resolve) => watches.add({ text, resolve })),
    dropConnections: dropAll,
    kill: () =>
      new Promise<void>((resolve) => {
        refusing = true;
        dropAll();
        listening = false;
        server.close(() => resolve());
      }),
    freeze() {
      frozen = true;
      // Paused sockets read nothing more: what is in flight stays in the kernel's buffers.
      for (const s of sockets) s.pause();
    },
    close: () =>
      new Promise<void>((resolve) => {
        dropAll();
        if (!listening) return resolve();
        listening = false;
        server.close(() => resolve());
      }),
  };
}
