/**
 * A remote client whose module loads at its first connect: every command that parses a
 * storage loads the registry, and with it every backend's definition (schemes, options,
 * URL form); their clients (protocol code, parsers, the modules under them) cost each start
 * of a local scan ~1–2 ms to evaluate for a kind it never speaks (docs/benchmarks.md,
 * bench:startup). The definition (`<kind>-backend.ts`) stays light and hands this a loader.
 */
import type {
  Entry,
  ListOptions,
  ReadHeadOptions,
  StorageClient,
  TreeListing,
  TreeOptions,
} from '../types.js';

/** The optional methods the loaded client has: the wrapper has exactly those, as callers test for them. */
export interface DeferredMethods {
  listTree?: boolean;
  readHead?: boolean;
}

export function deferredClient(
  load: () => Promise<StorageClient>,
  methods: DeferredMethods,
): StorageClient {
  let loading: Promise<StorageClient> | undefined;
  const real = (): Promise<StorageClient> => (loading ??= load());
  const client: StorageClient = {
    async connect() {
      await (await real()).connect();
    },
    async close() {
      // Never loaded: nothing was opened. A load that failed opened nothing either.
      if (loading === undefined) return;
      const loaded = await loading.catch(() => undefined);
      await loaded?.close();
    },
    async check() {
      await (await real()).check();
    },
    async *list(dir: string, options?: ListOptions): AsyncGenerator<Entry[]> {
      yield* (await real()).list(dir, options);
    },
  };
  if (methods.listTree) {
    client.listTree = async function* (
      root: string,
      options?: TreeOptions,
    ): AsyncGenerator<TreeListing | TreeListing[]> {
      const loaded = await real();
      if (!loaded.listTree) throw new Error('deferred client: the loaded client has no listTree');
      yield* loaded.listTree(root, options);
    };
  }
  if (methods.readHead) {
    client.readHead = async (path: string, bytes: number, options?: ReadHeadOptions) => {
      const loaded = await real();
      if (!loaded.readHead) throw new Error('deferred client: the loaded client has no readHead');
      return loaded.readHead(path, bytes, options);
    };
  }
  return client;
}
