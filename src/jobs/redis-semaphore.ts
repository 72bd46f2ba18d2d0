/**
 * Counting semaphores shared by every process of a fleet, in Redis. Each gate is a sorted set
 * of its holders (member: a random id per admission, score: when it expires on Redis's clock);
 * an admission first drops expired holders, then joins while the count is below the cap. A
 * holder's process renews its slots while it holds them, so a worker that dies (or is cut off
 * longer than the TTL) frees its slots when they expire, without anyone's help.
 *
 * Cost, measured in bench/gates.ts: an admission is one round trip, a release one more that
 * nobody waits for. Waiting for a full gate is not polling by every waiter: a process queues
 * its own waiters per gate and only the head of each queue asks Redis again — at once when a
 * release publishes that a waited-for gate has room, else after a backoff (25 ms doubling to
 * 1 s: what catches slots freed by expiry, which publish nothing). So each release costs at
 * most one extra round trip per waiting process, never one per waiter.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { GateSlot, SharedGates } from '../storage/limits/gates.js';

/**
 * Takes one slot of every gate, or none.
 * KEYS[1..n] gates (sorted sets: member = holder id, score = expiry, ms on Redis's clock);
 * KEYS[n+1..2n] their waiting sets (member = process id, score = expiry).
 * ARGV[1] holder id, ARGV[2] TTL ms, ARGV[3] process id to register as waiting when refused
 * ('' registers nothing), ARGV[4] waiting TTL ms, ARGV[5..4+n] each gate's cap.
 * Returns 0 when admitted, else the number of the first gate that was full.
 */
const ACQUIRE = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = #KEYS / 2
for i = 1, n do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  if redis.call('ZCARD', KEYS[i]) >= tonumber(ARGV[4 + i]) then
    if ARGV[3] ~= '' then
      redis.call('ZADD', KEYS[n + i], now + tonumber(ARGV[4]), ARGV[3])
      redis.call('PEXPIRE', KEYS[n + i], ARGV[4])
    end
    return i
  end
end
for i = 1, n do
  redis.call('ZADD', KEYS[i], now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
end
return 0`;

/**
 * Gives a holder's slots back, and says so to the processes waiting for them.
 * KEYS as for ACQUIRE; ARGV[1] holder id, ARGV[2] the wake-up channel.
 * Returns how many of the gates have processes waiting (each named in one PUBLISH).
 */
const RELEASE = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = #KEYS / 2
local wake = {}
for i = 1, n do
  redis.call('ZREM', KEYS[i], ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[n + i], '-inf', now)
  if redis.call('ZCARD', KEYS[n + i]) > 0 then wake[#wake + 1] = KEYS[i] end
end
if #wake > 0 then redis.call('PUBLISH', ARGV[2], table.concat(wake, '\\n')) end
return #wake`;

/**
 * Moves the expiry of a process's holders of one gate forward.
 * KEYS[1] the gate; ARGV[1] TTL ms, ARGV[2..] holder ids.
 * Returns how many of them were gone (expired while their process could not renew).
 */
const RENEW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expiry = now + tonumber(ARGV[1])
local missing = 0
for i = 2, #ARGV do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) > now then
    redis.call('ZADD', KEYS[1], 'XX', expiry, ARGV[i])
  else
    redis.call('ZREM', KEYS[1], ARGV[i])
    missing = missing + 1
  end
end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return missing`;

/** Holders of a gate now (expired ones not counted). KEYS[1] the gate. */
const COUNT = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')`;

export interface RedisSemaphoreOptions {
  /** Prefix of every key (a Redis Cluster hash tag such as `{trawl}` keeps them in one slot). */
  prefix: string;
  /** How long a slot outlives its last renewal: how long a dead worker's slots stay taken. @default 30000 */
  ttlMs?: number;
  /** @default ttlMs / 3 */
  renewEveryMs?: number;
  /** The longest pause between two tries of a waiting head when no wake-up comes. @default 1000 */
  maxPollMs?: number;
  /** Slots found expired at a renewal (this process could not renew them in time). */
  onLost?: (gate: string, count: number) => void;
}

/** Slots held by one admission. */
export interface HeldSlots {
  /** Gives them back (once; later calls do nothing). Never throws, never waits. */
  release(): void;
}

interface Waiter {
  slots: readonly GateSlot[];
  grant(release: () => void): void;
  /** True once granted or given up (aborted, closed). */
  settled: boolean;
}

/** The waiters of this process for one set of gates, in arrival order. */
interface WaitQueue {
  keys: string[];
  waiters: Waiter[];
  pumping: boolean;
  /** A wake-up came while the head was trying: try again before sleeping. */
  again: boolean;
  timer: NodeJS.Timeout | undefined;
  pollMs: number;
}

const MIN_POLL_MS = 25;
/** A process stays registered as waiting this long after its last refused try. */
const WAITING_TTL_MS = 5_000;

/**
 * Fleet-wide gates: the StorageService's shared caps when they must hold across every
 * worker, and the per-tenant cap on running scans.
 */
export class RedisSemaphore implements SharedGates {
  readonly #redis: () => Redis;
  readonly #prefix: string;
  readonly #ttlMs: number;
  readonly #maxPollMs: number;
  readonly #channel: string;
  readonly #me = randomUUID();
  readonly #onLost: (gate: string, count: number) => void;
  /** Gate key → ids of this process's holders, for renewal. */
  readonly #held = new Map<string, Set<string>>();
  readonly #queues = new Map<string, WaitQueue>();
  readonly #shas = new Map<string, string>();
  #seq = 0;
  #subscriber: Redis | undefined;
  #renewer: NodeJS.Timeout | undefined;
  #renewing = false;
  #closed = false;

  /** `redis`: the client, or a function that hands it out on first use. */
  constructor(redis: Redis | (() => Redis), options: RedisSemaphoreOptions) {
    this.#redis = typeof redis === 'function' ? redis : () => redis;
    this.#prefix = options.prefix;
    this.#ttlMs = options.ttlMs ?? 30_000;
    this.#maxPollMs = options.maxPollMs ?? 1_000;
    this.#channel = `${this.#prefix}:gates:freed`;
    this.#onLost = options.onLost ?? (() => {});
    const every = options.renewEveryMs ?? Math.max(10, Math.floor(this.#ttlMs / 3));
    this.#renewer = setInterval(() => void this.#renew(), every);
    this.#renewer.unref();
  }

  /** Waits until one slot of every gate is held (see {@link SharedGates.acquire}). */
  async acquire(slots: readonly GateSlot[], signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) throw signal.reason;
    if (slots.length === 0) return () => {};
    const keys = slots.map((s) => this.#key(s.name));
    const signature = keys.join('\n');
    const queue = this.#queues.get(signature);
    if (!queue || queue.waiters.length === 0) {
      // Nobody of this process waits for these gates: try at once, in parallel with others.
      const member = this.#member();
      const admitted = await untilAborted(
        this.#attempt(keys, slots, member, true),
        signal,
        (ok) => {
          if (ok) this.#release(keys, member);
        },
      );
      if (admitted) return this.#hold(keys, member).release;
    }
    return this.#wait(signature, keys, slots, signal);
  }

  /** One try, no waiting: the slots, or undefined when a gate is full. */
  async tryAcquire(slots: readonly GateSlot[]): Promise<HeldSlots | undefined> {
    const keys = slots.map((s) => this.#key(s.name));
    const member = this.#member();
    return (await this.#attempt(keys, slots, member, false)) ? this.#hold(keys, member) : undefined;
  }

  /** Holders of a gate across the fleet now (for tests and diagnostics). */
  async count(name: string): Promise<number> {
    return Number(await this.#eval(COUNT, [this.#key(name)], []));
  }

  /** Stops renewing and waiting: waiters reject; slots still held expire after their TTL. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#renewer) clearInterval(this.#renewer);
    for (const queue of this.#queues.values()) {
      if (queue.timer) clearTimeout(queue.timer);
      // Closed: a grant now rejects the waiter (with nothing held).
      for (const w of queue.waiters) if (!w.settled) w.grant(() => {});
    }
    this.#queues.clear();
    const sub = this.#subscriber;
    this.#subscriber = undefined;
    await sub?.quit().catch(() => sub.disconnect());
  }

  #key(name: string): string {
    return `${this.#prefix}:gate:${name}`;
  }

  #member(): string {
    return `${this.#me}:${++this.#seq}`;
  }

  /** One admission try; `register`: when refused, this process is told of the next release. */
  async #attempt(
    keys: string[],
    slots: readonly GateSlot[],
    member: string,
    register: boolean,
  ): Promise<boolean> {
    const full = await this.#eval(
      ACQUIRE,
      [...keys, ...keys.map((k) => `${k}:waiting`)],
      [
        member,
        this.#ttlMs,
        register ? this.#me : '',
        WAITING_TTL_MS,
        ...slots.map((s) => Math.max(1, Math.floor(s.limit))),
      ],
    );
    if (Number(full) === 0) return true;
    // Told of releases from the first refusal on (a release meanwhile: the backoff's try).
    if (register) this.#subscribe();
    return false;
  }

  #hold(keys: string[], member: string): HeldSlots {
    for (const key of keys) {
      let members = this.#held.get(key);
      if (!members) this.#held.set(key, (members = new Set()));
      members.add(member);
    }
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        for (const key of keys) {
          const members = this.#held.get(key);
          members?.delete(member);
          if (members?.size === 0) this.#held.delete(key);
        }
        this.#release(keys, member);
      },
    };
  }

  /** Not awaited by the holder: a release that cannot be sent expires with its TTL. */
  #release(keys: string[], member: string): void {
    this.#eval(RELEASE, [...keys, ...keys.map((k) => `${k}:waiting`)], [member, this.#channel])
      .then(() => undefined)
      .catch(() => undefined);
  }

  #wait(
    signature: string,
    keys: string[],
    slots: readonly GateSlot[],
    signal: AbortSignal | undefined,
  ): Promise<() => void> {
    if (this.#closed) return Promise.reject(new Error('the fleet-wide gates are closed'));
    let queue = this.#queues.get(signature);
    if (!queue) {
      queue = { keys, waiters: [], pumping: false, again: false, timer: undefined, pollMs: 0 };
      this.#queues.set(signature, queue);
    }
    const q = queue;
    return new Promise<() => void>((resolve, reject) => {
      const onAbort = () => {
        if (waiter.settled) return;
        waiter.settled = true;
        const i = q.waiters.indexOf(waiter);
        if (i >= 0) q.waiters.splice(i, 1);
        this.#forgetIfIdle(signature, q);
        reject(signal!.reason);
      };
      const waiter: Waiter = {
        slots,
        settled: false,
        grant: (release) => {
          waiter.settled = true;
          signal?.removeEventListener('abort', onAbort);
          if (this.#closed) {
            release();
            reject(new Error('the fleet-wide gates are closed'));
          } else resolve(release);
        },
      };
      q.waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      // Tried and refused a moment ago (or others wait already): the next try is the
      // backoff's, or a release's wake-up.
      if (!q.pumping && q.timer === undefined) this.#schedule(signature, q);
    });
  }

  #schedule(signature: string, q: WaitQueue): void {
    q.pollMs = q.pollMs === 0 ? MIN_POLL_MS : Math.min(q.pollMs * 2, this.#maxPollMs);
    q.timer = setTimeout(() => {
      q.timer = undefined;
      void this.#pump(signature, q);
    }, q.pollMs);
    q.timer.unref();
  }

  /** Tries for the head of the queue until one is refused; admits as many as fit. */
  async #pump(signature: string, q: WaitQueue): Promise<void> {
    if (q.pumping) {
      q.again = true;
      return;
    }
    if (q.timer) clearTimeout(q.timer);
    q.timer = undefined;
    q.pumping = true;
    try {
      for (;;) {
        q.again = false;
        while (q.waiters[0]?.settled) q.waiters.shift();
        const head = q.waiters[0];
        if (!head || this.#closed) break;
        const member = this.#member();
        let admitted = false;
        try {
          admitted = await this.#attempt(q.keys, head.slots, member, true);
        } catch {
          // Redis answered with an error (not an outage: ioredis holds commands until it
          // reconnects): back off and try again.
        }
        if (admitted) {
          q.pollMs = 0;
          const held = this.#hold(q.keys, member);
          if (head.settled) held.release();
          else {
            q.waiters.shift();
            head.grant(held.release);
          }
          continue;
        }
        if (!q.again) break;
      }
    } finally {
      q.pumping = false;
      if (q.waiters.some((w) => !w.settled) && !this.#closed) this.#schedule(signature, q);
      else this.#forgetIfIdle(signature, q);
    }
  }

  #forgetIfIdle(signature: string, q: WaitQueue): void {
    if (q.pumping || q.waiters.some((w) => !w.settled)) return;
    if (q.timer) clearTimeout(q.timer);
    q.timer = undefined;
    if (this.#queues.get(signature) === q) this.#queues.delete(signature);
  }

  /** A release named gates that processes wait for: the heads of our queues try now. */
  #wake(message: string): void {
    const keys = new Set(message.split('\n'));
    for (const [signature, q] of this.#queues) {
      if (!q.keys.some((k) => keys.has(k))) continue;
      q.pollMs = 0;
      void this.#pump(signature, q);
    }
  }

  #subscribe(): void {
    if (this.#subscriber || this.#closed) return;
    const sub = this.#redis().duplicate();
    this.#subscriber = sub;
    // Logged by the main connection; a missed wake-up is caught by the backoff.
    sub.on('error', () => {});
    sub.on('message', (_channel: string, message: string) => this.#wake(message));
    sub.subscribe(this.#channel).catch(() => undefined);
  }

  async #renew(): Promise<void> {
    if (this.#renewing || this.#held.size === 0) return;
    this.#renewing = true;
    try {
      await Promise.all(
        [...this.#held].map(async ([key, members]) => {
          const missing = Number(await this.#eval(RENEW, [key], [this.#ttlMs, ...members]));
          if (missing > 0) this.#onLost(key, missing);
        }),
      );
    } catch {
      // Redis away: the next tick tries again; slots not renewed in time expire.
    } finally {
      this.#renewing = false;
    }
  }

  /** EVALSHA, loading the script on first use (or after Redis lost it). */
  async #eval(script: string, keys: string[], args: Array<string | number>): Promise<unknown> {
    const redis = this.#redis();
    let sha = this.#shas.get(script);
    if (sha) {
      try {
        return await redis.evalsha(sha, keys.length, ...keys, ...args);
      } catch (error) {
        if (!String((error as Error).message).includes('NOSCRIPT')) throw error;
      }
    }
    sha = (await redis.script('LOAD', script)) as string;
    this.#shas.set(script, sha);
    return redis.evalsha(sha, keys.length, ...keys, ...args);
  }
}

/**
 * `work`, or the signal's reason as soon as it aborts; what `work` resolves to after that is
 * handed to `late` (a slot admitted for a caller who left is given back).
 */
function untilAborted<T>(
  work: Promise<T>,
  signal: AbortSignal | undefined,
  late: (value: T) => void,
): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const onAbort = () => {
      if (done) return;
      done = true;
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        if (done) late(value);
        else {
          done = true;
          resolve(value);
        }
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        if (!done) {
          done = true;
          reject(error as Error);
        }
      },
    );
  });
}
