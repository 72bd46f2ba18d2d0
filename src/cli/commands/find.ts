import { Option, type Command } from 'commander';
import type { FindQuery } from '../../db/queries/index.js';
import { ROOT } from '../../storage/paths.js';
import { openApp, type CliIo } from '../context.js';
import { entryOutput } from '../entry-output.js';
import { parsePositiveInt, UsageError } from '../errors.js';
import { checkDir, writeChunks } from '../index-read.js';
import { indexedPlace } from '../indexed.js';
import {
  collectExtensions,
  collectKinds,
  collectSize,
  orderOf,
  parseSort,
  parseType,
  parseWhen,
  sizeRange,
  type SizeBound,
  type SortFlag,
} from '../query-options.js';

interface FindFlags {
  db?: string;
  name?: string;
  path?: string;
  caseSensitive?: boolean;
  ext?: string[];
  kind?: string[];
  type?: boolean;
  size?: SizeBound[];
  newer?: number;
  older?: number;
  sort?: SortFlag;
  reverse?: boolean;
  limit?: number;
  json?: boolean;
  print0?: boolean;
  absolute?: boolean;
}

/**
 * `trawl find`: `fd` over the index rather than the disk. Exit status 0 whether or not
 * anything matched (as fd and find), 1 for an error.
 */
export function findCommand(program: Command, io: CliIo): void {
  program
    .command('find')
    .description('find entries in the index of a storage by name, path, type, size or time')
    .argument('<storage>', 'a storage name, or the local folder or storage URL that was scanned')
    .argument('[dir]', 'only below this directory of the storage', ROOT)
    .option('--db <file|url>', 'index database: a SQLite file or postgres:// URL')
    .option('--name <glob>', 'the name matches this glob (* ? [a-z]; any case unless -s)')
    .option('--path <glob>', 'the whole path matches this glob (** crosses directories)')
    .option('-s, --case-sensitive', 'globs match letters of the same case only')
    .option(
      '-e, --ext <list>',
      'extensions, comma-separated (mkv,mp4); repeatable',
      collectExtensions,
    )
    .option('-k, --kind <list>', 'media kinds: video, audio, image, subtitle', collectKinds)
    .option('-t, --type <f|d>', 'files (f) or directories (d) only', parseType)
    .option(
      '-S, --size <size>',
      'files of at least (+1G), at most (-10k) or exactly (500) this size; repeatable',
      collectSize,
    )
    .option(
      '--newer <when>',
      'modified within this age (7d, 12h) or since this date (2026-01-01)',
      (v) => parseWhen(v),
    )
    .option('--older <when>', 'modified longer ago than this age, or before this date', (v) =>
      parseWhen(v),
    )
    .option(
      '--sort <key>',
      'name, size (largest first) or mtime (newest first); default: path',
      parseSort,
    )
    .option('--reverse', 'the other way round')
    .option('--limit <n>', 'at most this many', parsePositiveInt('--limit'))
    .addOption(
      new Option('--json', 'one JSON object per line: path, type, size, mtime, kind').conflicts(
        'print0',
      ),
    )
    .option('-0, --print0', 'paths only, each ended by a NUL (for xargs -0)')
    .option('-a, --absolute', 'local storages: print the file system path')
    .action(async (input: string, dirArg: string, flags: FindFlags) => {
      const app = await openApp(io, flags.db);
      try {
        const { storage, dir } = await indexedPlace(app, input, dirArg);
        if (flags.absolute && storage.kind !== 'local') {
          throw new UsageError(
            `--absolute needs a local storage; ${storage.name} is ${storage.kind}`,
          );
        }
        await checkDir(app, storage, dir, input);
        const size = sizeRange(flags.size ?? []);
        if (size.min !== undefined && size.max !== undefined && size.min > size.max) {
          throw new UsageError(
            `--size: at least ${size.min} and at most ${size.max} bytes leaves nothing to find`,
          );
        }
        const q: FindQuery = {
          tenantId: storage.tenantId,
          storageId: storage.id,
          ...(dir === ROOT ? {} : { under: dir }),
          ...(flags.name === undefined ? {} : { name: flags.name }),
          ...(flags.path === undefined ? {} : { path: flags.path }),
          caseSensitive: flags.caseSensitive === true,
          ...(flags.ext ? { extensions: flags.ext } : {}),
          ...(flags.kind ? { mediaKinds: flags.kind } : {}),
          // A size is a file's (as fd has it): directories have none to compare.
          ...(flags.type !== undefined
            ? { isDir: flags.type }
            : flags.size
              ? { isDir: false }
              : {}),
          ...(size.min === undefined ? {} : { minSize: size.min }),
          ...(size.max === undefined ? {} : { maxSize: size.max }),
          ...(flags.newer === undefined ? {} : { mtimeFrom: flags.newer }),
          ...(flags.older === undefined ? {} : { mtimeBefore: flags.older }),
          sort: flags.sort ?? 'path',
          order: orderOf(flags.sort ?? 'path', flags.reverse === true),
          ...(flags.limit === undefined ? {} : { limit: flags.limit }),
        };
        const root = storage.location;
        const prefix = flags.absolute && root !== ROOT ? root : '';
        const out = entryOutput(io.stdout, flags.print0 ? 'nul' : flags.json ? 'json' : 'table', {
          kind: true,
          prefix,
        });
        try {
          // `-0` prints paths alone: read them alone (on SQLite, the path index and no row;
          // on PostgreSQL, when the SQL tests everything, as COPY's bytes, never decoded).
          if (flags.print0) {
            await writeChunks(
              () => app.index.queries.findPathBytes(q, { prefix }),
              (chunk) => io.stdout.write(chunk),
              io.stdout,
            );
          } else {
            // On PostgreSQL, when the SQL tests everything, COPY's rows read from their bytes.
            await writeChunks(
              () => app.index.queries.findEntryChunks(q),
              (chunk) => chunk.each(out),
              io.stdout,
            );
          }
        } finally {
          out.flush();
        }
      } finally {
        await app.close();
      }
    });
}
