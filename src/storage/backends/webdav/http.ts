/**
 * One PROPFIND exchange, with every wait bounded by trawl's own timers and the caller's
 * abort signal: establishing the connection (TCP and TLS) by `connectTimeoutMs`, the wait
 * for the answer's head and every wait for the next piece of its body by `answerTimeoutMs`
 * — time without progress, so a listing of millions of entries may take as long as it
 * streams. The body is read only when the caller asks for the next piece: while the caller
 * is busy (a page waiting for the database), the socket is not read and TCP holds the
 * server back, so a fast server cannot fill memory.
 */
import {
  request as httpRequest,
  type Agent as HttpAgent,
  type ClientRequest,
  type IncomingMessage,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { ProtocolError, StorageError, cancelledError } from '../../errors.js';
import { mapWebdavError } from './errors.js';

/** Only what the scan needs: an empty body makes many servers compute every property. */
const PROPFIND_BODY =
  '<?xml version="1.0" encoding="utf-8"?>\n' +
  '<d:propfind xmlns:d="DAV:"><d:prop>' +
  '<d:resourcetype/><d:getcontentlength/><d:getlastmodified/><d:getetag/>' +
  '</d:prop></d:propfind>';

/**
 * An error answer's body is read to its end (up to this) so that the connection stays alive
 * for the next request — a 429 storm must not become a reconnect storm; a longer one costs
 * the connection.
 */
const ERROR_BODY_BYTES = 64 * 1024;

/** What every request of the client names: where, how, and how long each wait may be. */
export interface WebdavRequest {
  /** The server: protocol, host and port are used. */
  base: URL;
  /** Encoded request path. */
  path: string;
  agent: HttpAgent;
  authorization: string | undefined;
  connectTimeoutMs: number;
  /** The longest wait for the answer's head, and then for each piece of its body. */
  answerTimeoutMs: number;
  /** The option that set it, for messages (`timeoutMs`). */
  answerTimeoutOption: string;
  signal: AbortSignal | undefined;
  /** Storage path the request is about, for errors. */
  dir: string;
  /** `PROPFIND http://host`, for messages. */
  where: string;
}

export interface PropfindRequest extends WebdavRequest {
  depth: '0' | '1';
}

/** The part of an exchange that differs between PROPFIND and GET. */
interface Verb {
  method: string;
  headers: Record<string, string | number>;
  body: string;
  /** Statuses whose body the caller reads; any other is refused. */
  accepts: readonly number[];
  /** The answer expected, for the message of a 2xx that is not accepted. */
  expected: string;
}

/** A 207 answer whose body is read piece by piece. */
export interface PropfindAnswer {
  /** The next piece of the body; null once it ended complete. Throws a StorageError. */
  read(): Promise<Buffer | null>;
  /** Ends the exchange: a body not read to its end costs its connection. Never throws. */
  close(): void;
}

/**
 * Sends a PROPFIND and waits for a 207 answer's head; any other answer is read (briefly) and
 * thrown as its StorageError. A kept-alive socket the server closed while idle fails at once
 * on reuse: the request is sent once more on a fresh connection, the documented remedy.
 */
export async function propfind(request: PropfindRequest): Promise<PropfindAnswer> {
  return send(request, {
    method: 'PROPFIND',
    headers: {
      Depth: request.depth,
      'Content-Type': 'application/xml; charset=utf-8',
      'Content-Length': Buffer.byteLength(PROPFIND_BODY),
    },
    body: PROPFIND_BODY,
    accepts: [207],
    expected: '207 Multi-Status',
  });
}

/**
 * The first `bytes` bytes of a file: GET with `Range: bytes=0-(bytes-1)`. A server may answer
 * 206 with the range or 200 with the whole file: either way no more than `bytes` are kept,
 * and a 200 body is cut off there (its connection goes with it). 416 is a file that became
 * empty since it was listed. Every wait is bounded as for PROPFIND, by `answerTimeoutMs`.
 */
export async function getHead(request: WebdavRequest, bytes: number): Promise<Uint8Array> {
  const answer = await send(request, {
    method: 'GET',
    headers: { Range: `bytes=0-${bytes - 1}` },
    body: '',
    accepts: [200, 206, 416],
    expected: '200 or 206',
  });
  try {
    if (answer.status === 416) return new Uint8Array();
    const head = Buffer.alloc(bytes);
    let got = 0;
    while (got < bytes) {
      const chunk = await answer.read();
      if (chunk === null) break;
      const take = Math.min(chunk.length, bytes - got);
      chunk.copy(head, got, 0, take);
      got += take;
    }
    // A 206 of exactly the range is at its end: one more read lets the connection be reused
    // (a chunk more at most, dropped). A 200 of a larger file is cut off instead.
    if (got === bytes && answer.status === 206) await answer.read();
    return head.subarray(0, got);
  } finally {
    answer.close();
  }
}

async function send(request: WebdavRequest, verb: Verb): Promise<Exchange> {
  try {
    return await new Exchange(request, verb).start();
  } catch (error) {
    if ((error as { reusedSocket?: boolean }).reusedSocket) {
      return new Exchange(request, verb).start();
    }
    throw error;
  }
}

class Exchange implements PropfindAnswer {
  readonly #o: WebdavRequest;
  readonly #verb: Verb;
  #req: ClientRequest | undefined;
  #res: IncomingMessage | undefined;
  #body: AsyncIterator<Buffer> | undefined;
  #timer: NodeJS.Timeout | undefined;
  /**
   * Rejects the one wait under way when the exchange fails (deadline, abort, socket error).
   * Not a long-lived promise raced against each wait: every race would leave a reaction on
   * it holding that wait's result, so a listing would keep every chunk it read.
   */
  #waiter: ((error: StorageError) => void) | undefined;
  #failure: StorageError | undefined;
  #ended = false;
  #closed = false;
  readonly #onAbort = () => this.#abandon(cancelledError(this.#o.dir));

  constructor(request: WebdavRequest, verb: Verb) {
    this.#o = request;
    this.#verb = verb;
  }

  /** The answer's status, once {@link start} has resolved. */
  get status(): number {
    return this.#res?.statusCode ?? 0;
  }

  async start(): Promise<Exchange> {
    const o = this.#o;
    if (o.signal?.aborted) throw cancelledError(o.dir);
    o.signal?.addEventListener('abort', this.#onAbort, { once: true });
    try {
      const res = await this.#until(this.#send());
      this.#res = res;
      const status = res.statusCode ?? 0;
      if (!this.#verb.accepts.includes(status)) throw await this.#refusal(res, status);
      this.#body = res[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      return this;
    } catch (error) {
      this.close();
      throw error;
    }
  }

  async read(): Promise<Buffer | null> {
    if (this.#ended) return null;
    const body = this.#body!;
    this.#arm(this.#o.answerTimeoutMs, 'the answer stalled: no data', this.#o.answerTimeoutOption);
    let step: IteratorResult<Buffer>;
    try {
      step = await this.#until(body.next());
    } catch (error) {
      throw this.#failure ?? this.#mapped(error);
    } finally {
      this.#disarm();
    }
    if (!step.done) return step.value;
    if (!this.#res!.complete) {
      throw this.#mapped({
        code: 'ECONNRESET',
        message: 'connection closed before the answer was complete',
      });
    }
    this.#ended = true;
    this.close();
    return null;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#disarm();
    this.#o.signal?.removeEventListener('abort', this.#onAbort);
    // A body not read to its end leaves unread bytes on the connection: it cannot be reused.
    if (!this.#ended) {
      this.#res?.destroy();
      this.#req?.destroy();
    }
  }

  /** Sends the request; resolves with the answer's head. */
  #send(): Promise<IncomingMessage> {
    const o = this.#o;
    const headers = { ...this.#verb.headers };
    if (o.authorization) headers.Authorization = o.authorization;
    const tls = o.base.protocol === 'https:';
    const req = (tls ? httpsRequest : httpRequest)({
      protocol: o.base.protocol,
      hostname: o.base.hostname,
      port: o.base.port || undefined,
      method: this.#verb.method,
      path: o.path,
      headers,
      agent: o.agent,
    });
    this.#req = req;
    // Waiting for a free socket of the pool counts as waiting for the answer.
    this.#arm(o.answerTimeoutMs, 'no answer', o.answerTimeoutOption);
    req.on('socket', (socket: Socket) => {
      if (req.reusedSocket || this.#closed) return;
      this.#arm(o.connectTimeoutMs, 'no connection', 'connectTimeoutMs');
      socket.once(tls ? 'secureConnect' : 'connect', () => {
        if (this.#req === req && !this.#closed && this.#res === undefined) {
          this.#arm(o.answerTimeoutMs, 'no answer', o.answerTimeoutOption);
        }
      });
    });
    return new Promise<IncomingMessage>((resolve, reject) => {
      let answered = false;
      req.on('error', (error: NodeJS.ErrnoException) => {
        const mapped = this.#mapped(error);
        // Only a request that never got an answer on a reused socket may be sent again.
        if (req.reusedSocket && !answered) Object.assign(mapped, { reusedSocket: true });
        if (answered) this.#abandon(mapped);
        else reject(mapped);
      });
      req.on('response', (res: IncomingMessage) => {
        answered = true;
        this.#disarm();
        resolve(res);
      });
      req.end(this.#verb.body);
    });
  }

  /** The error for an answer other than 207, once its (short) body has been read. */
  async #refusal(res: IncomingMessage, status: number): Promise<StorageError> {
    const o = this.#o;
    const error =
      status >= 200 && status < 300
        ? new ProtocolError(
            `${o.where} (${o.dir}): expected ${this.#verb.expected}, got ${status}`,
            { path: o.dir },
          )
        : mapWebdavError({ status, retryAfter: res.headers['retry-after'] }, o.dir, o.where);
    this.#body = res[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    let bytes = 0;
    try {
      while (bytes <= ERROR_BODY_BYTES) {
        const chunk = await this.read();
        if (chunk === null) return error;
        bytes += chunk.length;
      }
    } catch (caught) {
      // An abort is the caller's news; a broken error body changes nothing about the answer.
      if ((caught as StorageError).code === 'CANCELLED') throw caught;
    }
    return error;
  }

  /** `work`, or the exchange's failure if that comes first. */
  #until<T>(work: Promise<T>): Promise<T> {
    if (this.#failure) {
      work.catch(() => undefined);
      return Promise.reject(this.#failure);
    }
    return new Promise<T>((resolve, reject) => {
      this.#waiter = reject;
      work.then(
        (value) => {
          this.#waiter = undefined;
          resolve(value);
        },
        (error: unknown) => {
          this.#waiter = undefined;
          reject(error);
        },
      );
    });
  }

  #arm(ms: number, what: string, option: string): void {
    this.#disarm();
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#abandon(
        this.#mapped({ code: 'TIMEOUT', message: `${what} within ${ms} ms (${option})` }),
      );
    }, ms);
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Fails the exchange now: whatever it waits for ends with `error`, its socket is gone. */
  #abandon(error: StorageError): void {
    if (this.#failure) return;
    this.#failure = error;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.(error);
    this.close();
  }

  #mapped(error: unknown): StorageError {
    // Already decided (the address policy refused the connection): kept as it is.
    if (error instanceof StorageError) return error;
    const e = error as NodeJS.ErrnoException;
    return mapWebdavError(
      { code: e.code ?? 'ECONNRESET', message: e.message ?? String(error) },
      this.#o.dir,
      this.#o.where,
    );
  }
}
