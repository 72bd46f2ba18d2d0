import type { Command } from 'commander';
import type { App } from '../../app.js';
import { workerName } from '../../jobs/scan-job.js';
import type { WorkerEvent } from '../../jobs/worker.js';
import { redactText } from '../../util/redact.js';
import { openApp, writeLine, type CliIo } from '../context.js';
import { parsePositiveInt } from '../errors.js';
import { formatCount, formatDuration } from '../format.js';

interface WorkerFlags {
  db?: string;
  redis?: string;
  concurrency: number;
  json?: boolean;
}

/**
 * `trawl worker`: runs the fleet's scan jobs (and the storages' schedules) until SIGTERM or
 * Ctrl-C, then drains. Without Redis it is the embedded worker: it runs the storages'
 * scheduled scans in this process, when they are due.
 */
export function workerCommand(program: Command, io: CliIo): void {
  program
    .command('worker')
    .description(
      'run scan jobs from the queue (fleet mode), or scheduled scans (without Redis), until SIGTERM',
    )
    .option('--db <file|url>', 'index database: a SQLite file or postgres:// URL')
    .option('--redis <url>', 'Redis of the fleet (default: $TRAWL_REDIS_URL)')
    .option('--concurrency <n>', 'scans run at once', parsePositiveInt('--concurrency'), 2)
    .option('--json', 'one JSON object per line for each event')
    .action(async (flags: WorkerFlags) => {
      const env = flags.redis ? { ...io.env, TRAWL_REDIS_URL: flags.redis } : io.env;
      const redisUrl = env.TRAWL_REDIS_URL;
      const app = await openApp({ ...io, env }, flags.db, undefined, { readOnly: false });
      const say = (event: WorkerEvent) =>
        writeLine(
          flags.json ? io.stdout : io.stderr,
          flags.json ? JSON.stringify(event) : line(event),
        );
      const workerId = workerName('worker');
      const options = { workerId, concurrency: flags.concurrency, onEvent: say };
      // The runners (BullMQ, cron) load with the command that runs them, not with every command.
      const { scanRunner } = await import('../../jobs/runners.js');
      const worker = scanRunner(app, options);
      let stop: (() => void) | undefined;
      const stopped = new Promise<void>((resolve) => (stop = resolve));
      let signals = 0;
      const onSignal = () => {
        if (++signals > 1) process.exit(130); // a second signal: the operator means it
        stop?.();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      io.signal?.addEventListener('abort', onSignal, { once: true });
      try {
        worker.start();
        if (!flags.json) {
          writeLine(
            io.stderr,
            redisUrl
              ? `trawl: worker ${workerId} takes scan jobs (${flags.concurrency} at a time); SIGTERM drains`
              : `trawl: worker ${workerId} runs scheduled scans (${flags.concurrency} at a time, no Redis: this process only); SIGTERM drains`,
          );
        }
        await stopped;
        if (!flags.json) writeLine(io.stderr, `trawl: draining (${worker.active} scans running)…`);
        await worker.stop();
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await closeQuietly(app);
      }
    });
}

async function closeQuietly(app: App): Promise<void> {
  await app.close().catch(() => undefined);
}

function line(e: WorkerEvent): string {
  switch (e.kind) {
    case 'scanned': {
      const r = e.result;
      return (
        `trawl: job ${e.jobId}: scan ${e.scanId ?? '-'} of storage ${e.storageId} ${r.status} in ` +
        `${formatDuration(r.durationMs)}: files ${formatCount(r.files)}, +${formatCount(r.created)} ` +
        `~${formatCount(r.updated)} -${formatCount(r.deleted)}, errors ${formatCount(r.errors)}`
      );
    }
    case 'held':
      return `trawl: job ${e.jobId}: storage ${e.storageId} is being scanned by ${e.holder ?? 'another worker'}; retried later`;
    case 'scheduled':
      return e.created
        ? `trawl: storage ${e.storageId} is due (schedule): queued as job ${e.jobId}`
        : `trawl: storage ${e.storageId} is due (schedule): a scan is queued already (job ${e.jobId})`;
    case 'index-unavailable':
      return `trawl: job ${e.jobId}: the index database is unavailable (${e.code}: ${redactText(e.message)}); storage ${e.storageId} retried in ${formatDuration(e.delayMs)}`;
    case 'tenant-busy':
      return `trawl: job ${e.jobId}: tenant ${e.tenantId} runs ${e.max} scans already (TRAWL_TENANT_MAX_SCANS); storage ${e.storageId} retried later`;
    case 'skipped':
      return `trawl: job ${e.jobId}: skipped, ${e.why}`;
    case 'interrupted':
      return `trawl: marked interrupted (their workers are gone): scans ${e.scanIds.join(', ')}`;
    case 'error':
      return `trawl: ${redactText(e.message)} (retrying)`;
  }
}
