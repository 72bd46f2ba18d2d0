/**
 * A native addon's exports, loaded from its path with `process.dlopen`, as `require()` loads
 * an addon but without a CommonJS module around it: Node 20's first such module load (and
 * the first use of `node:module`) starts its ES module loader, ~1 ms of an empty scan's start
 * that nothing else in it needs (bench:startup). The listing thread, which runs from its
 * source text, writes the same out (local-worker.ts).
 */
export function loadAddon<T extends object>(path: string): T {
  const addon = { exports: {} };
  process.dlopen(addon, path);
  return addon.exports as T;
}
