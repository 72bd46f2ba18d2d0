/**
 * `--enqueue` (or a schedule) without Redis. A file of its own: the command line names it
 * without loading the queue (BullMQ) behind {@link enqueueScan}.
 */
export class NoQueueError extends Error {
  constructor() {
    super('a queue needs Redis: set TRAWL_REDIS_URL (or pass --redis redis://host:6379)');
    this.name = 'NoQueueError';
  }
}
