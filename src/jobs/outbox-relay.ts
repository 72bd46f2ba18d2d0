import { randomUUID } from 'node:crypto';
import { Queue, type ConnectionOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { redisOptions } from './redis.js';

/** The queue change events are relayed to. */
export const CHANGES_QUEUE = 'changes';

/** What a consumer of the `changes` queue receives: one committed batch of one scan. */
export interface ChangeEventData {
  /** The outbox row's id: increasing, so a consumer can order or deduplicate by it. */
  eventId: number;
  tenantId: number;
  storageId: number;
  scanId: number | null;
  created: number[];
  updated: number[];
  deleted: number[];
  /** Epoch ms of the commit. */
  at: number;
}

/** Only one relay moves events at a time: it keeps them in commit order. */
const LOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0`;

/**
 * Moves committed change events from the outbox to the `changes` queue, oldest first, then
 * deletes them. At least once: an event is enqueued before its row is deleted, under the job
 * id `change-<eventId>` so that a relay that died between the two re-adds the same job. One
 * relay at a time (a Redis lock), so events reach the queue in commit order — per storage
 * and overall. The lock lapses `lockMs` after its holder stopped relaying: a dead worker
 * holds events back for one lease period, as it holds its scans (30 s fixed, every worker
 * death stalled the events of the whole fleet for 30 s: test/fleet.drills.test.ts).
 */
export class OutboxRelay {
  readonly #db: Kysely<Database>;
  readonly #redis: Redis;
  readonly #queue: Queue;
  readonly #lockKey: string;
  readonly #me = randomUUID();
  readonly #lockMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  /** @param lockMs how long the relay lock outlives its holder's last page. @default 30000 */
  constructor(
    db: Kysely<Database>,
    redis: Redis,
    redisUrl: string,
    prefix: string,
    lockMs = 30_000,
  ) {
    this.#db = db;
    this.#redis = redis;
    this.#lockMs = lockMs;
    this.#queue = new Queue(CHANGES_QUEUE, {
      connection: redisOptions(redisUrl) as ConnectionOptions,
      prefix,
    });
    // Without a listener BullMQ prints a stack trace for every failed reconnect while Redis is
    // away (the worker's own connection says it once, as a line); relays wait for it.
    this.#queue.on('error', () => {});
    this.#lockKey = `${prefix}:outbox-relay`;
  }

  get queue(): Queue {
    return this.#queue;
  }

  /** Relays every `everyMs` until stopped. */
  start(everyMs = 250): void {
    const tick = () => {
      this.#running = this.relayOnce()
        .then(() => undefined)
        .catch(() => undefined)
        .finally(() => {
          if (this.#timer !== undefined) this.#timer = setTimeout(tick, everyMs).unref();
        });
    };
    this.#timer = setTimeout(tick, everyMs).unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
    await this.#queue.close();
  }

  /** Relays what is in the outbox now (all of it, a page at a time); returns how many events. */
  async relayOnce(page = 500): Promise<number> {
    let moved = 0;
    for (;;) {
      const locked = await this.#redis.eval(LOCK, 1, this.#lockKey, this.#me, this.#lockMs);
      if (locked !== 1) return moved;
      const rows = await this.#db
        .selectFrom('change_events')
        .selectAll()
        .orderBy('id')
        .limit(page)
        .execute();
      if (rows.length === 0) return moved;
      await this.#queue.addBulk(
        rows.map((r) => {
          const data: ChangeEventData = {
            eventId: Number(r.id),
            tenantId: Number(r.tenant_id),
            storageId: Number(r.storage_id),
            scanId: r.scan_id === null ? null : Number(r.scan_id),
            created: JSON.parse(r.created) as number[],
            updated: JSON.parse(r.updated) as number[],
            deleted: JSON.parse(r.deleted) as number[],
            at: Number(r.created_at),
          };
          return {
            name: 'changes',
            data,
            opts: {
              jobId: `change-${data.eventId}`,
              removeOnComplete: 10_000,
              removeOnFail: 10_000,
            },
          };
        }),
      );
      await this.#db
        .deleteFrom('change_events')
        .where(
          'id',
          'in',
          rows.map((r) => r.id),
        )
        .execute();
      moved += rows.length;
      if (rows.length < page) return moved;
    }
  }
}
