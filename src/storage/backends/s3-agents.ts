/**
 * The S3 backend's HTTP agents, apart from s3-http.ts: classes that extend Node's `http` and
 * `https` agents load `http`, `https`, `tls` and `net` when their module runs (~6 ms of CPU),
 * and the registry loads s3.ts for every command. s3.ts imports this file at its first
 * connect, with the SDK (bench:startup, docs/benchmarks.md).
 */
import { Agent as HttpAgent, type AgentOptions, type ClientRequestArgs } from 'node:http';
import { Agent as HttpsAgent, type AgentOptions as HttpsAgentOptions } from 'node:https';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { ConnectTimeoutError } from './s3-http.js';

/** Destroys `socket` unless it connects (TCP, then TLS for a TLS socket) within `ms`. */
function guardConnect(socket: Duplex | null | undefined, ms: number): void {
  if (!(socket instanceof Socket)) return;
  const event = socket instanceof TLSSocket ? 'secureConnect' : 'connect';
  const timer = setTimeout(() => socket.destroy(new ConnectTimeoutError(ms)), ms);
  const done = () => {
    clearTimeout(timer);
    socket.off(event, done);
    socket.off('close', done);
  };
  socket.once(event, done);
  socket.once('close', done);
}

/** An HTTP agent whose new connections must be established within `connectTimeoutMs`. */
export class ConnectTimeoutHttpAgent extends HttpAgent {
  constructor(
    options: AgentOptions,
    readonly connectTimeoutMs: number,
  ) {
    super(options);
  }

  override createConnection(
    options: ClientRequestArgs,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    const socket = super.createConnection(options, callback);
    guardConnect(socket, this.connectTimeoutMs);
    return socket;
  }
}

/** The HTTPS agent, the same way: the TLS handshake is part of the connect. */
export class ConnectTimeoutHttpsAgent extends HttpsAgent {
  constructor(
    options: HttpsAgentOptions,
    readonly connectTimeoutMs: number,
  ) {
    super(options);
  }

  override createConnection(
    options: ClientRequestArgs,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    const socket = super.createConnection(options, callback);
    guardConnect(socket, this.connectTimeoutMs);
    return socket;
  }
}
