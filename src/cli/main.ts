import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { ConfigError } from '../config/env.js';
import { INDEX_ADVICE, IndexError } from '../db/errors.js';
import { StorageError } from '../storage/errors.js';
import { redactText } from '../util/redact.js';
import { lsCommand } from './commands/ls.js';
import { scanCommand } from './commands/scan.js';
import { watchCommand } from './commands/watch.js';
import { scansCommand } from './commands/scans.js';
import { jobsCommand } from './commands/jobs.js';
import { workerCommand } from './commands/worker.js';
import { serveCommand } from './commands/serve.js';
import { migrateCommand } from './commands/migrate.js';
import { storagesCommand } from './commands/storages.js';
import { secretsCommand } from './commands/secrets.js';
import { CatalogError } from '../catalog/errors.js';
import { SecretError } from '../secrets/cipher.js';
import type { CliIo } from './context.js';
import { UsageError } from './errors.js';

/**
 * Runs the command line and resolves to the exit code. Every failure the user can cause
 * becomes one line on stderr; a stack trace only with TRAWL_DEBUG=1.
 */
export async function main(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  let exitCode = 0;
  const program = new Command('trawl')
    .description('index the files of local folders and remote storages into a database')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s.startsWith('error: ') ? `trawl: ${s.slice(7)}` : s),
    });
  scanCommand(program, io, (code) => (exitCode = code));
  watchCommand(program, io, (code) => (exitCode = code));
  lsCommand(program, io);
  scansCommand(program, io);
  workerCommand(program, io);
  serveCommand(program, io);
  jobsCommand(program, io);
  migrateCommand(program, io);
  storagesCommand(program, io);
  secretsCommand(program, io);
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode; // already printed by commander
    io.stderr.write(`trawl: ${describe(error)}\n`);
    if (io.env.TRAWL_DEBUG === '1' && error instanceof Error) io.stderr.write(`${error.stack}\n`);
    return 1;
  }
}

function describe(error: unknown): string {
  if (error instanceof IndexError) {
    // What happened, then what to do about it (a lock: wait; a full disk: free space…).
    const advice = error.code === 'INDEX' ? '' : INDEX_ADVICE[error.code];
    return redactText(advice ? `${error.message}; ${advice}` : error.message);
  }
  if (
    error instanceof UsageError ||
    error instanceof CatalogError ||
    error instanceof SecretError ||
    error instanceof ConfigError ||
    error instanceof InvalidArgumentError
  ) {
    return redactText(error.message);
  }
  if (error instanceof StorageError) return redactText(`${error.message} (${error.code})`);
  const message = error instanceof Error ? error.message : String(error);
  return `unexpected error: ${redactText(message)} (set TRAWL_DEBUG=1 for details)`;
}

function defaultIo(): CliIo {
  // `trawl ls | head`: when the reader goes away, stop quietly as Unix tools do, instead of
  // an unhandled EPIPE with a stack trace. Every write before it was whole.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  return { stdout: process.stdout, stderr: process.stderr, env: process.env };
}
