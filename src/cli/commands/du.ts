import { InvalidArgumentError, type Command } from 'commander';
import type { DirTotals } from '../../db/queries/index.js';
import { ROOT } from '../../storage/paths.js';
import { openApp, writeLine, type CliIo } from '../context.js';
import { formatBytes, formatCount, printable } from '../format.js';
import { entryAt, usageOf } from '../index-read.js';
import { indexedPlace } from '../indexed.js';
import { MEDIA_KINDS } from '../query-options.js';

interface DuFlags {
  db?: string;
  depth: number;
  json?: boolean;
}

/** `trawl du`: subtree totals per directory from the index, largest first, as `du -d`. */
export function duCommand(program: Command, io: CliIo): void {
  program
    .command('du')
    .description(
      'totals per directory (files, dirs, bytes, media kinds) from the index, largest first',
    )
    .argument('<storage>', 'a storage name, or the local folder or storage URL that was scanned')
    .argument('[dir]', 'directory inside the storage', ROOT)
    .option('--db <file|url>', 'index database: a SQLite file or postgres:// URL')
    .option('-d, --depth <n>', 'directory levels listed below dir (0: dir alone)', depthOf, 1)
    .option('--json', 'one JSON object per line: path, files, dirs, bytes, kinds')
    .action(async (input: string, dirArg: string, flags: DuFlags) => {
      const app = await openApp(io, flags.db);
      try {
        const { storage, dir } = await indexedPlace(app, input, dirArg);
        const self = await entryAt(app, storage, dir, input);
        let rows: DirTotals[];
        if (self && !self.isDir) rows = [fileTotals(self.path, self.size, self.mediaKind)];
        else {
          try {
            rows = await app.index.queries.du({
              tenantId: storage.tenantId,
              storageId: storage.id,
              dir,
              depth: flags.depth,
              kinds: MEDIA_KINDS,
            });
          } catch (error) {
            throw usageOf(error);
          }
        }
        if (flags.json) for (const r of rows) writeLine(io.stdout, JSON.stringify(r));
        else for (const line of table(rows)) writeLine(io.stdout, line);
      } finally {
        await app.close();
      }
    });
}

function depthOf(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) {
    throw new InvalidArgumentError(`expected an integer from 0 up, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** A file given as the directory: it is its own total, as `du file` shows. */
function fileTotals(path: string, bytes: number, kind: string | null): DirTotals {
  const kinds = Object.fromEntries(
    [...MEDIA_KINDS, 'other'].map((k) => [k, { files: 0, bytes: 0 }]),
  );
  const own = kinds[kind !== null && kind in kinds ? kind : 'other']!;
  own.files = 1;
  own.bytes = bytes;
  return { path, dirs: 0, files: 1, bytes, kinds };
}

/**
 * SIZE, FILES, DIRS, the bytes of each media kind present (`-`: no such file), PATH, numbers
 * right-aligned. Kinds no row has are left out (the first row, the directory asked for,
 * holds every other).
 */
function table(rows: DirTotals[]): string[] {
  const top = rows[0];
  const kinds = MEDIA_KINDS.filter((k) => (top?.kinds[k]?.files ?? 0) > 0);
  const header = ['SIZE', 'FILES', 'DIRS', ...kinds.map((k) => k.toUpperCase())];
  const cells = rows.map((r) => [
    formatBytes(r.bytes),
    formatCount(r.files),
    formatCount(r.dirs),
    ...kinds.map((k) => (r.kinds[k]?.files ? formatBytes(r.kinds[k].bytes) : '-')),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[], path: string) =>
    `${c.map((x, i) => x.padStart(widths[i]!)).join('  ')}  ${path}`;
  return [line(header, 'PATH'), ...cells.map((c, i) => line(c, printable(rows[i]!.path)))];
}
