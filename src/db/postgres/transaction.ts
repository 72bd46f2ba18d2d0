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

/**
 * Runs `work` in one transaction on one pooled connection. Two scans of the same storage
 * may lock the same rows in opposite statement order (one deletes what the other
 * inserts); PostgreSQL then aborts one of them, and that one runs again from the start —
 * its counts come from the attempt that committed, so they stay exact.
 */
export async function withRetriedTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect();
    let broken: Error | boolean = false;
    try {
      await client.query('BEGIN');
      const result = await work(client);
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
