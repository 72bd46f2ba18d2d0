/**
 * One listing's transfer on a logged-in basic-ftp connection, read as it arrives: the command
 * and its replies on the control connection, the bytes on the data connection, split into
 * lines chunk by chunk. Nothing here holds a listing: one network chunk waits at most while
 * the caller works on the one before, and the data socket is paused while the caller is not
 * pulling (backpressure reaches the server through TCP).
 *
 * Every wait is bounded by trawl's own timer, not the library's: `idleMs` is the longest the
 * server may stay silent (no reply, no byte) while trawl waits for it, however long the whole
 * listing takes; time the caller spends on its own (the index is slow) does not count. An
 * aborted signal ends any wait at once. After a timeout, an abort or any failure the
 * connection is in an unknown state: the caller closes it.
 */
import type { Socket } from 'node:net';
import type { Client, FTPContext, FTPResponse } from 'basic-ftp';
import { cancelledError, ProtocolError, TimeoutError, UnavailableError } from '../errors.js';
import { LineSplitter, MAX_DROPPED_LINE_BYTES, type ListingLine } from './ftp-listing.js';

/**
 * Runs one request with trawl's deadline and the caller's signal. FTP has no per-request
 * cancel: on a timeout or an abort the caller must close the connection `work` runs on, and
 * `work`'s late outcome is dropped (never an unhandled rejection).
 */
export function bounded<T>(
  work: () => Promise<T>,
  ms: number,
  what: string,
  path: string,
  signal?: AbortSignal,
): Promise<T> {
  if (signal?.aborted) return Promise.reject(cancelledError(path));
  let running: Promise<T>;
  try {
    running = work();
  } catch (error) {
    return Promise.reject(error);
  }
  return new Promise<T>((resolve, reject) => {
    const settle = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const timer = setTimeout(() => {
      settle();
      reject(new TimeoutError(`${what}: no answer within ${ms} ms`, { path }));
    }, ms);
    const onAbort = () => {
      settle();
      reject(cancelledError(path));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    running.then(
      (value) => {
        settle();
        resolve(value);
      },
      (error: unknown) => {
        settle();
        reject(error);
      },
    );
  });
}

/** What a transfer on the data connection is bounded by and named as. */
export interface TransferOptions {
  /** The longest silence of the server while trawl waits for it, in ms. */
  idleMs: number;
  signal?: AbortSignal | undefined;
  /** The transfer, for messages (`LIST on ftp://host:21`). */
  what: string;
  /** Storage path, for errors. */
  path: string;
}

export type ListingStreamOptions = TransferOptions;

/**
 * Opens the data connection (EPSV, else PASV) within `idleMs` and returns its socket. On
 * failure the control connection is left to the caller to close.
 */
export async function openDataConnection(client: Client, o: TransferOptions): Promise<Socket> {
  await bounded(
    () => client.prepareTransfer(client.ftp),
    o.idleMs,
    `${o.what}: opening a data connection`,
    o.path,
    o.signal,
  );
  const data = client.ftp.dataSocket;
  if (!data) throw new UnavailableError(`${o.what}: no data connection`, { path: o.path });
  return data;
}

/**
 * A listing command under way: {@link lines} hands out its lines as they arrive and ends
 * once the data connection has ended and the final reply has come (in either order).
 */
export class ListingStream {
  readonly #ftp: FTPContext;
  readonly #data: Socket;
  readonly #o: ListingStreamOptions;
  readonly #splitter: LineSplitter;
  /** Chunks received and not yet handed out; the data socket is paused while there are any. */
  readonly #chunks: Buffer[] = [];
  #dataEnded = false;
  #splitterEnded = false;
  #reply: FTPResponse | undefined;
  #error: unknown;
  #wake: (() => void) | undefined;
  #closed = false;

  /**
   * Opens the data connection (EPSV, else PASV) within `idleMs`, then sends `command`.
   * On failure the connection is left to the caller to close.
   */
  static async open(
    client: Client,
    command: string,
    o: ListingStreamOptions,
  ): Promise<ListingStream> {
    const data = await openDataConnection(client, o);
    return new ListingStream(client.ftp, data, command, o);
  }

  private constructor(ftp: FTPContext, data: Socket, command: string, o: ListingStreamOptions) {
    this.#ftp = ftp;
    this.#data = data;
    this.#o = o;
    this.#splitter = new LineSplitter(ftp.encoding);
    data.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      data.pause();
      this.#notify();
    });
    data.on('end', () => {
      this.#dataEnded = true;
      this.#notify();
    });
    data.on('close', () => {
      if (!this.#dataEnded) {
        this.#fail(
          new UnavailableError(`${o.what}: the data connection closed before its end`, {
            path: o.path,
          }),
        );
      }
    });
    data.on('error', (error) => this.#fail(error));
    const task = ftp.handle(command, (res, t) => {
      if (res instanceof Error) {
        this.#fail(res);
        t.reject(res);
      } else if (res.code >= 200 && res.code < 300) {
        this.#reply = res;
        t.resolve(res);
        this.#notify();
      } else if (res.code >= 300) {
        const error = new ProtocolError(
          `${o.what}: the server asks for more (${JSON.stringify(res.message)}) where a listing should end`,
          { path: o.path },
        );
        this.#fail(error);
        t.reject(error);
      }
      // 150 and 125 open the transfer; other preliminary replies are chatter.
    });
    // Its outcome is read through #reply and #error.
    task.catch(() => undefined);
  }

  /** The final reply, once {@link lines} has returned undefined. */
  get reply(): FTPResponse {
    if (!this.#reply) throw new Error('the listing has not ended');
    return this.#reply;
  }

  /** The next lines of the listing (possibly none), or undefined once it has ended. */
  async lines(): Promise<ListingLine[] | undefined> {
    for (;;) {
      if (this.#error !== undefined) throw this.#error;
      const chunk = this.#chunks.shift();
      if (chunk) {
        // Read ahead by one chunk while the caller works on this one.
        if (this.#chunks.length === 0 && !this.#dataEnded) this.#data.resume();
        const lines = this.#splitter.push(chunk);
        if (this.#splitter.droppedBytes > MAX_DROPPED_LINE_BYTES) {
          throw new ProtocolError(
            `${this.#o.what}: a line of more than ${MAX_DROPPED_LINE_BYTES} bytes is not a listing; nothing in ${this.#o.path} was deleted`,
            { path: this.#o.path },
          );
        }
        return lines;
      }
      if (this.#dataEnded && !this.#splitterEnded) {
        this.#splitterEnded = true;
        return this.#splitter.end();
      }
      if (this.#dataEnded && this.#reply) return undefined;
      if (!this.#dataEnded) this.#data.resume();
      await this.#progress();
    }
  }

  /** Ends the listing with `error` (the client is closing); the caller closes the connection. */
  fail(error: unknown): void {
    this.#fail(error);
  }

  /** Drops the data connection. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#notify();
    // Replacing the data socket closes the old one and detaches every listener from it.
    if (this.#ftp.dataSocket === this.#data) this.#ftp.dataSocket = undefined;
    else this.#data.destroy();
  }

  #fail(error: unknown): void {
    if (this.#error === undefined) this.#error = error;
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Waits until something arrives: at most `idleMs`, and not past an abort. */
  #progress(): Promise<void> {
    const { idleMs, signal, what, path } = this.#o;
    if (signal?.aborted) return Promise.reject(cancelledError(path));
    if (this.#closed) return Promise.reject(cancelledError(path));
    return new Promise<void>((resolve, reject) => {
      const settle = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#wake = undefined;
      };
      const timer = setTimeout(() => {
        settle();
        const waitingFor = this.#dataEnded ? 'the final reply' : 'listing data';
        reject(new TimeoutError(`${what}: no ${waitingFor} for ${idleMs} ms`, { path }));
      }, idleMs);
      const onAbort = () => {
        settle();
        reject(cancelledError(path));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#wake = () => {
        settle();
        resolve();
      };
    });
  }
}
