import type { Command } from 'commander';
import { openApp, writeLine, type CliIo } from '../context.js';
import { parsePositiveInt } from '../errors.js';
import { formatCount, formatDuration, printable } from '../format.js';

interface ScansFlags {
  db?: string;
  json?: boolean;
  limit?: number;
}

export function scansCommand(program: Command, io: CliIo): void {
  program
    .command('scans')
    .description('the history of scans, newest first')
    .option('--db <file|url>', 'index database: a SQLite file or postgres:// URL')
    .option('--limit <n>', 'how many scans to show', parsePositiveInt('--limit'), 50)
    .option('--json', 'one JSON object per line')
    .action(async (flags: ScansFlags) => {
      const app = await openApp(io, flags.db);
      try {
        const storages = new Map(
          (await app.index.storages.list(app.tenantId)).map((s) => [s.id, s]),
        );
        const scans = await app.index.scans.list({ tenantId: app.tenantId, limit: flags.limit });
        for (const s of scans) {
          const location = storages.get(s.storageId)?.location ?? `storage ${s.storageId}`;
          if (flags.json) {
            writeLine(
              io.stdout,
              JSON.stringify({
                ...s,
                location,
                startedAt: new Date(s.startedAt).toISOString(),
                finishedAt: s.finishedAt === null ? null : new Date(s.finishedAt).toISOString(),
              }),
            );
          } else {
            writeLine(
              io.stdout,
              `${String(s.id).padStart(5)}  ${new Date(s.startedAt).toISOString()}  ${s.status.padEnd(9)}  ` +
                `${formatDuration(s.durationMs).padStart(9)}  files ${formatCount(s.files)}  ` +
                `+${formatCount(s.created)} ~${formatCount(s.updated)} -${formatCount(s.deleted)}  ` +
                `errors ${formatCount(s.errors)}  ${printable(location)}`,
            );
          }
        }
      } finally {
        await app.close();
      }
    });
}
