import { Option, type Command } from 'commander';
import type { FindQuery } from '../../db/queries/index.js';
import { openApp, writeLine, type CliIo } from '../context.js';
import { entryOutput, totalsLine } from '../entry-output.js';
import { entryAt, writePages } from '../index-read.js';
import { indexedPlace } from '../indexed.js';
import { collectKinds, orderOf, parseSort, type SortFlag } from '../query-options.js';

interface LsFlags {
  db?: string;
  recursive?: boolean;
  json?: boolean;
  sort?: SortFlag;
  reverse?: boolean;
  files?: boolean;
  dirs?: boolean;
  kind?: string[];
}

export function lsCommand(program: Command, io: CliIo): void {
  program
    .command('ls')
    .description('show what the index holds for a storage')
    .argument(
      '<storage>',
      'a storage name, or a local folder or storage URL that was scanned (or one inside it)',
    )
    .argument('[dir]', 'directory inside the storage', '/')
    .option('--db <file|url>', 'index database: a SQLite file or postgres:// URL')
    .option('-r, --recursive', 'the whole subtree, not only the children')
    .option('--json', 'one JSON object per line: path, type, size, mtime')
    .option(
      '--sort <key>',
      'name, size (largest first) or mtime (newest first); default: path',
      parseSort,
    )
    .option('--reverse', 'the other way round')
    .addOption(new Option('--files', 'files only').conflicts('dirs'))
    .option('--dirs', 'directories only')
    .option(
      '-k, --kind <list>',
      'files of these media kinds: video, audio, image, subtitle',
      collectKinds,
    )
    .action(async (input: string, dirArg: string, flags: LsFlags) => {
      const app = await openApp(io, flags.db);
      try {
        const { storage, dir } = await indexedPlace(app, input, dirArg);
        const out = entryOutput(io.stdout, flags.json ? 'json' : 'table');
        const self = await entryAt(app, storage, dir, input);
        if (self && !self.isDir) {
          // A file is shown as itself, as ls shows one.
          const { id, path, isDir, size, mtime, mediaKind } = self;
          const name = path.slice(path.lastIndexOf('/') + 1);
          out.write({ id, storageId: storage.id, path, name, isDir, size, mtime, mediaKind });
          out.flush();
          return;
        }
        const sort = flags.sort ?? 'path';
        const isDir = flags.files ? false : flags.dirs ? true : undefined;
        const q: FindQuery = {
          tenantId: storage.tenantId,
          storageId: storage.id,
          ...(flags.recursive ? { under: dir } : { parent: dir }),
          ...(isDir === undefined ? {} : { isDir }),
          ...(flags.kind ? { mediaKinds: flags.kind } : {}),
          sort,
          order: orderOf(sort, flags.reverse === true),
        };
        try {
          await writePages(
            () => app.index.queries.findPages(q),
            (e) => out.write(e),
            io.stdout,
          );
        } finally {
          out.flush();
        }
        if (!flags.json) writeLine(io.stdout, totalsLine(out.totals));
      } finally {
        await app.close();
      }
    });
}
