import type pg from 'pg';
import { classifyIndexError } from '../errors.js';

/** Deadlock detected, serialization failure: the transaction rolled back and may run again. */
const RETRYABLE = new Set(['40P01', '40001']);
/** @default 5 */
const ATTEMPTS = 5;

/**
 * A failure after which the connection cannot be trusted: nothing more is sent on it (a
 * ROLLBACK would wait out another timeout on a dead socket), and the pool discards it. The
 * server rolls back an open transaction when its connection goes.
 */
function connectionGone(error: unknown): boolean {
  const code = classifyIndexError(error);
  return (
    code === 'INDEX_CONNECTION_LOST' ||
    code === 'INDEX_TIMEOUT' ||
    code === 'INDEX_UNREACHABLE' ||
    code === 'CANCELLED'
  );
}

/** The results of a transaction's opening statements (BEGIN's own left out), rows as arrays. */
export type Opened = pg.QueryArrayResult[];

/**
 * Runs `work` in one transaction on one pooled connection. Two scans of the same storage
 * may lock the same rows in opposite statement order (one deletes what the other
 * inserts); PostgreSQL then aborts one of them, and that one runs again from the start —
 * its counts come from the attempt that committed, so they stay exact.
 *
 * `opening`: statements without parameters sent with BEGIN in one message (one round trip
 * instead of one each; simple-query protocol), their results handed to `work` as a promise
 * so that it can build what it sends next while they run. `work` must await it before it
 * writes anything: an error in it (a refused fence, say) rejects it, and the whole
 * transaction rolls back.
 */
export async function withRetriedTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient, opened: Promise<Opened>) => Promise<T>,
  opening: readonly string[] = [],
): Promise<T> {
  const text = ['BEGIN', ...opening].join('; ');
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect();
    let broken: Error | boolean = false;
    try {
      const sent = client.query({ text, rowMode: 'array' }) as Promise<
        pg.QueryArrayResult | pg.QueryArrayResult[]
      >;
      const opened = sent.then((r) => (Array.isArray(r) ? r.slice(1) : []));
      // Awaited below whatever `work` does with it, so its failure is never unhandled.
      opened.catch(() => undefined);
      let result: T;
      try {
        result = await work(client, opened);
      } finally {
        await opened.catch(() => undefined);
      }
      await opened;
      await client.query('COMMIT');
      return result;
    } catch (error) {
      if (connectionGone(error)) broken = error as Error;
      else {
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
      }
      const code = (error as { code?: string }).code;
      if (attempt >= ATTEMPTS || !code || !RETRYABLE.has(code)) throw error;
    } finally {
      client.release(broken);
    }
  }
}
