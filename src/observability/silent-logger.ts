import type { Logger } from 'pino';

const ignore = (): void => undefined;

/**
 * A logger that writes nothing (the default where no one asked for logs: the command line,
 * a StorageService made without one), made without pino: loading pino, sonic-boom and what
 * they require (worker_threads, diagnostics_channel) and building a pino logger was ~3 ms of
 * every scan's start, to log nothing (bench:startup). It offers what trawl's code calls on a
 * logger (the level methods, `child`, `isLevelEnabled`); one handed to a library that needs
 * all of pino (Fastify) comes from createLogger (logger.ts) instead.
 */
export function silentLogger(): Logger {
  const logger = {
    level: 'silent',
    fatal: ignore,
    error: ignore,
    warn: ignore,
    info: ignore,
    debug: ignore,
    trace: ignore,
    silent: ignore,
    child: () => logger,
    isLevelEnabled: () => false,
    flush: ignore,
  };
  return logger as unknown as Logger;
}
