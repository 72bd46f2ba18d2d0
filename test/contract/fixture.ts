/**
 * The contract suite's fixture tree: awkward names, a large directory, empty directories
 * and deep nesting, written to disk with fixed sizes and mtimes, plus the listing every
 * directory must produce. Servers serve the folder (or, for S3, an object store built from
 * the expected listings), and the suite compares what a client lists with `dirs`.
 */
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/harness.js';

export interface FixtureEntry {
  /** Storage path, e.g. `/big/f00001.dat`. */
  path: string;
  name: string;
  isDir: boolean;
  /** Bytes (0 for directories). */
  size: number;
  /** Milliseconds since the epoch, whole seconds. */
  mtime: number;
}

export interface Fixture {
  /** The folder on disk that is the storage's root. */
  root: string;
  /** Expected children of every directory, by storage path (`/` included). */
  dirs: Map<string, FixtureEntry[]>;
  /** A directory of ≥ `bigEntries` files. */
  bigDir: string;
  /** The deepest directory (depth ≥ 20). */
  deepestDir: string;
  /** Directories with no children. */
  emptyDirs: string[];
  /** A directory with content that setups may make unreadable or forbidden. */
  lockedDir: string;
  /** A path that exists in no server. */
  missingDir: string;
  /** Every file and directory below the root. */
  counts: { dirs: number; files: number };
  cleanup(): void;
}

export interface FixtureOptions {
  /** Files in the large directory. @default 5000 */
  bigEntries?: number;
  /** Nesting depth of the deep chain. @default 20 */
  depth?: number;
  /** NFC and NFD spellings of one name side by side (some servers cannot hold both). @default true */
  unicodeTwins?: boolean;
  /**
   * Leaves out awkward root names a protocol cannot carry (say, a leading space in FTP's
   * LIST). Every exclusion should be named with its reason in the backend's test file.
   */
  exclude?: (name: string) => boolean;
}

const NFC = 'caf\u00e9';
const NFD = 'cafe\u0301';

/** Names that break naive URL, XML and path handling; all valid on ext4, SMB and S3. */
export const AWKWARD_NAMES: readonly string[] = [
  'plain.txt',
  'with space.txt',
  ' leading space.txt',
  '100% real.txt',
  '%41 looks-encoded.txt',
  'x%2Fy not a slash.txt',
  'hash#tag.txt',
  'a&b;c=d.txt',
  'plus+sign.txt',
  "quote'apostrophe.txt",
  'entity &amp; &#x41; &lt.txt',
  'brackets [1] {2} (3).txt',
  '日本語 ファイル.txt',
  'emoji 🎵.mp3',
  'é'.repeat(100) + '.txt',
  'L'.repeat(216) + '.txt',
  'empty-file.txt',
];

/**
 * Writes the tree into a fresh temporary folder. Mtimes lie two days in the past, on
 * whole seconds, so every protocol (FTP's LIST gives minutes for recent files) can
 * represent them to its precision.
 */
export function buildFixture(options: FixtureOptions = {}): Fixture {
  const tmp = tempDir('trawl-fixture-');
  const root = join(tmp.path, 'root');
  const dirs = new Map<string, FixtureEntry[]>();
  const base = Math.floor((Date.now() - 2 * 86_400_000) / 60_000) * 60_000;
  let tick = 0;
  const nextMtime = () => base + (tick++ % 3000) * 1000;
  const dirOrder: string[] = [];

  const fsPath = (path: string) => (path === '/' ? root : join(root, path));
  const addDir = (path: string) => {
    mkdirSync(fsPath(path), { recursive: true });
    dirs.set(path, []);
    dirOrder.push(path);
  };
  const child = (dir: string, name: string) => (dir === '/' ? `/${name}` : `${dir}/${name}`);
  const mkdir = (parent: string, name: string): string => {
    const path = child(parent, name);
    addDir(path);
    dirs.get(parent)!.push({ path, name, isDir: true, size: 0, mtime: 0 });
    return path;
  };
  const file = (parent: string, name: string, size: number) => {
    const path = child(parent, name);
    const mtime = nextMtime();
    writeFileSync(fsPath(path), Buffer.alloc(size, 0x61));
    utimesSync(fsPath(path), mtime / 1000, mtime / 1000);
    dirs.get(parent)!.push({ path, name, isDir: false, size, mtime });
  };

  addDir('/');
  AWKWARD_NAMES.forEach((name, i) => {
    if (!options.exclude?.(name)) file('/', name, name === 'empty-file.txt' ? 0 : 10 + i);
  });

  const unicode = mkdir('/', 'unicode');
  file(unicode, `${NFC}.txt`, 5);
  if (options.unicodeTwins ?? true) file(unicode, `${NFD}.txt`, 6);
  const nfdDir = mkdir(unicode, `${NFD} dir`);
  file(nfdDir, `${NFC} inside.txt`, 7);

  const awkwardDir = mkdir('/', 'dir with space & #hash %25');
  file(awkwardDir, 'inner file.txt', 3);
  mkdir(awkwardDir, 'empty inside');

  const big = mkdir('/', 'big');
  const bigEntries = options.bigEntries ?? 5000;
  for (let i = 0; i < bigEntries; i++) {
    file(big, `f${String(i).padStart(5, '0')}.dat`, i % 97);
  }

  let deep = mkdir('/', 'deep');
  const depth = options.depth ?? 20;
  for (let i = 1; i <= depth; i++) deep = mkdir(deep, `d${String(i).padStart(2, '0')}`);
  file(deep, 'leaf.txt', 4);

  const empty = mkdir('/', 'empty');
  const tree = mkdir('/', 'tree');
  const treeA = mkdir(tree, 'a');
  const treeB = mkdir(treeA, 'b');
  file(tree, 'x.mkv', 1234);

  const locked = mkdir('/', 'locked');
  file(locked, 'secret.txt', 9);
  file(mkdir(locked, 'inner'), 'deeper.txt', 8);

  // Directory mtimes last, deepest first: creating children changes a directory's mtime.
  for (const path of [...dirOrder].reverse()) {
    const mtime = nextMtime();
    utimesSync(fsPath(path), mtime / 1000, mtime / 1000);
    if (path === '/') continue;
    const parent = path.slice(0, path.lastIndexOf('/')) || '/';
    const entry = dirs.get(parent)!.find((e) => e.path === path)!;
    entry.mtime = mtime;
  }

  let files = 0;
  for (const list of dirs.values()) for (const e of list) if (!e.isDir) files++;
  return {
    root,
    dirs,
    bigDir: big,
    deepestDir: deep,
    emptyDirs: [empty, treeB, child(awkwardDir, 'empty inside')],
    lockedDir: locked,
    missingDir: '/no such directory',
    counts: { dirs: dirs.size - 1, files },
    cleanup: tmp.cleanup,
  };
}

/** Directories at or below `dir` (storage paths), parents first. */
export function subtreeDirs(fixture: Fixture, dir: string): string[] {
  return [...fixture.dirs.keys()].filter((d) => d === dir || d.startsWith(`${dir}/`));
}
