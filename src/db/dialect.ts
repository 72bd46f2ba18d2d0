export type Dialect = 'sqlite' | 'postgres';

/** `postgres://…` / `postgresql://…` selects PostgreSQL; anything else is a SQLite file. */
export function dialectOf(target: string): Dialect {
  return /^postgres(ql)?:\/\//i.test(target) ? 'postgres' : 'sqlite';
}
