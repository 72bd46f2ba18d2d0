import type { Command } from 'commander';
import { adminToken } from '../../api/admin-token.js';
import { loadConfig } from '../../config/env.js';
import { checkIndexTarget, dialectOf } from '../../db/dialect.js';
import { workerName } from '../../jobs/scan-job.js';
import type { ScanRunner } from '../../jobs/scan-runner.js';
import { addressPolicyFromEnv } from '../../storage/net/address-policy.js';
import { indexTarget, openApp, writeLine, type CliIo } from '../context.js';
import { parsePositiveInt, UsageError } from '../errors.js';

interface ServeFlags {
  port: string;
  host: string;
  db?: string;
  redis?: string;
  concurrency: number;
}

/** How long in-flight requests (and event streams) get to finish after SIGTERM. */
const DRAIN_MS = 5_000;

function portOf(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65_535) {
    throw new UsageError(
      `--port must be a number from 0 to 65535 (0: any free port), got ${JSON.stringify(text)}`,
    );
  }
  return n;
}

/**
 * `trawl serve`: the HTTP API and the web page. Without Redis it is the whole service in one
 * process — API, the storages' schedules and the scans asked for, on the SQLite index. With
 * Redis (a fleet) it is one API node: scans go to the queue, workers run them elsewhere.
 * Every storage connection goes through the SSRF guard (TRAWL_ALLOW_NETWORKS and
 * TRAWL_ALLOW_LOCAL_PATHS open it), unlike the CLI's, which runs as the machine's own user.
 */
export function serveCommand(program: Command, io: CliIo): void {
  program
    .command('serve')
    .description('serve the HTTP API and the web page (and run scans, without Redis)')
    .option('--port <n>', 'port to listen on (0: any free port)', '8080')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--db <file|url>', 'index database: a SQLite file or postgres:// URL')
    .option(
      '--redis <url>',
      'Redis of the fleet (default: $TRAWL_REDIS_URL): makes this an API node',
    )
    .option(
      '--concurrency <n>',
      'scans run at once in this process (without Redis)',
      parsePositiveInt('--concurrency'),
      2,
    )
    .action(async (flags: ServeFlags) => {
      const port = portOf(flags.port);
      const env = flags.redis ? { ...io.env, TRAWL_REDIS_URL: flags.redis } : io.env;
      const config = loadConfig(env);
      const database = indexTarget(env, flags.db);
      // Before the admin token is made beside a SQLite index: not beside `mysql:/…`.
      checkIndexTarget(database);
      const policy = addressPolicyFromEnv(env);
      const admin = adminToken(env, dialectOf(database) === 'sqlite' ? database : undefined);
      // The logger and the scan runners (BullMQ, cron) load with the command that runs them.
      const [{ createLogger }, { scanRunner }, { createRegistry }] = await Promise.all([
        import('../../observability/logger.js'),
        import('../../jobs/runners.js'),
        import('../../observability/metrics.js'),
      ]);
      const logger = createLogger({ level: env.TRAWL_LOG_LEVEL ? config.logLevel : 'info' });
      const signal = untilSignal(io);
      const app = await openApp({ ...io, env }, database, undefined, {
        addressPolicy: policy,
        logger,
        // A tenant's storage gets no credentials from this server's environment.
        storageEnv: {},
        // Served at `/metrics`: the storage layer's, the API's and the queue's.
        metrics: createRegistry(),
        // A server writes (scans, tokens): an index it cannot write is refused at start.
        readOnly: false,
      }).catch((error: unknown) => {
        signal.dispose();
        throw error;
      });
      let runner: ScanRunner | undefined;
      try {
        runner = app.fleet
          ? undefined
          : scanRunner(app, { workerId: workerName('serve'), concurrency: flags.concurrency });
        // The HTTP stack (Fastify, schemas, validators) loads only for `serve`: every other
        // command starts without it.
        const { buildServer } = await import('../../api/server.js');
        const server = await buildServer({
          app,
          runner,
          addressPolicy: policy,
          adminToken: admin?.token,
          logger,
          trustProxy: env.TRAWL_TRUST_PROXY === '1',
        });
        const address = await server.listen({ port, host: flags.host });
        runner?.start();
        writeLine(io.stdout, `trawl serve: listening on ${address}`);
        if (admin?.created)
          writeLine(io.stderr, `trawl: made the admin token, in ${admin.source} (mode 0600)`);
        else if (admin) writeLine(io.stderr, `trawl: admin token from ${admin.source}`);
        else
          writeLine(
            io.stderr,
            'trawl: no admin token (set TRAWL_ADMIN_TOKEN): the /v1/tenants routes refuse every caller',
          );
        writeLine(
          io.stderr,
          app.fleet
            ? 'trawl: API node of a fleet: scans are queued for the workers'
            : `trawl: scans run in this process (${flags.concurrency} at a time); docs at ${address}/docs`,
        );
        await signal.stopped;
        writeLine(
          io.stderr,
          'trawl: stopping: no new requests; scans running are cancelled cleanly',
        );
        const drained = server.close();
        // Event streams never end by themselves: cut them after the grace period.
        const cut = setTimeout(() => server.server.closeAllConnections(), DRAIN_MS);
        await runner?.stop();
        await drained;
        clearTimeout(cut);
      } finally {
        signal.dispose();
        await app.close().catch(() => undefined);
      }
    });
}

/** Resolves at the first SIGINT / SIGTERM; a second one exits at once (the operator means it). */
function untilSignal(io: CliIo): { stopped: Promise<void>; dispose(): void } {
  let resolve!: () => void;
  const stopped = new Promise<void>((r) => (resolve = r));
  let signals = 0;
  const onSignal = () => {
    if (++signals > 1) process.exit(130);
    resolve();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  io.signal?.addEventListener('abort', onSignal, { once: true });
  return {
    stopped,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
