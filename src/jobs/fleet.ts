/**
 * The pieces of a fleet the composition root builds (Redis, BullMQ queues, Redis leases and
 * gates), behind one module that `App.open` imports only when a Redis URL is configured: an
 * embedded process (a laptop's `trawl scan`) never loads ioredis or BullMQ (bench:startup).
 */
export { RedisLeaseStore } from './redis-lease.js';
export { connectRedis, redisOptions } from './redis.js';
export { RedisSemaphore } from './redis-semaphore.js';
export { queuePrefix, ScanQueue } from './scan-queue.js';
export { FleetSchedules } from './schedules.js';
// The query builder's repositories a fleet's composition needs (an embedded scan on SQLite
// loads no Kysely: db/sqlite/bookkeeping.ts).
export { bumpFence } from '../db/repositories/fences.js';
export { ScheduleRepository } from '../db/repositories/schedules.js';
