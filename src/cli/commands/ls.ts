import type { Command } from 'commander';
import type { IndexedEntry } from '../../db/entries.js';
import { normalizePath, parentOf, ROOT } from '../../storage/paths.js';
import { parseStorageSpec } from '../../storage/url.js';
import { openApp, writeLine, type CliIo } from '../context.js';
import { resolveTarget } from '../resolve.js';
import { UsageError } from '../errors.js';
import { formatBytes, isoMtime, printable } from '../format.js';

interface LsFlags {
  db?: string;
  recursive?: boolean;
  json?: boolean;
}

export function lsCommand(program: Command, io: CliIo): void {
  program
    .command('ls')
    .description('show what the index holds for a storage')
    .argument('<storage>', 'a storage name, or the local folder or storage URL that was scanned')
    .argument('[dir]', 'directory inside the storage', '/')
    .option('--db <file|url>', 'index database: a SQLite file or postgres:// URL')
    .option('-r, --recursive', 'the whole subtree, not only the children')
    .option('--json', 'one JSON object per line: path, type, size, mtime')
    .action(async (path: string, dir: string, flags: LsFlags) => {
      let inside: string;
      try {
        inside = normalizePath(dir);
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
      const app = await openApp(io, flags.db);
      try {
        const target = await resolveTarget(app, path, (input) => parseStorageSpec(input));
        const storage =
          target.kind === 'stored' ? target.record : await app.findStorage(target.spec);
        if (!storage) throw new UsageError(`nothing indexed for ${path} (run: trawl scan ${path})`);
        const scope = { tenantId: storage.tenantId, storageId: storage.id };
        const show = (e: IndexedEntry) => {
          // An S3 prefix has no time: null and `-`, not 1970-01-01 (format.ts).
          const mtime = isoMtime(e.mtime);
          if (flags.json) {
            const type = e.isDir ? 'dir' : 'file';
            writeLine(
              io.stdout,
              JSON.stringify({ path: e.path, type, size: e.size, mtime: mtime ?? null }),
            );
          } else {
            const size = e.isDir ? '-' : formatBytes(e.size);
            writeLine(
              io.stdout,
              `${e.isDir ? 'd' : '-'} ${size.padStart(9)}  ${(mtime ?? '-').padEnd(24)}  ${printable(e.path)}`,
            );
          }
        };
        let shown = 0;
        for await (const e of app.index.entries.list(scope, inside, {
          recursive: flags.recursive,
        })) {
          show(e);
          shown++;
        }
        if (shown === 0 && inside !== ROOT) {
          // Nothing below it: an empty directory, a file (shown as ls shows one), or a typo.
          let self: IndexedEntry | undefined;
          for await (const e of app.index.entries.list(scope, parentOf(inside))) {
            if (e.path === inside) self = e;
          }
          if (!self) throw new UsageError(`nothing indexed at ${printable(inside)} in ${path}`);
          if (!self.isDir) show(self);
        }
      } finally {
        await app.close();
      }
    });
}
