import type { DialectConnection } from '../connection.js';
import { IndexError } from '../errors.js';

/** PostgreSQL dialect: not built yet (issue 3). */
export function connectPostgres(_url: string): Promise<DialectConnection> {
  return Promise.reject(new IndexError('PostgreSQL is not supported yet'));
}
