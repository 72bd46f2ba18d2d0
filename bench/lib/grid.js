/**
 * The tree of `npm run bench:db`, computed instead of stored (a stored tree of 1M entries
 * would weigh ~230 MB, more than the scan being measured): `dirs` directories of `files`
 * files under ⌈dirs / 100⌉ top directories. `mutated` is the changed tree: every 10th file
 * (n % 10 = 3) has a new size, every 20th (n % 20 = 7) is gone, and a new file appears for
 * every 20th (n % 20 = 11). The same listings feed the scan (through a memory volume) and
 * the raw reference writes, so both write exactly the same rows.
 */

/** Entries in the unmutated tree: top directories, directories and files. */
export const gridEntries = (dirs, files) => Math.ceil(dirs / 100) + dirs * (files + 1);

/** One directory's listing as the memory backend's entries. */
export function gridListing(dir, { dirs, files, mutated = false }) {
  const out = [];
  const entry = (path, name, isDir, size, mtime) => ({ path, name, isDir, size, mtime });
  if (dir === '/') {
    for (let t = 0; t < Math.ceil(dirs / 100); t++)
      out.push(entry(`/top${t}`, `top${t}`, true, 0, 0));
    return out;
  }
  const top = /^\/top(\d+)$/.exec(dir);
  if (top) {
    const first = Number(top[1]) * 100;
    for (let d = first; d < Math.min(first + 100, dirs); d++)
      out.push(entry(`${dir}/d${d}`, `d${d}`, true, 0, d));
    return out;
  }
  const d = Number(/\/d(\d+)$/.exec(dir)[1]);
  for (let f = 0; f < files; f++) {
    const n = d * files + f;
    const name = `file ${f}${f % 3 === 0 ? '.mkv' : '.txt'}`;
    if (mutated && n % 20 === 7) continue;
    const size = mutated && n % 10 === 3 ? 1 : f * 10 + d;
    out.push(entry(`${dir}/${name}`, name, false, size, 1_700_000_000_000 + f));
    if (mutated && n % 20 === 11)
      out.push(entry(`${dir}/new ${f}.flac`, `new ${f}.flac`, false, f, 1));
  }
  return out;
}

/**
 * Every row of the unmutated tree as the index stores it (`parent` is the listed
 * directory), in the order a breadth-first walk lists them.
 */
export function* gridRows(dirs, files) {
  const queue = ['/'];
  for (let i = 0; i < queue.length; i++) {
    const dir = queue[i];
    for (const e of gridListing(dir, { dirs, files })) {
      if (e.isDir) queue.push(e.path);
      yield { ...e, parent: dir };
    }
  }
}

/**
 * The memory volume that serves the grid (a class extending the build's MemoryTree, passed
 * in: the benches load the build from dist/): listings computed, in pages of `page`, the
 * changed tree once `mutated` is set.
 */
export const gridVolume = (MemoryTree, { dirs, files, page = 1000 }) =>
  class GridVolume extends MemoryTree {
    mutated = false;

    async *pages(dir) {
      this.stats.lists++;
      const all = gridListing(dir, { dirs, files, mutated: this.mutated });
      for (let i = 0; i < all.length; i += page) yield all.slice(i, i + page);
    }

    async list(dir) {
      return gridListing(dir, { dirs, files, mutated: this.mutated });
    }
  };

/** The storage every grid bench scans: the memory volume `bench`, in the app's tenant. */
export const gridStorage = (app) =>
  app.index.storages.upsert({
    tenantId: app.tenantId,
    name: 'bench',
    kind: 'memory',
    location: 'memory://bench',
    options: { volume: 'bench' },
  });
