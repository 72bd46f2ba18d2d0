import { IndexError } from '../errors.js';

/**
 * How long trawl waits for PostgreSQL, and how it keeps connections alive. Each has a
 * parameter of the index URL (`postgres://…/trawl?connect_timeout=5&statement_timeout=60000`),
 * named and counted as libpq, the server or node-postgres name it; docs/index-database.md
 * has the reasoning behind each default.
 */
export interface PostgresTimeouts {
  /**
   * Opening a connection (TCP, TLS, login), and waiting for a free one in the pool. URL
   * `connect_timeout`, in seconds as libpq counts it; 0 waits forever. Long enough for a TLS
   * login over a slow link, short enough that a command on an unreachable host fails
   * before its user gives up on it (pgJDBC's default is the same).
   * @default 10,000 ms
   */
  connectTimeoutMs: number;
  /**
   * The server cancels a statement that runs longer (INDEX_TIMEOUT) and the connection stays
   * usable. URL `statement_timeout`, in ms as the server setting; 0 sends none. A batch of
   * 5,000 entries takes tens of milliseconds; the longest single statement is the delete of
   * a vanished directory's subtree, ~0.5 s per million entries here.
   * @default 30,000 ms
   */
  statementTimeoutMs: number;
  /**
   * The client gives up on a statement it has heard nothing back for: the link or the server
   * is frozen (the server's own timeout cannot answer then). The connection is closed and the
   * server rolls back. URL `query_timeout` (node-postgres), in ms; 0 waits forever.
   * @default statementTimeoutMs + 5,000 ms (so the server's cancel, with its clear error,
   * comes first when it can); 0 when statement_timeout is 0
   */
  queryTimeoutMs: number;
  /**
   * The server ends a session left idle inside a transaction this long (a trawl process
   * frozen or cut off mid-batch), releasing its row locks for the other scans. URL
   * `idle_in_transaction_session_timeout`, in ms; 0 sends none. trawl's own transactions
   * never pause between statements.
   * @default 60,000 ms
   */
  idleInTransactionTimeoutMs: number;
  /** TCP keepalive on every connection. URL `keepalives` (libpq: 1 on, 0 off). @default true */
  keepAlive: boolean;
  /**
   * Idle time before the first keepalive probe: keeps NAT and firewall state alive during a
   * long statement, and lets the OS notice a peer that vanished. URL `keepalives_idle`, in
   * seconds as libpq counts it.
   * @default 10,000 ms
   */
  keepAliveIdleMs: number;
}

const PARAMS = [
  'connect_timeout',
  'statement_timeout',
  'query_timeout',
  'idle_in_transaction_session_timeout',
  'keepalives',
  'keepalives_idle',
] as const;

/**
 * Reads trawl's timeout parameters out of a PostgreSQL URL: returns the URL without them
 * (they are passed to `pg` as options, not left for it to half-understand) and the values,
 * defaults filled in. A bad value throws an IndexError (INDEX_CONFIG) naming it.
 */
export function postgresTimeouts(url: string): {
  connectionString: string;
  timeouts: PostgresTimeouts;
} {
  const at = url.indexOf('?');
  const query = new URLSearchParams(at < 0 ? '' : url.slice(at + 1));
  const given = new Map<string, string>();
  for (const name of PARAMS) {
    const value = query.get(name);
    if (value !== null) given.set(name, value);
    query.delete(name);
  }
  const rest = query.toString();
  const connectionString = given.size === 0 ? url : url.slice(0, at) + (rest ? `?${rest}` : '');

  const number = (name: (typeof PARAMS)[number], unit: 's' | 'ms', fallback: number) => {
    const raw = given.get(name);
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw)) {
      throw new IndexError(
        `${name} in the index URL expects whole ${unit === 's' ? 'seconds' : 'milliseconds'} ` +
          `from 0 up, got ${JSON.stringify(raw)}`,
        { code: 'INDEX_CONFIG' },
      );
    }
    return Number(raw) * (unit === 's' ? 1000 : 1);
  };
  const keepalives = given.get('keepalives');
  if (keepalives !== undefined && keepalives !== '0' && keepalives !== '1') {
    throw new IndexError(
      `keepalives in the index URL expects 0 or 1, got ${JSON.stringify(keepalives)}`,
      { code: 'INDEX_CONFIG' },
    );
  }
  const statementTimeoutMs = number('statement_timeout', 'ms', 30_000);
  return {
    connectionString,
    timeouts: {
      connectTimeoutMs: number('connect_timeout', 's', 10_000),
      statementTimeoutMs,
      queryTimeoutMs: number(
        'query_timeout',
        'ms',
        statementTimeoutMs === 0 ? 0 : statementTimeoutMs + 5_000,
      ),
      idleInTransactionTimeoutMs: number('idle_in_transaction_session_timeout', 'ms', 60_000),
      keepAlive: keepalives !== '0',
      keepAliveIdleMs: number('keepalives_idle', 's', 10_000),
    },
  };
}
