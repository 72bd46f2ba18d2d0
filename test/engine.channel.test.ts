import { describe, expect, it } from 'vitest';
import { Channel } from '../src/scan/channel.js';
import { Frontier } from '../src/scan/frontier.js';
import { checkListing } from '../src/scan/listing.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe(Channel.name, () => {
  it('admits waiting puts in arrival order: a light item never overtakes a heavy one', async () => {
    const ch = new Channel<string>(10);
    const order: string[] = [];
    expect(await ch.put('a', 8)).toBe(true);
    const heavy = ch.put('heavy', 9).then((ok) => order.push(`heavy:${ok}`));
    const light = ch.put('light', 1).then((ok) => order.push(`light:${ok}`));
    await tick();
    // 'light' would fit (8 + 1 ≤ 10) but waits behind 'heavy'.
    expect(ch.length).toBe(1);
    expect(ch.waitingPuts).toBe(2);
    expect(await ch.takeBatch(8, 0)).toEqual(['a']);
    await Promise.all([heavy, light]);
    expect(order).toEqual(['heavy:true', 'light:true']);
    expect(await ch.takeBatch(100, 0)).toEqual(['heavy', 'light']);
  });

  it('admits an item heavier than the capacity once the channel is empty', async () => {
    const ch = new Channel<string>(5);
    await ch.put('small', 1);
    let admitted = false;
    const big = ch.put('big', 50).then(() => (admitted = true));
    await tick();
    expect(admitted).toBe(false);
    expect(await ch.takeBatch(5, 0)).toEqual(['small']);
    await big;
    expect(ch.weight).toBe(50);
    expect(await ch.takeBatch(5, 0)).toEqual(['big']);
  });

  it('never lets a batch exceed its weight unless one item alone does', async () => {
    const ch = new Channel<number>(100);
    for (const w of [4, 4, 4, 30, 1]) await ch.put(w, w);
    ch.close();
    expect(await ch.takeBatch(10, 0)).toEqual([4, 4]);
    expect(await ch.takeBatch(10, 0)).toEqual([4]);
    expect(await ch.takeBatch(10, 0)).toEqual([30]);
    expect(await ch.takeBatch(10, 0)).toEqual([1]);
    expect(await ch.takeBatch(10, 0)).toEqual([]);
  });

  it('refuses waiting and later puts once closed, and discard drops what is queued', async () => {
    const ch = new Channel<string>(1);
    await ch.put('a', 1);
    const waiting = ch.put('b', 1);
    ch.discard();
    expect(await waiting).toBe(false);
    expect(await ch.put('c', 1)).toBe(false);
    expect(await ch.takeBatch(10, 0)).toEqual([]);
  });

  it('gathers a batch until it is full, then a put waiting for room hands it over at once', async () => {
    const ch = new Channel<string>(5);
    const taking = ch.takeBatch(10, 60_000);
    expect(ch.tryPut('a', 4)).toBe(true);
    await tick();
    // Taken into the batch, which waits for 6 more.
    expect(ch.length).toBe(0);
    expect(ch.tryPut('b', 4)).toBe(true);
    await tick();
    expect(ch.length).toBe(1);
    // No room for c (4 + 4 > 5): the taker takes b, and a batch of 8 cannot take c too.
    expect(ch.tryPut('c', 4)).toBe(false);
    const c = ch.put('c', 4);
    expect(await taking).toEqual(['a', 'b']);
    expect(await c).toBe(true);
    expect(await ch.takeBatch(10, 0)).toEqual(['c']);
  });

  it('returns a batch that is not full once its time is up', async () => {
    const ch = new Channel<string>(100);
    const taking = ch.takeBatch(10, 20);
    await ch.put('a', 1);
    await ch.put('b', 1);
    expect(await taking).toEqual(['a', 'b']);
  });

  it('wakes a waiting taker on close', async () => {
    const ch = new Channel<string>(1);
    const taken = ch.takeBatch(10, 1000);
    ch.close();
    expect(await taken).toEqual([]);
  });

  it('returns a batch at its deadline when its timer fires before it by Date.now()', async () => {
    const ch = new Channel<string>(10);
    await ch.put('a', 1);
    // A timer runs on the loop's monotonic clock, truncated to milliseconds, and the deadline
    // is counted by `Date.now()`: the timer can fire while the deadline is still ~1 ms ahead
    // (seen as a scan's batch waiting forever under load). Here it fires 50 ms early, every
    // time; no put will come to wake the taker.
    const real = globalThis.setTimeout;
    const early = ((fn: () => void, ms?: number) =>
      real(fn, Math.max(0, (ms ?? 0) - 50))) as typeof setTimeout;
    globalThis.setTimeout = early;
    let taken: Promise<string[]>;
    try {
      taken = ch.takeBatch(100, 100);
    } finally {
      globalThis.setTimeout = real;
    }
    let guard: ReturnType<typeof setTimeout> | undefined;
    const hung = new Promise<'hung'>(
      (resolve) => (guard = setTimeout(() => resolve('hung'), 3000)),
    );
    expect(await Promise.race([taken, hung])).toEqual(['a']);
    clearTimeout(guard);
  });
});

describe(Frontier.name, () => {
  it('ends the walk when nothing is queued or being listed', async () => {
    const f = new Frontier();
    f.push({ dir: '/', depth: 0 });
    const root = await f.next();
    expect(root).toEqual({ dir: '/', depth: 0 });
    // Another lister waits: the root is still being listed and may yield children.
    let other: unknown = 'pending';
    const waiting = f.next().then((x) => (other = x));
    await tick();
    expect(other).toBe('pending');
    f.push({ dir: '/a', depth: 1 });
    f.done();
    await waiting;
    expect(other).toEqual({ dir: '/a', depth: 1 });
    const last = f.next();
    f.done();
    expect(await last).toBe(undefined);
    expect(f.outstanding).toBe(0);
  });

  it('hands out nothing more once stopped', async () => {
    const f = new Frontier();
    f.push({ dir: '/', depth: 0 });
    f.stop();
    expect(await f.next()).toBe(undefined);
    f.push({ dir: '/b', depth: 1 });
    expect(f.queued).toBe(1); // the root only: a push after stop is ignored
    expect(await f.next()).toBe(undefined);
  });
});

describe(checkListing.name, () => {
  const file = (path: string, name: string) => ({ path, name, isDir: false, size: 0, mtime: 0 });

  it('accepts a listing whose entries are the directory’s children', () => {
    expect(() => checkListing('/', [file('/a', 'a'), file('/b c', 'b c')])).not.toThrow();
    expect(() => checkListing('/x/y', [file('/x/y/a\\b', 'a\\b')])).not.toThrow();
    expect(() => checkListing('/x', [])).not.toThrow();
  });

  it.each([
    ['an entry of another directory', '/x', file('/y/a', 'a')],
    ['a grandchild', '/x', file('/x/y/a', 'y/a')],
    ['a name that does not match the path', '/x', file('/x/a', 'b')],
    ['a path without its separator', '/x', file('/xxa', 'a')],
    ['a "." name', '/x', file('/x/.', '.')],
    ['a ".." name', '/', file('/..', '..')],
    ['an empty name', '/x', file('/x/', '')],
  ])('refuses %s', (_label, dir, entry) => {
    expect(() => checkListing(dir, [entry])).toThrow(
      expect.objectContaining({ code: 'PROTOCOL', path: dir }),
    );
  });

  it('refuses a name listed twice', () => {
    expect(() => checkListing('/x', [file('/x/a', 'a'), file('/x/a', 'a')])).toThrow(
      'listing of /x names "a" twice',
    );
  });

  it('refuses a name listed twice in a listing sorted or not, wherever the twin is', () => {
    const listing = (...names: string[]) => names.map((n) => file(`/x/${n}`, n));
    // Sorted until the twin: the names before it are checked too.
    expect(() => checkListing('/x', listing('a', 'b', 'c', 'b'))).toThrow('names "b" twice');
    expect(() => checkListing('/x', listing('a', 'b', 'c', 'a', 'd'))).toThrow('names "a" twice');
    // Out of order from the start.
    expect(() => checkListing('/x', listing('c', 'a', 'b', 'a'))).toThrow('names "a" twice');
    expect(() => checkListing('/x', listing('b', 'a', 'c', 'b'))).toThrow('names "b" twice');
    expect(() => checkListing('/x', listing('a', 'b', 'c', 'd'))).not.toThrow();
    expect(() => checkListing('/x', listing('d', 'c', 'b', 'a'))).not.toThrow();
  });
});
