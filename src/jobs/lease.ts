/**
 * One scan per storage: a lease, held by one worker at a time, granted with a fencing token.
 *
 * A lease has a time to live and is renewed while its scan runs; a holder that stops
 * renewing (killed, paused, cut off) loses it when it expires, and the next grant bumps the
 * storage's fence in the index. Every write of a scan checks the fence it was granted, so a
 * holder that lost its lease — and does not know it yet — writes nothing after its
 * successor began. The lease keeps two scans from running at once; the fence keeps a late
 * one from doing harm.
 */

/** A granted lease. */
export interface Lease {
  readonly storageId: number;
  /** The storage's fence this grant bumped it to: the token every write of the scan carries. */
  readonly fence: number;
  readonly holder: string;
  /** Aborts when the lease is lost: a renewal was refused, or could not be made in time. */
  readonly lost: AbortSignal;
  /** Gives the lease back (only if still ours); stops renewing. Never throws. */
  release(): Promise<void>;
}

/** Who holds a storage's lease, as far as the store can tell. */
export interface LeaseHolder {
  holder: string;
  /** Epoch ms when it expires unless renewed, where the store knows it. */
  expiresAt?: number | undefined;
}

export interface LeaseStore {
  /** Takes the storage's lease for `holder`, or undefined when someone else holds it. */
  tryAcquire(storageId: number, holder: string): Promise<Lease | undefined>;
  /** The current holder, or undefined when the lease is free (or expired). */
  holderOf(storageId: number): Promise<LeaseHolder | undefined>;
  close(): Promise<void>;
}

export interface LeaseTiming {
  /** How long a grant lives without renewal. @default 30000 */
  ttlMs: number;
  /** How often a held lease is renewed. @default ttlMs / 3 */
  renewEveryMs?: number;
}

export const DEFAULT_LEASE_TTL_MS = 30_000;

/**
 * The renewal loop every store shares: renew every `renewEveryMs`; a renewal the store
 * refuses loses the lease at once; failures (store unreachable) are retried until the lease
 * would have expired, then it is lost — the holder must assume a successor may hold it.
 */
export function keepRenewed(
  timing: LeaseTiming,
  renew: () => Promise<boolean>,
  onLost: (why: string) => void,
): { stop(): void } {
  const every = timing.renewEveryMs ?? Math.max(10, Math.floor(timing.ttlMs / 3));
  let validUntil = Date.now() + timing.ttlMs;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    if (stopped) return;
    const attemptAt = Date.now();
    try {
      if (await renew()) validUntil = attemptAt + timing.ttlMs;
      else {
        stopped = true;
        onLost('the lease was taken over');
        return;
      }
    } catch {
      if (Date.now() >= validUntil) {
        stopped = true;
        onLost('the lease could not be renewed before it expired');
        return;
      }
    }
    if (!stopped) {
      timer = setTimeout(() => void tick(), every);
      timer.unref();
    }
  };
  timer = setTimeout(() => void tick(), every);
  timer.unref();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

/** How long giving a lease back may take: a frozen store must not hold up a shutdown. */
const RELEASE_MS = 1_000;

/**
 * A granted lease, as every store hands it out: renewed by `renew` (see {@link keepRenewed})
 * until released; released by `giveBack` (only the holder's own grant), waiting at most a
 * second — if the store does not answer, the lease expires on its own.
 */
export function grantedLease(
  grant: { storageId: number; fence: number; holder: string },
  timing: LeaseTiming,
  renew: () => Promise<boolean>,
  giveBack: () => Promise<unknown>,
): Lease {
  const controller = new AbortController();
  const renewal = keepRenewed(timing, renew, (why) => controller.abort(new Error(why)));
  return {
    ...grant,
    lost: controller.signal,
    release: async () => {
      renewal.stop();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        giveBack().catch(() => undefined),
        new Promise((resolve) => (timer = setTimeout(resolve, RELEASE_MS).unref())),
      ]);
      clearTimeout(timer);
    },
  };
}
