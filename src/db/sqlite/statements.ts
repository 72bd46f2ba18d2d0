/**
 * `make()` run at the first call, its result kept: for prepared statements a connection may
 * never use. An index opened for a scan that writes nothing (an empty or unchanged folder)
 * prepared ~30 statements at open — the entries repository's, the writer's, the name
 * index's, better-sqlite3's 9 transaction statements — ~1 ms of a 60 ms start
 * (bench:startup, docs/benchmarks.md).
 */
export function preparedOnUse<T>(make: () => T): () => T {
  let made: T | undefined;
  return () => (made ??= make());
}
