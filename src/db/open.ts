import { Migrator, type Kysely } from 'kysely';
import { dialectOf, type Dialect } from './dialect.js';
import type { EntryRepository } from './entries.js';
import { IndexError } from './errors.js';
import { migrations } from './migrations/index.js';
import { ScanRepository } from './repositories/scans.js';
import { StorageRepository } from './repositories/storages.js';
import { TenantRepository } from './repositories/tenants.js';
import type { Database } from './schema.js';
import { connectSqlite } from './sqlite/connect.js';
import type { DialectConnection } from './connection.js';

/** The index: every repository over one database connection. */
export interface Index {
  readonly dialect: Dialect;
  readonly db: Kysely<Database>;
  readonly entries: EntryRepository;
  readonly scans: ScanRepository;
  readonly storages: StorageRepository;
  readonly tenants: TenantRepository;
  close(): Promise<void>;
}

async function connect(target: string): Promise<DialectConnection> {
  if (dialectOf(target) === 'postgres') {
    const { connectPostgres } = await import('./postgres/connect.js');
    return connectPostgres(target);
  }
  return connectSqlite(target);
}

/** Opens the index at `target` (a SQLite file or a postgres:// URL) and migrates it. */
export async function openIndex(target: string): Promise<Index> {
  const conn = await connect(target);
  try {
    await migrate(conn);
  } catch (error) {
    await conn.close().catch(() => undefined);
    if (error instanceof IndexError) throw error;
    const message = (error as Error).message;
    throw new IndexError(`cannot use index database ${redactDbUrl(target)}: ${message}`, {
      cause: error,
    });
  }
  const { db } = conn;
  return {
    dialect: conn.dialect,
    db,
    entries: conn.entries(),
    scans: new ScanRepository(db),
    storages: new StorageRepository(db),
    tenants: new TenantRepository(db),
    close: () => conn.close(),
  };
}

async function migrate(conn: DialectConnection): Promise<void> {
  const migrator = new Migrator({ db: conn.db, provider: migrations(conn.dialect) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw failed
      ? new IndexError(`migration ${failed} failed: ${(error as Error).message}`, { cause: error })
      : error;
  }
}

export function redactDbUrl(target: string): string {
  return target.replace(/(\/\/[^/:@]*):[^@/]*@/, '$1:***@');
}
