export type Dialect = 'sqlite' | 'postgres';

/** `postgres://…` / `postgresql://…` selects PostgreSQL; anything else is a SQLite file. */
export function dialectOf(target: string): Dialect {
  return /^postgres(ql)?:\/\//i.test(target) ? 'postgres' : 'sqlite';
}

/** The index as a person may see it: a password in a URL shown as `***`. */
export function redactDbUrl(target: string): string {
  return target.replace(/(\/\/[^/:@]*):[^@/]*@/, '$1:***@');
}
