import { IndexError } from './errors.js';

export type Dialect = 'sqlite' | 'postgres';

/** The URL schemes `--db` / `TRAWL_DATABASE_URL` accept; anything else with `://` is refused. */
export const INDEX_URL_SCHEMES = ['postgres', 'postgresql'] as const;

/** `postgres://…` / `postgresql://…` selects PostgreSQL; anything else is a SQLite file. */
export function dialectOf(target: string): Dialect {
  return /^postgres(ql)?:\/\//i.test(target) ? 'postgres' : 'sqlite';
}

/**
 * Refuses an index named by a URL of a kind trawl cannot use (`mysql://…`, `postgress://…`,
 * `sqlite:///…`, `sqlite:x.db`) with an IndexError `INDEX_CONFIG` naming what it accepts. Without this the
 * text was taken for a SQLite path: a `mysql:/root:PASSWORD@host` folder tree was created in
 * the working directory, and the scan "succeeded" into it.
 */
export function checkIndexTarget(target: string): void {
  // `sqlite:x.db` too (the form some tools take): no one names a SQLite file so on purpose.
  const scheme = /^(?:([a-z][a-z0-9+.-]*):\/\/|(sqlite3?):)/i
    .exec(target)
    ?.slice(1)
    .find((s) => s !== undefined)
    ?.toLowerCase();
  if (scheme === undefined || (INDEX_URL_SCHEMES as readonly string[]).includes(scheme)) return;
  const path = /^(?:(?:sqlite3?|file):\/\/(\/.*)|sqlite3?:(?!\/\/)(.+))$/i
    .exec(target)
    ?.slice(1)
    .find((s) => s !== undefined);
  const instead = path
    ? `; for SQLite give the file's path itself (${path})`
    : `; trawl keeps its index in a SQLite file (give its path, like ./index.db) or in PostgreSQL (postgres://user@host/db)`;
  throw new IndexError(
    `cannot use index database ${redactDbUrl(target)}: "${scheme}:" is not a database trawl knows${instead}`,
    { code: 'INDEX_CONFIG' },
  );
}

/** The index as a person may see it: a password in a URL shown as `***`. */
export function redactDbUrl(target: string): string {
  return target.replace(/(\/\/[^/:@]*):[^@/]*@/, '$1:***@');
}
