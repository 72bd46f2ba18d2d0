/**
 * Imported before `pg` (connect.ts): keeps pg's start-up from loading Node's whole fetch
 * stack. pg 8 asks at load whether it runs in a Cloudflare Worker; where `navigator` is
 * missing (Node 20: it came in Node 21) it builds a `Response` to find out, and the first
 * touch of `Response` loads undici: ~40 ms of every PostgreSQL command's start (measured
 * with `node -e`, 36–52 ms; a `find` that matches nothing started in ~0.19 s).
 *
 * So, where there is none, a `navigator` of Node's own kind (Node 21's says `Node.js/…`) is
 * there while the modules load, and gone at the next tick: pg loads in the same synchronous
 * evaluation as this module, and no other code ever sees it. Were pg loaded later, it would
 * only probe as before.
 */
const global = globalThis as { navigator?: unknown };
if (global.navigator === undefined) {
  Object.defineProperty(global, 'navigator', {
    value: { userAgent: `Node.js/${process.versions.node.split('.')[0]}` },
    configurable: true,
    writable: true,
  });
  process.nextTick(() => delete global.navigator);
}
