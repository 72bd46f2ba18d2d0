/**
 * Counts rows written to `entries` by another process: triggers on the index file bump a
 * counter for every insert, update (even one that sets equal values) and delete. Installed
 * after the first scan, so they cost nothing there; on an unchanged rescan they never fire.
 */
import Database from 'better-sqlite3';

export function installWriteCounter(dbFile) {
  const db = new Database(dbFile);
  db.exec(`
    CREATE TABLE IF NOT EXISTS bench_writes (n INTEGER NOT NULL);
    DELETE FROM bench_writes;
    INSERT INTO bench_writes VALUES (0);
    CREATE TRIGGER IF NOT EXISTS bench_ins AFTER INSERT ON entries BEGIN UPDATE bench_writes SET n = n + 1; END;
    CREATE TRIGGER IF NOT EXISTS bench_upd AFTER UPDATE ON entries BEGIN UPDATE bench_writes SET n = n + 1; END;
    CREATE TRIGGER IF NOT EXISTS bench_del AFTER DELETE ON entries BEGIN UPDATE bench_writes SET n = n + 1; END;
  `);
  db.close();
}

export function readWriteCounter(dbFile) {
  const db = new Database(dbFile, { readonly: true });
  try {
    return db.prepare('SELECT n FROM bench_writes').pluck().get();
  } finally {
    db.close();
  }
}
