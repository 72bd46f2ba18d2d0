import { InvalidConfigError, UnavailableError } from '../errors.js';
import { defineBackend } from '../backend.js';
import type { OptionSchema } from '../options.js';
import type { Entry, ListOptions, ReadHeadOptions, StorageClient } from '../types.js';
import { MemoryTree } from './memory-tree.js';

/**
 * Named trees for `memory://name` URLs within one process. Tests and benches register a
 * tree, then scan it through the same registry, StorageService and engine as a real storage.
 */
const volumes = new Map<string, MemoryTree>();

export function registerMemoryVolume(name: string, tree: MemoryTree): MemoryTree {
  volumes.set(name, tree);
  return tree;
}

export function unregisterMemoryVolume(name: string): void {
  volumes.delete(name);
}

export interface MemoryOptions {
  /** Name of a tree registered with {@link registerMemoryVolume}. */
  volume: string;
}

export class MemoryClient implements StorageClient {
  readonly #volume: string;
  #tree: MemoryTree | undefined;
  /** The tree's generation at connect: after a restart of the tree this connection is dead. */
  #generation = 0;

  constructor(options: MemoryOptions) {
    this.#volume = options.volume;
  }

  async connect(): Promise<void> {
    if (this.#tree) return;
    const tree = volumes.get(this.#volume);
    if (!tree) throw new UnavailableError(`memory volume "${this.#volume}" is not registered`);
    this.#generation = await tree.connect();
    this.#tree = tree;
  }

  async close(): Promise<void> {
    this.#tree?.disconnect();
    this.#tree = undefined;
  }

  async check(): Promise<void> {
    await this.#connected().check(this.#generation);
  }

  async *list(dir: string, options?: ListOptions): AsyncGenerator<Entry[]> {
    yield* this.#connected().pages(dir, options?.signal, this.#generation);
  }

  async readHead(path: string, bytes: number, options?: ReadHeadOptions): Promise<Uint8Array> {
    return this.#connected().readHead(path, bytes, options?.signal, this.#generation);
  }

  #connected(): MemoryTree {
    if (!this.#tree) throw new UnavailableError('memory client is not connected');
    return this.#tree;
  }
}

/** The memory backend's one option. */
export const MEMORY_OPTIONS = {
  volume: {
    type: 'string',
    doc: 'Name of a tree registered in this process (`registerMemoryVolume`).',
  },
} as const satisfies OptionSchema;

export const memoryBackend = defineBackend('memory', {
  schemes: ['memory'],
  url: {
    pattern: 'memory://NAME',
    note: 'an in-process tree, for tests and benchmarks',
    example: 'memory://demo',
    hidden: true,
  },
  options: MEMORY_OPTIONS,
  fromUrl: (url) => ({
    ...Object.fromEntries(url.searchParams),
    volume: decodeURIComponent(url.host || url.pathname.replace(/^\/+/, '')),
  }),
  finish({ volume }): MemoryOptions {
    if (volume === undefined) {
      throw new InvalidConfigError(
        `memory storage needs a "volume" name, got ${JSON.stringify(volume)}`,
      );
    }
    return { volume };
  },
  create: (options) => new MemoryClient(options),
  location: (options) => `memory://${options.volume}`,
  limitHost: (options) => options.volume,
});
