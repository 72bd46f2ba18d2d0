/**
 * The one storage-client contract every backend passes against a real server on loopback.
 * A backend's test file is a few lines: start the server serving the fixture, say how to
 * build a client and what the protocol can express, call {@link runStorageContract}.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageError } from '../../src/storage/errors.js';
import type { Entry, StorageClient } from '../../src/storage/types.js';
import { requireServices } from '../servers/util.js';
import { startTcpProxy } from '../tools/tcp-proxy.js';
import { subtreeDirs, type Fixture, type FixtureEntry } from './fixture.js';
import { listAll, treePieces } from '../support/list-all.js';

export interface MidListingKill {
  /** A connected client whose server will die while it lists {@link dir}. */
  client: StorageClient;
  dir: string;
  /** Starts the listing that the server dies in the middle of; resolves or rejects as `list` does. */
  list(): Promise<Entry[]>;
  cleanup(): Promise<void>;
}

export interface ContractServer {
  fixture: Fixture;
  /** An unconnected client for the server; overrides are merged over the default options. */
  makeClient(overrides?: Record<string, unknown>): StorageClient;
  /**
   * Precision of the mtimes the protocol reports, in ms (1000 for HTTP dates, 60000 for
   * FTP LIST); null when the server's mtimes are not the fixture's (objects stamped at upload).
   */
  mtimePrecisionMs: number | null;
  /** Whether directory entries carry the directory's mtime. @default false */
  dirMtimes?: boolean;
  /** Option overrides with wrong credentials; absent when the server takes no credentials. */
  badCredentials?: Record<string, unknown>;
  /** True when the server refuses to list `fixture.lockedDir` (403, EACCES…). */
  locksDir: boolean;
  /**
   * Where the client connects and how to point it elsewhere, so the suite can put a
   * byte-cutting proxy in front and kill the server mid-listing.
   */
  endpoint?: { port: number; via(port: number): Record<string, unknown> };
  /** Kills the server abruptly (SIGKILL): used by the mid-listing test, which runs last. */
  kill?(): Promise<void>;
  /** Replaces the default proxy-based mid-listing kill (e.g. for FTP's separate data channel). */
  killMidListing?(): Promise<MidListingKill>;
  teardown(): Promise<void>;
}

export interface ContractOptions {
  /** Server binaries the setup needs: missing ones skip locally and fail under TRAWL_REQUIRE_SERVICES. */
  requires?: string[];
  /**
   * The backend offers `listTree`. Declared here, before the server starts, so the suite
   * registers only the checks that apply (and checks the declaration itself) instead of
   * skipping at run time. @default false
   */
  listTree?: boolean;
  /** The server can refuse a directory (`locksDir` in the setup must agree). @default true */
  refusesDirs?: boolean;
}

type Row = [path: string, name: string, isDir: boolean, size: number, mtime: number | null];

function rows(entries: ReadonlyArray<Entry | FixtureEntry>, server: ContractServer): Row[] {
  const p = server.mtimePrecisionMs;
  return entries
    .map((e): Row => {
      const checkMtime = p !== null && (!e.isDir || server.dirMtimes === true);
      return [
        e.path,
        e.name,
        e.isDir,
        e.isDir ? 0 : e.size,
        checkMtime ? Math.floor(e.mtime / p) * p : null,
      ];
    })
    .sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])));
}

function inLockedSubtree(server: ContractServer, dir: string): boolean {
  const locked = server.fixture.lockedDir;
  return server.locksDir && (dir === locked || dir.startsWith(`${locked}/`));
}

/** Lists `dirs` with `width` requests in flight, as the engine would. */
async function listDirs(
  client: StorageClient,
  dirs: string[],
  width = 8,
): Promise<Map<string, Entry[]>> {
  const out = new Map<string, Entry[]>();
  let next = 0;
  const worker = async () => {
    while (next < dirs.length) {
      const dir = dirs[next++]!;
      out.set(dir, await listAll(client.list(dir)));
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
  return out;
}

/** The default way to kill a server mid-listing: a proxy cuts the response, then the server dies. */
async function proxyKill(server: ContractServer): Promise<MidListingKill> {
  const { endpoint, kill } = server;
  if (!endpoint || !kill) throw new Error('a mid-listing kill needs endpoint and kill()');
  const proxy = await startTcpProxy({ targetPort: endpoint.port });
  const client = server.makeClient(endpoint.via(proxy.port));
  await client.connect();
  await listAll(client.list('/'));
  const dir = server.fixture.bigDir;
  return {
    client,
    dir,
    list: () => {
      // Let a few KiB of the big listing through, then the server dies and the connection
      // drops: the client has a truncated answer and no server to retry against.
      proxy.cutAfter(16 * 1024, () => kill());
      return listAll(client.list(dir));
    },
    cleanup: async () => {
      await client.close();
      await proxy.close();
    },
  };
}

/**
 * Registers one `describe` that checks a backend against a real server: complete listings
 * (names byte for byte, kinds, sizes, mtimes to the protocol's precision), the tree
 * listing when the backend has one, NOT_FOUND, PERMISSION_DENIED, AUTH_FAILED, `check()`,
 * closing twice, and a server that dies mid-listing (an error, never a short listing).
 */
export function runStorageContract(
  name: string,
  setup: () => Promise<ContractServer>,
  options: ContractOptions = {},
): void {
  const available = requireServices(...(options.requires ?? []));
  const refusesDirs = options.refusesDirs ?? true;
  describe.skipIf(!available)(`storage contract: ${name}`, () => {
    let server: ContractServer;
    let client: StorageClient;

    beforeAll(async () => {
      server = await setup();
      client = server.makeClient();
      await client.connect();
    }, 120_000);

    afterAll(async () => {
      await client?.close();
      await server?.teardown();
    }, 60_000);

    it('lists every directory completely: names, kinds, sizes, mtimes', async () => {
      const dirs = [...server.fixture.dirs.keys()].filter((d) => !inLockedSubtree(server, d));
      const listed = await listDirs(client, dirs);
      for (const dir of dirs) {
        const got = listed.get(dir)!;
        expect({ dir, rows: rows(got, server) }).toEqual({
          dir,
          rows: rows(server.fixture.dirs.get(dir)!, server),
        });
        for (const e of got) {
          expect(e.path.startsWith('/') && !e.path.endsWith('/')).toBe(true);
          expect(e.path).toBe(dir === '/' ? `/${e.name}` : `${dir}/${e.name}`);
        }
      }
    });

    it(`lists the large directory (≥ 5,000 entries) without losing one`, async () => {
      const big = server.fixture.bigDir;
      const got = await listAll(client.list(big));
      const expected = server.fixture.dirs.get(big)!;
      expect(expected.length).toBeGreaterThanOrEqual(5000);
      expect(got.length).toBe(expected.length);
      expect(new Set(got.map((e) => e.name)).size).toBe(expected.length);
    });

    it('lists the deepest directory and empty directories', async () => {
      const fx = server.fixture;
      expect(fx.deepestDir.split('/').length - 1).toBeGreaterThanOrEqual(21);
      expect((await listAll(client.list(fx.deepestDir))).map((e) => e.name)).toEqual(['leaf.txt']);
      for (const dir of fx.emptyDirs) expect(await listAll(client.list(dir))).toEqual([]);
    });

    it(`${options.listTree ? 'offers' : 'does not offer'} listTree, as declared`, () => {
      expect(typeof client.listTree).toBe(options.listTree ? 'function' : 'undefined');
    });

    if (options.listTree)
      it('yields each directory once (whole or in pieces), parents first, from listTree', async () => {
        const seen = new Set<string>();
        // A directory's entry comes (in a piece of its parent) before any piece of it.
        const announced = new Set(['/']);
        // Pieces of a directory too large for one (`more` set on all but its last).
        const open = new Map<string, Entry[]>();
        for await (const { dir, entries, more } of treePieces(client.listTree!('/'))) {
          expect(seen.has(dir)).toBe(false);
          expect(announced.has(dir), `${dir} before its entry`).toBe(true);
          for (const e of entries) if (e.isDir) announced.add(e.path);
          const all = [...(open.get(dir) ?? []), ...entries];
          if (more) {
            open.set(dir, all);
            continue;
          }
          open.delete(dir);
          seen.add(dir);
          const expected = server.fixture.dirs.get(dir);
          expect(expected, `unexpected directory ${dir}`).toBeDefined();
          expect({ dir, rows: rows(all, server) }).toEqual({
            dir,
            rows: rows(expected!, server),
          });
        }
        expect([...open.keys()]).toEqual([]);
        const wanted = [...server.fixture.dirs.keys()].filter((d) => !inLockedSubtree(server, d));
        for (const dir of wanted) expect(seen.has(dir), dir).toBe(true);
      });

    it('answers NOT_FOUND for a missing directory and keeps working', async () => {
      await expect(listAll(client.list(server.fixture.missingDir))).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
      await expect(listAll(client.list('/plain.txt/below'))).rejects.toBeInstanceOf(StorageError);
      expect((await listAll(client.list('/'))).length).toBe(server.fixture.dirs.get('/')!.length);
    });

    it(`${refusesDirs ? 'can' : 'cannot'} refuse a directory, as declared`, () => {
      expect(server.locksDir).toBe(refusesDirs);
    });

    if (refusesDirs)
      it('answers PERMISSION_DENIED for a directory the server refuses', async () => {
        await expect(listAll(client.list(server.fixture.lockedDir))).rejects.toMatchObject({
          code: 'PERMISSION_DENIED',
          retryable: false,
        });
        expect((await listAll(client.list('/'))).map((e) => e.name)).toContain(
          server.fixture.lockedDir.slice(1),
        );
      });

    it('answers AUTH_FAILED for wrong credentials', async () => {
      expect(server.badCredentials, 'setup gives no bad credentials').toBeDefined();
      const bad = server.makeClient(server.badCredentials);
      try {
        await expect(bad.connect().then(() => listAll(bad.list('/')))).rejects.toMatchObject({
          code: 'AUTH_FAILED',
          retryable: false,
        });
      } finally {
        await bad.close();
      }
    });

    it('checks a live server and closes twice without throwing', async () => {
      const c = server.makeClient();
      await c.connect();
      await c.check();
      await c.close();
      await c.close();
    });

    // Last: the server does not come back.
    it('fails a listing when the server dies mid-listing, never returns it short', async () => {
      expect(
        server.killMidListing ?? (server.endpoint && server.kill),
        'setup gives no way to kill the server mid-listing',
      ).toBeDefined();
      const kill = await (server.killMidListing?.() ?? proxyKill(server));
      try {
        const outcome = await kill.list().then(
          (entries) => ({ entries: entries.length }),
          (error: unknown) => ({ error }),
        );
        expect(outcome).toHaveProperty('error');
        expect((outcome as { error: unknown }).error).toBeInstanceOf(StorageError);
        await expect(kill.client.check()).rejects.toBeInstanceOf(StorageError);
      } finally {
        await kill.cleanup();
      }
    });
  });
}

/** Directories the suite expects to list (the locked subtree left out when it is refused). */
export function listableDirs(server: ContractServer): string[] {
  return subtreeDirs(server.fixture, '/').filter((d) => !inLockedSubtree(server, d));
}
