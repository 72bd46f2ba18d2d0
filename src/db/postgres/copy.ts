import type pg from 'pg';

/** The two calls of `pg`'s connection that a COPY FROM STDIN needs. */
interface CopyConnection {
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  query(text: string): void;
}

/**
 * `COPY … FROM STDIN` with the whole payload in hand, as a `pg` Submittable (the hook
 * pg-copy-streams uses), so no extra package is needed. Resolves when the server has
 * taken every row, or rejects with the server's error (a unique violation included:
 * COPY is all or nothing).
 *
 * The rows go out right behind the statement, without waiting for the server's
 * CopyInResponse: one round trip instead of two. The protocol allows it — a server that
 * refuses the COPY itself drops the CopyData and CopyDone that follow ("Accept but ignore
 * these messages", PostgresMain), and one that fails mid-copy discards the rest up to
 * CopyDone — and either way answers with one error and one ReadyForQuery.
 */
class CopyIn implements pg.Submittable {
  readonly #text: string;
  readonly #data: Buffer;
  #error: Error | undefined;
  readonly done: Promise<void>;
  #settle!: (error?: Error) => void;

  constructor(text: string, data: Buffer) {
    this.#text = text;
    this.#data = data;
    this.done = new Promise<void>((resolve, reject) => {
      this.#settle = (error) => (error ? reject(error) : resolve());
    });
  }

  submit(connection: unknown): void {
    const c = connection as CopyConnection;
    c.query(this.#text);
    c.sendCopyFromChunk(this.#data);
    c.endCopyFrom();
  }

  // The rows were sent with the statement.
  handleCopyInResponse(): void {}

  // `pg` hands an error to the active query and then forgets it: the ReadyForQuery that
  // follows never reaches us, so the error settles the promise. The client still waits
  // for that ReadyForQuery before it sends the next query.
  handleError(error: Error): void {
    this.#error ??= error;
    this.#settle(error);
  }

  handleReadyForQuery(): void {
    this.#settle(this.#error);
  }

  // Messages a COPY does not produce; the client calls them only on a broken protocol.
  handleCommandComplete(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handlePortalSuspended(): void {}
  handleEmptyQuery(): void {}
  handleCopyData(): void {}
}

export function copyIn(client: pg.PoolClient, text: string, data: Buffer): Promise<void> {
  return client.query(new CopyIn(text, data)).done;
}

const SPECIAL = /[\\\n\r\t]/;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** A value of COPY's text format: `\N` for NULL, the four special characters escaped. */
export function copyText(value: string | null): string {
  if (value === null) return '\\N';
  return SPECIAL.test(value) ? value.replace(/[\\\n\r\t]/g, (c) => ESCAPES[c]!) : value;
}
