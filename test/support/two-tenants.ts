import type { Dialect } from '../../src/db/dialect.js';
import { openIndex, type Index } from '../../src/db/open.js';
import { createDatabase, memoryStorage, type TestDatabase } from './databases.js';

/**
 * A fresh index holding a tenant `t` and another tenant: what every search test needs to
 * show that a page never holds the other tenant's rows. `storage` makes a memory storage
 * and answers its id.
 */
export async function twoTenantIndex(dialect: Dialect): Promise<{
  database: TestDatabase;
  index: Index;
  tenantId: number;
  other: number;
  storage: (tenantId: number, name: string) => Promise<number>;
}> {
  const database = await createDatabase(dialect);
  const index = await openIndex(database.url);
  const tenantId = await index.tenants.ensure('t');
  const other = await index.tenants.ensure('other');
  const storage = (t: number, name: string) => memoryStorage(index, t, name);
  return { database, index, tenantId, other, storage };
}
