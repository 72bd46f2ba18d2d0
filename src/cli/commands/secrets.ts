import type { Command } from 'commander';
import { openApp, writeLine, type CliIo } from '../context.js';

interface RotateFlags {
  db?: string;
  json?: boolean;
}

/** `trawl secrets rotate`: every stored secret sealed again under the sealing key. */
export function secretsCommand(program: Command, io: CliIo): void {
  const secrets = program
    .command('secrets')
    .description('the keys that seal storage secrets at rest (docs/secrets.md)');
  secrets
    .command('rotate')
    .description(
      'seal every stored secret under a new key: with a key file, a new key is made and the old one dropped; ' +
        'with TRAWL_SECRET_KEY, under that key (old ones in TRAWL_SECRET_KEYS_PREVIOUS)',
    )
    .option('--db <file|url>', 'index database: a SQLite file or postgres:// URL')
    .option('--json', 'one JSON object: keyId, storages, secrets, retired')
    .action(async (flags: RotateFlags) => {
      const app = await openApp(io, flags.db);
      try {
        const result = await app.catalog.rotate();
        if (flags.json) {
          writeLine(io.stdout, JSON.stringify(result));
          return;
        }
        writeLine(
          io.stdout,
          `sealed ${result.secrets} secret(s) of ${result.storages} storage(s) again under key ${result.keyId}`,
        );
        if (result.retired.length > 0) {
          writeLine(
            io.stdout,
            io.env.TRAWL_SECRET_KEY
              ? `no stored secret needs key ${result.retired.join(', ')} any more: remove it from TRAWL_SECRET_KEYS_PREVIOUS`
              : `dropped key ${result.retired.join(', ')} from the key file`,
          );
        }
      } finally {
        await app.close();
      }
    });
}
