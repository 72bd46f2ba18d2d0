import type { Command } from 'commander';
import type { App } from '../../app.js';
import { couldBeName } from '../../catalog/names.js';
import { parseEvery } from '../../catalog/schedule.js';
import { isCancellation } from '../../db/errors.js';
import { guard } from '../../db/guard.js';
import { WatchError } from '../../jobs/watch/events.js';
import type { StorageWatch, WatchActivity } from '../../jobs/watch/storage-watch.js';
import { URL_LIKE } from '../../storage/url.js';
import { redactText } from '../../util/redact.js';
import { openApp, storageSpecFrom, writeLine, type CliIo } from '../context.js';
import { UsageError } from '../errors.js';
import { formatCount, formatDuration, printable } from '../format.js';
import { resolveTarget } from '../resolve.js';

interface WatchFlags {
  db?: string;
  rescanEvery?: number;
  json?: boolean;
}

/** `--rescan-every`: a duration like 6h, or 0 / never for no periodic rescan. */
function parseRescanEvery(value: string): number {
  if (value === '0' || value === 'never') return 0;
  try {
    return parseEvery(value);
  } catch {
    throw new UsageError(
      `Expected \`--rescan-every\` to be a duration like 30m, 6h, 1d (1 minute to 366 days), or 0 for never, got ${JSON.stringify(value)}`,
    );
  }
}

/**
 * `trawl watch`: keeps a local folder's index live from file-system events until Ctrl-C or
 * SIGTERM. Exits 1 when the watch cannot go on (the system's watch limit), with what to do.
 */
export function watchCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('watch')
    .description('keep the index of a local folder live from file-system events, until Ctrl-C')
    .argument('<storage>', 'a local folder, or the name of a local storage (trawl storages ls)')
    .option('--db <file|url>', 'index database: a SQLite file or postgres:// URL')
    .option(
      '--rescan-every <duration>',
      'also rescan the whole folder this often, as a safety net: 30m, 6h, 1d, or 0 for never (default 6h)',
      parseRescanEvery,
    )
    .option('--json', 'one JSON object per line for each thing the watch does')
    .action(async (input: string, flags: WatchFlags) => {
      if (URL_LIKE.test(input) && !input.startsWith('file:')) {
        throw new UsageError(
          `only local folders can be watched (file-system events); a remote storage is kept fresh by scheduled scans (trawl storages edit NAME --every 6h)`,
        );
      }
      const early = couldBeName(input) ? undefined : storageSpecFrom(input);
      const controller = new AbortController();
      const stopNow = () => controller.abort();
      process.on('SIGINT', stopNow);
      process.on('SIGTERM', stopNow);
      const external = io.signal;
      if (external?.aborted) controller.abort();
      external?.addEventListener('abort', stopNow, { once: true });
      let app: App | undefined;
      let watch: StorageWatch | undefined;
      try {
        // The watch writes from the start: never opened read-only. (Typed loosely so that it
        // reads the same whether openApp's options know `readOnly` or not.)
        const writable = { readOnly: false } as unknown as Parameters<typeof openApp>[3];
        app = await openApp(io, flags.db, controller.signal, writable);
        const target = early
          ? { kind: 'place' as const, spec: early }
          : await resolveTarget(app, input, (i) => storageSpecFrom(i));
        const storage =
          target.kind === 'stored'
            ? target.record
            : await guard(app, controller.signal).ensureStorage(target.spec);
        if (!storage.enabled) {
          throw new UsageError(
            `storage ${storage.name} is disabled (trawl storages enable ${storage.name})`,
          );
        }
        const say = (activity: WatchActivity) => {
          if (flags.json) writeLine(io.stdout, JSON.stringify(activity));
          else {
            const line = describe(activity);
            if (line) writeLine(io.stderr, line);
          }
        };
        // The watcher (and the scan engine under it) loads when a watch starts, not with
        // every command.
        const { StorageWatch, DEFAULT_RESCAN_EVERY_MS } =
          await import('../../jobs/watch/storage-watch.js');
        watch = await StorageWatch.start(app, storage, {
          rescanEveryMs: flags.rescanEvery ?? DEFAULT_RESCAN_EVERY_MS,
          onActivity: say,
        });
        const stopped = new Promise<void>((resolve) => {
          if (controller.signal.aborted) resolve();
          controller.signal.addEventListener('abort', () => resolve(), { once: true });
        });
        await Promise.race([watch.done, stopped]);
        await watch.stop();
        await watch.done;
      } catch (error) {
        if (error instanceof WatchError) {
          writeLine(io.stderr, `trawl: watch of ${printable(input)} stopped: ${error.message}`);
          setExit(1);
          return;
        }
        if (!controller.signal.aborted || !isCancellation(error)) throw error;
      } finally {
        process.off('SIGINT', stopNow);
        process.off('SIGTERM', stopNow);
        external?.removeEventListener('abort', stopNow);
        await watch?.stop();
        await app?.close().catch(() => undefined);
      }
    });
}

/** One line on stderr for a thing the watch did; undefined for one not worth a line. */
function describe(a: WatchActivity): string | undefined {
  const time = new Date().toISOString().slice(11, 19);
  switch (a.kind) {
    case 'watching':
      return (
        `${time} watching ${formatCount(a.watches)} ${a.watches === 1 ? 'directory' : 'directories'} (Ctrl-C stops)` +
        (a.unwatchable.length > 0
          ? `; ${formatCount(a.unwatchable.length)} may not be read, so are not watched: ${a.unwatchable.slice(0, 3).map(printable).join(', ')}`
          : '')
      );
    case 'scan': {
      const r = a.result;
      const why = {
        start: 'first scan',
        rescan: 'periodic rescan',
        overflow: 'rescan after the event queue overflowed',
        coarsened: 'rescan of the whole tree after a burst of changes',
      }[a.why];
      return (
        `${time} ${why}: scan ${r.scanId} ${r.status} in ${formatDuration(r.durationMs)}, ` +
        `${formatCount(r.dirs)} dirs, ${formatCount(r.files)} files; ${counts(r)}` +
        (r.errors ? `; errors ${formatCount(r.errors)} (trawl scans show ${r.scanId})` : '')
      );
    }
    case 'applied': {
      const r = a.applied;
      if ('full' in r) return undefined;
      if (r.created + r.updated + r.deleted + r.errors === 0) return undefined;
      const errors = r.errorSample.map((e) => `${printable(e.path)} ${e.code}`).join(', ');
      return (
        `${time} ${formatCount(a.dirs)} ${a.dirs === 1 ? 'directory' : 'directories'} listed again: ${counts(r)}` +
        (r.errors ? `; errors ${formatCount(r.errors)}: ${errors}` : '')
      );
    }
    case 'held':
      return `${time} ${a.holder ?? 'another process'} is scanning this storage; changes wait for it`;
    case 'retry':
      return `${time} could not apply changes: ${redactText(a.error)}; again in ${formatDuration(a.delayMs)}`;
  }
}

function counts(r: { created: number; updated: number; deleted: number }): string {
  return `created ${formatCount(r.created)}, updated ${formatCount(r.updated)}, deleted ${formatCount(r.deleted)}`;
}
