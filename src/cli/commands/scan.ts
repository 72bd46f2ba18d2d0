import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import type { App } from '../../app.js';
import { INDEX_ADVICE, isCancellation, type IndexErrorCode } from '../../db/errors.js';
import { guard } from '../../db/guard.js';
import type { RecordedScanResult } from '../../scan/runner.js';
import { openApp, storageSpecFrom, writeLine, type CliIo } from '../context.js';
import { parsePositiveInt, UsageError } from '../errors.js';
import { formatBytes, formatCount, formatDuration, printable } from '../format.js';
import { ProgressLine } from '../progress.js';
import { NoQueueError } from '../../jobs/no-queue.js';
import { scanUnderLease, workerName, type HeldBy } from '../../jobs/scan-job.js';
import type { ScanOptions } from '../../scan/engine.js';
import { redactText } from '../../util/redact.js';
import { URL_LIKE } from '../../storage/url.js';
import {
  endPrestartedListing,
  prestartLocalListing,
  type LocalOptions,
} from '../../storage/backends/local.js';
import { couldBeName } from '../../catalog/names.js';
import { resolveTarget } from '../resolve.js';
import { refuseOverlap } from '../overlap.js';
import { excludeList } from '../../storage/limits/options.js';
import { scanFailureLine } from '../scan-failure.js';

export const EXIT_BY_STATUS = { succeeded: 0, partial: 2, failed: 1, cancelled: 130 } as const;

/** Another process scans the storage now (EX_TEMPFAIL: try again later, or use --wait). */
export const EXIT_HELD = 75;

interface ScanFlags {
  db?: string;
  depth?: number;
  recursive: boolean;
  workers?: number;
  batch?: number;
  followSymlinks?: boolean;
  dryRun?: boolean;
  json?: boolean;
  wait?: boolean;
  enqueue?: boolean;
  redis?: string;
  new?: boolean;
  exclude: string[];
}

export function scanCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('scan')
    .description('scan a storage (a local folder or a URL) and reconcile the index')
    .argument('<storage>', 'a storage name (trawl storages ls), a local folder, or a storage URL')
    .option('--db <file|url>', 'index database: a SQLite file or postgres:// URL')
    .option(
      '--depth <n>',
      'directory levels to list (1 = the root only)',
      parsePositiveInt('--depth'),
    )
    .option('--no-recursive', 'list the root only (same as --depth 1)')
    .option('--workers <n>', 'concurrent directory listings', parsePositiveInt('--workers'))
    .option(
      '--batch <n>',
      'entries per database transaction (default: 1000 on SQLite, 5000 on PostgreSQL)',
      parsePositiveInt('--batch'),
    )
    .option('--follow-symlinks', 'follow symbolic links (loops are detected and skipped)')
    .option(
      '--exclude <glob>',
      'leave out what this gitignore pattern matches, for this scan (repeatable; docs/excludes.md)',
      (value: string, previous: string[]) => [...previous, value],
      [],
    )
    .option('--dry-run', 'walk and compare with the index, write nothing')
    .option('--json', 'print one JSON object with the result')
    .option('--wait', 'when another process scans this storage, wait for it instead of exiting 75')
    .option('--enqueue', 'queue the scan for a worker and print its job id (needs Redis)')
    .option('--redis <url>', 'Redis of the fleet (default: $TRAWL_REDIS_URL)')
    .option('--new', 'register a place inside a known storage as a storage of its own')
    .action(async (path: string, flags: ScanFlags) => {
      if (flags.enqueue && flags.exclude.length > 0) {
        throw new UsageError(
          "--exclude applies to a scan run here; a queued scan uses the storage's own list (trawl storages edit NAME --exclude GLOB)",
        );
      }
      if (flags.followSymlinks && URL_LIKE.test(path)) {
        throw new UsageError('--follow-symlinks applies to local folders only');
      }
      // A name is looked up once the index is open; a URL or a path is checked now, so a
      // typo gets its line before anything waits.
      const toSpec = (input: string) =>
        storageSpecFrom(input, flags.followSymlinks ? { followSymlinks: true } : {}, io.env);
      const early = couldBeName(path) ? undefined : toSpec(path);
      // A folder's first listing thread starts now, while the index opens (its start is
      // ~30–45 ms of a Node isolate): the scan's local client takes it when it connects.
      if (early?.kind === 'local' && !flags.enqueue) {
        try {
          prestartLocalListing(early.options as LocalOptions, io.env);
        } catch {
          // Only a head start: the client starts its own thread, and reports what fails.
        }
      }
      // Signals are heard from here on: while the index is opened, too, Ctrl-C cancels
      // cleanly instead of killing the process half-way.
      const controller = new AbortController();
      let interrupts = 0;
      const onSignal = () => {
        interrupts++;
        if (interrupts > 1) process.exit(130); // a second Ctrl-C: the user means it
        controller.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const external = io.signal;
      const onExternal = () => controller.abort();
      if (external?.aborted) controller.abort();
      external?.addEventListener('abort', onExternal, { once: true });
      const progress = new ProgressLine(io.stderr);
      let app: App | undefined;
      try {
        app = await openApp(
          flags.redis ? { ...io, env: { ...io.env, TRAWL_REDIS_URL: flags.redis } } : io,
          flags.db,
          controller.signal,
          // A dry run writes nothing: it works on an index this user may only read. A scan
          // needs no query builder (its bookkeeping on SQLite is plain statements).
          { readOnly: flags.dryRun === true, queryBuilder: false },
        );
        if (flags.enqueue && !app.fleet) throw new UsageError(new NoQueueError().message);
        // Registering the storage writes to the index too: cancelled and reported the same way.
        const index = guard(app, controller.signal);
        const target = early
          ? { kind: 'place' as const, spec: early }
          : await resolveTarget(app, path, toSpec);
        if (target.kind === 'place' && !flags.dryRun) {
          const known = await app.findStorage(target.spec);
          if (known && !known.enabled) {
            throw new UsageError(
              `storage ${known.name} is disabled (trawl storages enable ${known.name})`,
            );
          }
          if (!known && !flags.new) await refuseOverlap(app, target.spec);
        }
        if (target.kind === 'stored') {
          if (flags.followSymlinks) {
            throw new UsageError(
              `--follow-symlinks applies to a folder given by path; for the storage ${target.record.name}: trawl storages edit ${target.record.name} --set followSymlinks=true`,
            );
          }
          if (!target.record.enabled) {
            throw new UsageError(
              `storage ${target.record.name} is disabled (trawl storages enable ${target.record.name})`,
            );
          }
        }
        const storage =
          target.kind === 'stored'
            ? target.record
            : flags.dryRun
              ? await index.storageForDryRun(target.spec)
              : await index.ensureStorage(target.spec);
        // A dry run of a place never scanned only counts what it lists: the listing is all its
        // work, so with a core to spare it lists on two threads from the start.
        if (
          flags.dryRun &&
          storage.id < 0 &&
          early?.kind === 'local' &&
          (early.options as LocalOptions).threads === undefined &&
          availableParallelism() > 1
        ) {
          prestartLocalListing(early.options as LocalOptions, io.env, 2);
        }
        const where = target.kind === 'stored' ? target.record.location : target.spec.location;
        if (flags.enqueue) {
          // Only a fleet queues: BullMQ loads then, never for a local scan.
          const { enqueueScan } = await import('../../jobs/enqueue.js');
          const queued = await enqueueScan(app, storage);
          if (flags.json)
            writeLine(io.stdout, JSON.stringify({ storageId: storage.id, ...queued }));
          else {
            writeLine(
              io.stdout,
              !queued.created
                ? `a scan of ${printable(where)} is already queued: job ${queued.jobId}`
                : queued.after
                  ? `queued scan of ${printable(where)}: job ${queued.jobId}, to run after the scan under way (job ${queued.after})`
                  : `queued scan of ${printable(where)}: job ${queued.jobId} (scan ${queued.scanId})`,
            );
          }
          return;
        }
        // A missing or wrong key is one clear line now, not a failed scan.
        if (storage.id > 0) app.catalog.checkSecrets(storage);
        // A request failing and sent again is news to the user: say it as it happens, so a
        // dead host is not minutes of silence.
        const offRetry = app.storage.onRetry((n) => {
          if (n.storageId !== storage.id) return;
          progress.clear();
          const { error } = n;
          writeLine(
            io.stderr,
            `trawl: ${redactText(error.message)} (${error.code}); retry ${n.attempt}/${n.of} in ${formatDuration(n.delayMs)}`,
          );
        });
        const options: ScanOptions = {
          maxDepth: flags.depth,
          recursive: flags.recursive,
          listers: flags.workers,
          batchEntries: flags.batch,
          dryRun: flags.dryRun,
          ...(flags.exclude.length > 0 ? { exclude: excludeList(flags.exclude) } : {}),
          signal: controller.signal,
          onProgress: progress.update,
        };
        let result: RecordedScanResult;
        try {
          // A dry run writes nothing: it needs no lease. Any other scan holds the storage's
          // lease, so two processes never scan one storage at once.
          if (flags.dryRun) result = await app.scan(storage, options);
          else {
            const leased = await scanUnderLease(app, storage, options, {
              workerId: workerName('cli'),
              wait: flags.wait === true,
            });
            if ('held' in leased) {
              writeLine(io.stderr, heldLine(where, leased.held));
              setExit(EXIT_HELD);
              return;
            }
            result = leased.ran;
          }
        } finally {
          offRetry();
        }
        progress.clear();
        // A dry run of a place never scanned used a storage that exists only in this process.
        const storageId = storage.id > 0 ? storage.id : null;
        if (flags.json) writeLine(io.stdout, JSON.stringify(toJson(result, storageId)));
        else printSummary(io, where, result, flags.dryRun === true);
        const failure = indexFailureLine(result) ?? scanFailureLine(result);
        if (failure) writeLine(io.stderr, failure);
        setExit(EXIT_BY_STATUS[result.status]);
      } catch (error) {
        // Cancelled while the index was opened or the storage registered: no scan started.
        if (!controller.signal.aborted || !isCancellation(error)) throw error;
        writeLine(io.stderr, 'trawl: cancelled before the scan started');
        setExit(EXIT_BY_STATUS.cancelled);
      } finally {
        progress.clear();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        external?.removeEventListener('abort', onExternal);
        // Whatever closing finds (a dead connection), the result above stands.
        await app?.close().catch(() => undefined);
        endPrestartedListing();
      }
    });
}

/** Who scans the storage now, and what the user can do. */
function heldLine(location: string, held: HeldBy): string {
  const who = held.holder?.holder ?? 'another process';
  const scan = held.scanId !== undefined ? `scan ${held.scanId}` : 'a scan';
  const since =
    held.startedAt !== undefined ? `, since ${new Date(held.startedAt).toISOString()}` : '';
  return (
    `trawl: ${printable(location)} is being scanned by ${who} (${scan}${since}); ` +
    'run again when it is done, or add --wait'
  );
}

/**
 * One line on stderr when the index failed a scan: what happened, what became of the scan's
 * history row, and what to do. The result itself (JSON or summary) is on stdout already.
 */
function indexFailureLine(r: RecordedScanResult): string | undefined {
  const unrecorded = r.scanId !== null && !r.recorded;
  const failure = r.errorSample.find((e) => e.code.startsWith('INDEX'));
  if (!failure && !unrecorded) return undefined;
  const label = r.scanId === null ? 'dry run' : `scan ${r.scanId}`;
  const stays = `its end could not be recorded, so it stays "running" in the history`;
  if (r.status === 'cancelled') return `trawl: ${label} cancelled; ${stays}`;
  const first = failure?.message ?? 'the index failed';
  const also = unrecorded && !first.startsWith('could not record') ? `; ${stays}` : '';
  const advice = INDEX_ADVICE[(failure?.code ?? 'INDEX') as IndexErrorCode] ?? '';
  return `trawl: ${label} failed: ${first}${also}${advice ? `. ${capitalised(advice)}` : ''}`;
}

function capitalised(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function toJson(r: RecordedScanResult, storageId: number | null) {
  return {
    scanId: r.scanId,
    storageId,
    status: r.status,
    dirs: r.dirs,
    files: r.files,
    mediaFiles: r.mediaFiles,
    bytes: r.bytes,
    created: r.created,
    updated: r.updated,
    deleted: r.deleted,
    unchanged: r.unchanged,
    skipped: r.skipped,
    errors: r.errors,
    invalidEntries: r.invalidEntries,
    errorSample: r.errorSample,
    retries: r.retries,
    rateLimitWaits: r.rateLimitWaits,
    durationMs: r.durationMs,
  };
}

function printSummary(io: CliIo, location: string, r: RecordedScanResult, dryRun: boolean): void {
  const out = (line: string) => writeLine(io.stdout, line);
  const label = dryRun ? 'dry run' : `scan ${r.scanId}`;
  out(`${label} of ${printable(location)}: ${r.status} in ${formatDuration(r.durationMs)}`);
  out(
    `  ${formatCount(r.dirs)} dirs, ${formatCount(r.files)} files (${formatCount(r.mediaFiles)} media), ` +
      `${formatBytes(r.bytes)}`,
  );
  const verb = dryRun ? 'would be ' : '';
  out(
    `  ${verb}created ${formatCount(r.created)}, ${verb}updated ${formatCount(r.updated)}, ` +
      `${verb}deleted ${formatCount(r.deleted)}, unchanged ${formatCount(r.unchanged)}, skipped ${formatCount(r.skipped)}`,
  );
  if (r.retries || r.rateLimitWaits) {
    out(`  retries ${formatCount(r.retries)}, rate-limit waits ${formatCount(r.rateLimitWaits)}`);
  }
  if (r.errors) {
    out(
      `  errors ${formatCount(r.errors)}${r.errors > r.errorSample.length ? ` (first ${r.errorSample.length})` : ''}:`,
    );
    for (const e of r.errorSample)
      out(`    ${printable(e.path)}  ${e.code}  ${printable(e.message)}`);
  }
}
