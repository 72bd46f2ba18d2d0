import { MemoryTree } from '../../src/storage/backends/memory-tree.js';

/**
 * A deterministic tree of `dirs` directories (in groups of 100 under top-level folders)
 * with `filesPerDir` files each: the same arguments give the same tree in any process.
 */
export function gridTree(dirs: number, filesPerDir: number, tree = new MemoryTree()): MemoryTree {
  for (let d = 0; d < dirs; d++) {
    const dir = `/top${Math.floor(d / 100)}/d${d}`;
    tree.mkdir(dir, d);
    for (let f = 0; f < filesPerDir; f++) {
      tree.writeFile(
        `${dir}/file ${f}${f % 3 === 0 ? '.mkv' : '.txt'}`,
        f * 10 + d,
        1_700_000_000_000 + f,
      );
    }
  }
  return tree;
}

/** How many entries (files and directories) {@link gridTree} holds. */
export function gridEntries(dirs: number, filesPerDir: number): number {
  return Math.ceil(dirs / 100) + dirs + dirs * filesPerDir;
}

/**
 * Changes a share of a grid tree's files deterministically: every `modEvery`-th file
 * modified, every `delEvery`-th deleted, and `addPerDir` new files per directory.
 * Returns the number of files modified, deleted and added.
 */
export function mutateGrid(
  tree: MemoryTree,
  dirs: number,
  filesPerDir: number,
  plan: { modEvery: number; delEvery: number; addPerDir: number },
): { modified: number; deleted: number; added: number } {
  const out = { modified: 0, deleted: 0, added: 0 };
  let n = 0;
  for (let d = 0; d < dirs; d++) {
    const dir = `/top${Math.floor(d / 100)}/d${d}`;
    for (let f = 0; f < filesPerDir; f++, n++) {
      const path = `${dir}/file ${f}${f % 3 === 0 ? '.mkv' : '.txt'}`;
      if (n % plan.delEvery === plan.delEvery - 1) {
        tree.remove(path);
        out.deleted++;
      } else if (n % plan.modEvery === 0) {
        tree.modify(path, { size: f * 10 + d + 1 });
        out.modified++;
      }
    }
    for (let a = 0; a < plan.addPerDir; a++) {
      tree.writeFile(`${dir}/new ${a}.flac`, a, 1);
      out.added++;
    }
  }
  return out;
}
