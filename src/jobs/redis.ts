import { Redis, type RedisOptions } from 'ioredis';
import { ConfigError } from '../config/env.js';
import { redactText } from '../util/redact.js';

/**
 * ioredis options from a `redis://[user:password@]host[:port][/db]` (or `rediss://`) URL.
 * `maxRetriesPerRequest: null`: a command waits for Redis to come back instead of failing
 * after a few tries — BullMQ's workers require it, and a worker should ride out a Redis
 * restart rather than drop what it was doing.
 */
export function redisOptions(url: string): RedisOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`not a Redis URL: ${redactText(url)} (expected redis://host:port)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new ConfigError(
      `a Redis URL starts with redis:// or rediss://, got ${JSON.stringify(u.protocol)}`,
    );
  }
  const db = u.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d+$/.test(db)) {
    throw new ConfigError(`the Redis database in ${redactText(url)} must be a number, got "${db}"`);
  }
  const options: RedisOptions = {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    maxRetriesPerRequest: null,
    // Reconnect with backoff, capped: a worker keeps trying for as long as Redis is away.
    retryStrategy: (times) => Math.min(200 * 2 ** Math.min(times, 6), 10_000),
    connectTimeout: 10_000,
  };
  if (db) options.db = Number(db);
  if (u.username) options.username = decodeURIComponent(u.username);
  if (u.password) options.password = decodeURIComponent(u.password);
  if (u.protocol === 'rediss:') options.tls = {};
  return options;
}

/** A client for `url`; errors are reported to `onError` instead of crashing the process. */
export function connectRedis(url: string, onError: (error: Error) => void = () => {}): Redis {
  const redis = new Redis(redisOptions(url));
  redis.on('error', onError);
  return redis;
}
