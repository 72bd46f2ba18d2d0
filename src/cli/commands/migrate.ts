import type { Command } from 'commander';
import { loadConfig } from '../../config/env.js';
import { redactDbUrl } from '../../db/dialect.js';
import { indexTarget, writeLine, type CliIo } from '../context.js';

interface MigrateFlags {
  db?: string;
  json?: boolean;
}

/**
 * `trawl migrate`: brings the index's schema up to this trawl's and exits. The embedded CLI
 * migrates on open by itself; in a fleet (TRAWL_REDIS_URL set) workers and API nodes refuse
 * an index that lacks migrations, and a deploy runs this once, before them.
 */
export function migrateCommand(program: Command, io: CliIo): void {
  program
    .command('migrate')
    .description("bring the index database's schema up to this trawl's, then exit")
    .option('--db <file|url>', 'index database: a SQLite file or postgres:// URL')
    .option('--json', 'one JSON object: the migrations applied')
    .action(async (flags: MigrateFlags) => {
      const config = loadConfig(io.env);
      const target = indexTarget(io.env, flags.db);
      // The database layer loads with the command that opens the index, not with every command.
      const { migrateIndex } = await import('../../db/open.js');
      const applied = await migrateIndex(target, {
        busyTimeoutMs: config.sqliteBusyTimeoutMs,
        ...(io.signal ? { signal: io.signal } : {}),
        onWait: (wait) =>
          writeLine(
            io.stderr,
            `trawl: waiting for the index ${wait.target} (${
              wait.reason === 'locked' ? 'locked by another process' : 'no answer yet'
            })…`,
          ),
      });
      if (flags.json) {
        writeLine(io.stdout, JSON.stringify({ applied }));
        return;
      }
      writeLine(
        io.stdout,
        applied.length
          ? `migrated ${redactDbUrl(target)}: ${applied.join(', ')}`
          : `${redactDbUrl(target)} is up to date`,
      );
    });
}
