import type { CompiledQuery } from 'kysely';
import type pg from 'pg';
import type { Paced, TrawlClient, Watch } from './client.js';

/**
 * `COPY (SELECT …) TO STDOUT` as a stream of bytes, for `find -0` (src/db/queries/find-read.ts):
 * the server formats each row as text, and the rows reach the caller as chunks of that
 * text, never decoded into strings. 276,300 paths of 1,000,000 entries cost the client
 * a fraction of the CPU that a cursor's rows, each parsed into a string and encoded again,
 * cost (docs/cli-query.md).
 *
 * Memory stays flat: past {@link HIGH_CHUNKS} chunks not yet taken, the socket is paused
 * (the server then waits on its send), and it resumes when the reader has taken them. A
 * reader that stops early (`| head -1`) closes the connection: the rest is never read.
 */

/** Rows are gathered into chunks of about this many bytes (a chunk holds whole rows). */
const CHUNK_BYTES = 64 * 1024;
/** Chunks held for the reader before the socket is paused, and the count it resumes below. */
const HIGH_CHUNKS = 4;
const LOW_CHUNKS = 1;

/** What the Submittable uses of `pg`'s connection. */
interface CopyConnection {
  query(text: string): void;
  stream: { pause(): void; resume(): void };
}

/** The rows of a COPY TO, gathered into chunks that the reader takes one at a time. */
class CopyOut implements pg.Submittable, Paced {
  readonly #text: string;
  #stream: CopyConnection['stream'] | undefined;
  #watch: Watch | undefined;
  #chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  #used = 0;
  readonly #ready: Buffer[] = [];
  #paused = false;
  #error: Error | undefined;
  #ended = false;
  #wake: (() => void) | undefined;
  #handOver = false;

  constructor(text: string) {
    this.#text = text;
  }

  submit(connection: unknown): void {
    const c = connection as CopyConnection;
    this.#stream = c.stream;
    c.query(this.#text);
  }

  paced(watch: Watch): void {
    this.#watch = watch;
  }

  /** The next chunk, or undefined at the end; rejects with the server's or the socket's error. */
  async next(): Promise<Buffer | undefined> {
    for (;;) {
      const chunk = this.#ready.shift();
      if (chunk) {
        if (this.#paused && this.#ready.length <= LOW_CHUNKS) {
          this.#paused = false;
          this.#watch?.resume();
          this.#stream?.resume();
        }
        return chunk;
      }
      if (this.#error) throw this.#error;
      if (this.#ended) return undefined;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  // Each row arrives as one message whose buffer `pg` reuses for later reads: it is copied
  // now, into the chunk being filled.
  handleCopyData(message: { chunk: Buffer }): void {
    const row = message.chunk;
    if (this.#used + row.length > this.#chunk.length) {
      this.#cut();
      if (row.length > this.#chunk.length) this.#chunk = Buffer.allocUnsafe(row.length);
    }
    row.copy(this.#chunk, this.#used);
    this.#used += row.length;
    // The rows of one read of the socket come in one turn: hand them over after it, so that
    // a slow trickle of rows still reaches the reader without waiting for a full chunk.
    if (!this.#handOver) {
      this.#handOver = true;
      setImmediate(() => {
        this.#handOver = false;
        if (this.#ready.length === 0 && this.#wake) this.#cut();
        this.#signal();
      });
    }
    if (this.#ready.length >= HIGH_CHUNKS && !this.#paused) {
      this.#paused = true;
      this.#watch?.pause();
      this.#stream?.pause();
    }
  }

  /** The chunk filled so far to the ready list, a new one begun. */
  #cut(): void {
    if (this.#used === 0) return;
    this.#ready.push(this.#chunk.subarray(0, this.#used));
    this.#chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    this.#used = 0;
    this.#signal();
  }

  #signal(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  handleError(error: Error): void {
    this.#error ??= error;
    this.#signal();
  }

  handleReadyForQuery(): void {
    this.#cut();
    this.#ended = true;
    this.#signal();
  }

  handleCopyInResponse(): void {}
  handleCommandComplete(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handlePortalSuspended(): void {}
  handleEmptyQuery(): void {}
}

/**
 * The rows of `text` (statements ending in one `COPY … TO STDOUT`, sent as one simple query:
 * no parameters) as chunks of COPY's output, each holding whole rows. The connection is
 * the pool's; a reader that stops before the end, or an error, closes it.
 */
export async function* copyOut(pool: pg.Pool, text: string): AsyncIterable<Buffer> {
  const client = (await pool.connect()) as pg.PoolClient & TrawlClient;
  const copy = new CopyOut(text);
  let whole = false;
  let failure: Error | undefined;
  try {
    void client.query(copy);
    for (let chunk = await copy.next(); chunk; chunk = await copy.next()) yield chunk;
    whole = true;
  } catch (error) {
    failure = error as Error;
    throw error;
  } finally {
    // A COPY stopped half way cannot be taken back: the connection goes with it.
    if (!whole) {
      const stopped = failure ?? new Error('COPY TO stopped by its reader');
      if (typeof client.kill === 'function') client.kill(stopped);
      client.release(stopped);
    } else client.release();
  }
}

/**
 * `sql` with its `$1`… replaced by the values as literals: a COPY takes no parameters.
 * Integers and strings only (what `find`'s conditions hold); a string goes between
 * dollar quotes with a tag it does not contain, so no character of it is special whatever
 * the server's `standard_conforming_strings`.
 */
export function inlineParameters(sql: string, parameters: readonly unknown[]): string {
  return sql.replace(/\$(\d+)/g, (_, n: string) => {
    const value = parameters[Number(n) - 1];
    // In parentheses: a negative number after a minus (`x -$1`) would otherwise begin a comment.
    if (typeof value === 'number' && Number.isSafeInteger(value)) return `(${String(value)})`;
    if (typeof value === 'string' && !value.includes('\0')) {
      let tag = 'v';
      while (value.includes(`$${tag}$`) || value.endsWith(`$${tag}`)) tag += 'v';
      return `$${tag}$${value}$${tag}$`;
    }
    throw new TypeError(`cannot inline parameter $${n} into a COPY: ${typeof value}`);
  });
}

const NEWLINE = 0x0a;
const BACKSLASH = 0x5c;
/** What follows a backslash in COPY's text output, as the byte it stands for. */
const ESCAPED = new Map<number, number>(
  [
    ['b', 8],
    ['f', 12],
    ['n', 10],
    ['r', 13],
    ['t', 9],
    ['v', 11],
    ['\\', BACKSLASH],
  ].map(([c, b]) => [(c as string).charCodeAt(0), b as number]),
);

/** The byte a backslash and `next` stand for; a NULL (`\\N`) or an escape COPY TO never writes is refused. */
function unescaped(next: number | undefined): number {
  const b = ESCAPED.get(next ?? -1);
  if (b === undefined) throw new Error('unexpected escape in COPY output');
  return b;
}

/**
 * Rows of one text column from COPY's output (each ended by a newline, with `\\`, `\n`,
 * `\r`, `\t`, `\b`, `\f`, `\v` escaped) as the values' exact bytes, each after `prefix` and
 * ended by a NUL: `find -0`'s output. A chunk with nothing escaped and no prefix is
 * rewritten in place (its newlines become NULs); a NULL (`\N`) or an escape COPY TO never
 * writes is refused.
 */
export function nulEndedValues(chunk: Buffer, prefix: Buffer): Buffer {
  if (prefix.length === 0 && chunk.indexOf(BACKSLASH) < 0) {
    for (let i = chunk.indexOf(NEWLINE); i >= 0; i = chunk.indexOf(NEWLINE, i + 1)) chunk[i] = 0;
    return chunk;
  }
  let rows = 0;
  for (let i = chunk.indexOf(NEWLINE); i >= 0; i = chunk.indexOf(NEWLINE, i + 1)) rows++;
  const out = Buffer.allocUnsafe(chunk.length + rows * prefix.length);
  let o = 0;
  let start = true;
  for (let i = 0; i < chunk.length; i++) {
    if (start) {
      o += prefix.copy(out, o);
      start = false;
    }
    const b = chunk[i]!;
    if (b === NEWLINE) {
      out[o++] = 0;
      start = true;
    } else if (b === BACKSLASH) {
      out[o++] = unescaped(chunk[++i]);
    } else out[o++] = b;
  }
  return out.subarray(0, o);
}

/**
 * One value of COPY's text output (no tab, no newline) as its exact bytes: `\\`, `\n`, `\r`,
 * `\t`, `\b`, `\f`, `\v` unescaped; a NULL (`\N`) or an escape COPY TO never writes is refused.
 */
export function unescapeCopyText(value: Buffer): Buffer {
  const out = Buffer.allocUnsafe(value.length);
  let o = 0;
  for (let i = 0; i < value.length; i++) {
    const b = value[i]!;
    if (b === BACKSLASH) {
      out[o++] = unescaped(value[++i]);
    } else out[o++] = b;
  }
  return out.subarray(0, o);
}

/**
 * {@link copyOut} of `query`'s rows, as COPY's text output in chunks of whole rows. Run as
 * `find`'s cursors run (queries/find-read.ts's #stream): read-only, the sort in memory; and
 * with no statement timeout, since a reader may hold the COPY up a long while (`| xargs -0
 * slow-command`); the client's watchdog pauses with it (client.ts).
 */
export function copyRows(pool: pg.Pool, query: CompiledQuery): AsyncIterable<Buffer> {
  const text = [
    'BEGIN READ ONLY',
    "SET LOCAL work_mem = '64MB'",
    'SET LOCAL statement_timeout = 0',
    `COPY (${inlineParameters(query.sql, query.parameters)}) TO STDOUT`,
    'COMMIT',
  ].join('; ');
  return copyOut(pool, text);
}

/**
 * {@link copyRows} of `query`'s one text column, each value's bytes after `prefix` and ended
 * by a NUL (queries/find-read.ts's `CopyValues`).
 */
export async function* copyValues(
  pool: pg.Pool,
  query: CompiledQuery,
  prefix: string,
): AsyncIterable<Buffer> {
  const before = Buffer.from(prefix);
  for await (const chunk of copyRows(pool, query)) yield nulEndedValues(chunk, before);
}
