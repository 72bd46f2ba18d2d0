/**
 * Failed authentications per client, in a fixed window: past `max` failures a client is
 * refused (429, Retry-After) until its window ends, whatever token it sends — so tokens
 * cannot be guessed at speed, and a client that authenticates is never slowed. Per API node
 * and in memory: a token has 256 bits, so this only has to stop floods, not count exactly.
 */
export class AuthLimiter {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #failures = new Map<string, { count: number; until: number }>();

  constructor(options: { max?: number; windowMs?: number } = {}) {
    this.#max = options.max ?? 20;
    this.#windowMs = options.windowMs ?? 60_000;
  }

  /** Milliseconds until the client may try again; 0 when it may now. */
  blockedFor(client: string, now = Date.now()): number {
    const f = this.#failures.get(client);
    if (!f || f.until <= now) return 0;
    return f.count >= this.#max ? f.until - now : 0;
  }

  failed(client: string, now = Date.now()): void {
    const f = this.#failures.get(client);
    if (!f || f.until <= now) {
      this.#failures.set(client, { count: 1, until: now + this.#windowMs });
      // Old windows go now and then, so a flood of addresses cannot grow the map forever.
      if (this.#failures.size > 10_000) this.#sweep(now);
      return;
    }
    f.count++;
  }

  #sweep(now: number): void {
    for (const [client, f] of this.#failures) if (f.until <= now) this.#failures.delete(client);
  }
}
