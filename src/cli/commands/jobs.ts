import type { Command } from 'commander';
import { NoQueueError } from '../../jobs/no-queue.js';
import { openApp, writeLine, type CliIo } from '../context.js';
import { UsageError } from '../errors.js';
import { printable } from '../format.js';

interface JobsFlags {
  db?: string;
  redis?: string;
  json?: boolean;
}

/** `trawl jobs`: the queue's counts and the scans running now. */
export function jobsCommand(program: Command, io: CliIo): void {
  program
    .command('jobs')
    .description('scan jobs waiting, active, delayed and failed, and the scans running now')
    .option('--db <file|url>', 'index database: a SQLite file or postgres:// URL')
    .option('--redis <url>', 'Redis of the fleet (default: $TRAWL_REDIS_URL)')
    .option('--json', 'one JSON object')
    .action(async (flags: JobsFlags) => {
      const env = flags.redis ? { ...io.env, TRAWL_REDIS_URL: flags.redis } : io.env;
      if (!env.TRAWL_REDIS_URL) throw new UsageError(new NoQueueError().message);
      const app = await openApp({ ...io, env }, flags.db);
      try {
        const counts = await app.scanQueue!.counts();
        const storages = new Map(
          (await app.index.storages.list(app.tenantId)).map((s) => [s.id, s]),
        );
        const running = (
          await app.index.scans.list({ tenantId: app.tenantId, status: 'running', limit: 1000 })
        ).map((s) => ({
          scanId: s.id,
          storageId: s.storageId,
          location: storages.get(s.storageId)?.location ?? null,
          workerId: s.workerId,
          jobId: s.jobId,
          startedAt: new Date(s.startedAt).toISOString(),
          heartbeatAt: s.heartbeatAt === null ? null : new Date(s.heartbeatAt).toISOString(),
        }));
        if (flags.json) {
          writeLine(io.stdout, JSON.stringify({ ...counts, running }));
          return;
        }
        writeLine(
          io.stdout,
          `waiting ${counts.waiting}, active ${counts.active}, delayed ${counts.delayed}, ` +
            `failed ${counts.failed}, completed ${counts.completed}`,
        );
        for (const r of running) {
          writeLine(
            io.stdout,
            `  scan ${r.scanId} of ${printable(r.location ?? `storage ${r.storageId}`)} on ${r.workerId ?? '?'} since ${r.startedAt}` +
              (r.heartbeatAt ? `, alive ${r.heartbeatAt}` : ''),
          );
        }
      } finally {
        await app.close().catch(() => undefined);
      }
    });
}
