/**
 * An index opened without the query builder (`queryBuilder: false`, what `trawl scan` asks
 * for) keeps a scan's bookkeeping on SQLite as plain statements (src/db/sqlite/bookkeeping.ts).
 * The same calls on two fresh indexes — one through the repositories' query builder, one
 * through those statements — must give the same results, the same errors and the same rows.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openIndex, type Index } from '../src/db/open.js';
import type { SqliteEntryRepository } from '../src/db/sqlite/entries.js';
import { createDatabase, type TestDatabase } from './support/databases.js';

const TIMES = new Set([
  'created_at',
  'updated_at',
  'started_at',
  'finished_at',
  'heartbeat_at',
  'expires_at',
  'createdAt',
  'updatedAt',
  'startedAt',
  'finishedAt',
  'heartbeatAt',
  'expiresAt',
]);

/** Values with every time replaced by whether it is set: the two runs differ by milliseconds. */
function timeless(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(timeless);
  if (value instanceof Set) return [...value].sort();
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, TIMES.has(k) ? v !== null : timeless(v)]),
    );
  }
  return value;
}

const COUNTERS = {
  dirs: 1,
  files: 2,
  mediaFiles: 0,
  bytes: 3,
  created: 2,
  updated: 0,
  deleted: 0,
  unchanged: 0,
  skipped: 0,
  errors: 0,
  invalidEntries: 0,
  errorSample: [{ path: '/x', code: 'NOT_FOUND', message: 'gone' }],
  retries: 0,
  rateLimitWaits: 0,
  durationMs: 5,
};

/** Every bookkeeping call a scan makes, and the failures it must see; each outcome recorded. */
async function script(index: Index): Promise<unknown[]> {
  const out: unknown[] = [];
  const step = async (work: () => Promise<unknown>) => {
    try {
      out.push(await work());
    } catch (error) {
      const e = error as { code?: unknown; message: string };
      out.push({ error: e.message, code: e.code });
    }
  };
  const tenant = await index.tenants.ensure('t1');
  await step(() => index.tenants.ensure('t1'));
  await step(() => index.tenants.ensure('t2'));
  await step(() => index.tenants.byName('t1'));
  await step(() => index.tenants.byName('nobody'));
  const input = { tenantId: tenant, kind: 'local', options: { root: '/a' } };
  const a = await index.storages.insert({ ...input, name: 'a', location: '/a' });
  await step(async () => a);
  await step(() =>
    index.storages.insert({
      ...input,
      name: 'b',
      location: '/b',
      maxConcurrency: 3,
      sealed: false,
    }),
  );
  await step(() => index.storages.insert({ ...input, name: 'c', location: '/a' }));
  await step(() => index.storages.get(a.id));
  await step(() => index.storages.get(999));
  await step(() => index.storages.getByName(tenant, 'b'));
  await step(() => index.storages.findByLocation(tenant, 'local', '/a'));
  await step(() => index.storages.findByLocation(tenant, 'local', '/nowhere'));
  await step(() => index.storages.list(tenant));
  await step(() => index.storages.names(tenant));
  await step(() => index.storages.storedOptions(undefined, true));
  await step(() => index.storages.storedOptions());
  await step(() => index.storages.fenceOf(a.id));
  await step(() => index.storages.fenceOf(999));
  // Leases: a grant moves the fence on; one refused leaves it where it was.
  const free = () => true;
  const held = () => false;
  const fence = (await index.leases.grant(a.id, 'cli@h:1 t1', Date.now() + 60_000, free))!;
  await step(async () => fence);
  await step(() => index.leases.grant(a.id, 'cli@h:2 t2', Date.now() + 60_000, held));
  await step(() => index.storages.fenceOf(a.id));
  await step(() => index.leases.held(a.id).then((r) => r?.holder));
  await step(() => index.leases.renew(a.id, 'cli@h:1 t1', fence, Date.now() + 60_000));
  await step(() => index.leases.renew(a.id, 'cli@h:2 t2', fence, Date.now() + 60_000));
  await step(() => index.leases.grant(999, 'cli@h:1 t3', Date.now() + 60_000, free));
  // Scans: one without a claim, then one under the lease (it interrupts the first), fenced.
  const scope = { tenantId: tenant, storageId: a.id };
  await step(() => index.scans.start(scope, { depth: 1 }));
  const claim = { fence, workerId: 'cli@h:1', jobId: 'j1' };
  const id = await index.scans.start(scope, { depth: 2 }, claim);
  await step(async () => id);
  await step(() => index.scans.heartbeat(id, a.id, fence));
  // Progress: written while running, with the cancel flag read back; not once it ended.
  await step(() => index.scans.writeProgress(id, { dirs: 1, files: 2, at: 7 }));
  await step(() => index.scans.writeProgress(999, { dirs: 1, at: 8 }));
  await step(() => index.scans.requestCancel(tenant, id).then((r) => r?.asked));
  await step(() => index.scans.writeProgress(id, { dirs: 3, files: 4, at: 9 }));
  await step(() => index.scans.heartbeat(id, a.id, fence - 1));
  await step(() => index.scans.start(scope, {}, { ...claim, fence: fence + 5 }));
  await step(() => index.scans.finish(id, 'partial', COUNTERS, { storageId: a.id, fence }));
  await step(() => index.scans.finish(id, 'failed', COUNTERS, { storageId: a.id, fence: 0 }));
  await step(() => index.scans.writeProgress(id, { dirs: 5, at: 10 }));
  await step(() => index.leases.release(a.id, 'cli@h:1 t1', fence));
  await step(() => index.leases.held(a.id));
  await step(() => index.scans.start(scope, null));
  await step(() => index.scans.finish(id + 1, 'succeeded', COUNTERS));
  // A call the statements do not cover goes to the repositories.
  await step(() => index.scans.inState(a.id, 'interrupted').then((r) => r.map((s) => s.id)));
  await step(() => index.scans.get(id));
  return out;
}

function rows(index: Index): unknown {
  const raw = (index.entries as SqliteEntryRepository).database;
  const table = (name: string) => raw.prepare(`SELECT * FROM ${name} ORDER BY 1`).all();
  return {
    tenants: table('tenants'),
    storages: table('storages'),
    leases: table('leases'),
    scans: table('scans'),
  };
}

describe('SQLite bookkeeping without the query builder', () => {
  const databases: TestDatabase[] = [];
  const indexes: Index[] = [];
  afterEach(async () => {
    for (const index of indexes.splice(0)) await index.close();
    for (const database of databases.splice(0)) await database.drop();
  });

  async function opened(queryBuilder: boolean): Promise<Index> {
    const database = await createDatabase('sqlite');
    databases.push(database);
    const index = await openIndex(database.url, { queryBuilder });
    indexes.push(index);
    return index;
  }

  it('gives what the repositories give: results, errors and rows', async () => {
    const built = await opened(true);
    const plain = await opened(false);
    // The second one really has no query builder: its bookkeeping cannot have gone through one.
    expect(() => plain.db).toThrow(/without its query builder/);
    expect(() => plain.queries).toThrow(/without its query builder/);
    const expected = await script(built);
    const actual = await script(plain);
    expect(timeless(actual)).toEqual(timeless(expected));
    // Nothing trivially equal: the script saw rows, refusals and a fence moved on.
    expect(JSON.stringify(expected)).toContain('INDEX_FENCED');
    expect(JSON.stringify(expected)).toContain('UNIQUE constraint failed');
    expect(JSON.stringify(rows(built))).toContain('{\\"dirs\\":3,\\"files\\":4,\\"at\\":9}');
    expect(timeless(rows(plain))).toEqual(timeless(rows(built)));
  });

  it('reads a known tenant without a write', async () => {
    const index = await opened(false);
    const id = await index.tenants.ensure('t1');
    const raw = (index.entries as SqliteEntryRepository).database;
    // Any write now fails, even an INSERT that would change nothing.
    raw.pragma('query_only = ON');
    expect(await index.tenants.ensure('t1')).toBe(id);
    await expect(index.tenants.ensure('t2')).rejects.toThrow(/readonly/);
  });
});
