import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { ConfigError } from '../config/env.js';
import { INDEX_ADVICE, IndexError, toIndexError } from '../db/errors.js';
import { StorageError } from '../storage/errors.js';
import { redactText } from '../util/redact.js';
import { lsCommand } from './commands/ls.js';
import { findCommand } from './commands/find.js';
import { duCommand } from './commands/du.js';
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
import { completionCommand } from './commands/completion.js';
import { addHelp } from './help/index.js';
import { VERSION } from './version.js';

/**
 * Runs the command line and resolves to the exit code. Every failure the user can cause
 * becomes one line on stderr; a stack trace only with TRAWL_DEBUG=1.
 */
export async function runProgram(argv: string[], io: CliIo): Promise<number> {
  let exitCode = 0;
  const program = createProgram(io, (code) => (exitCode = code));
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

/**
 * The command line as a commander program, every command registered (its help and the
 * completion scripts walk it). `setExit` takes the exit code a command chose.
 */
export function createProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = new Command('trawl')
    .description('index the files of local folders and remote storages into a database')
    .version(VERSION)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s.startsWith('error: ') ? `trawl: ${s.slice(7)}` : s),
    });
  scanCommand(program, io, setExit);
  watchCommand(program, io, setExit);
  lsCommand(program, io);
  findCommand(program, io);
  duCommand(program, io);
  scansCommand(program, io);
  workerCommand(program, io);
  serveCommand(program, io);
  jobsCommand(program, io);
  migrateCommand(program, io);
  storagesCommand(program, io);
  secretsCommand(program, io);
  completionCommand(program, io);
  // After every command is registered: help and completion find commands, they list none.
  addHelp(program);
  return program;
}

function describe(error: unknown): string {
  // A database error no layer wrapped (a write refused by a read-only index) is still an
  // index failure, with its code and advice, not an "unexpected error".
  if (isDatabaseError(error)) error = toIndexError(error);
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
  // `EACCES: permission denied, open '…/secret.key'`: what and where, already.
  if (isSystemError(error)) return redactText(error.message);
  const message = error instanceof Error ? error.message : String(error);
  return `unexpected error: ${redactText(message)} (set TRAWL_DEBUG=1 for details)`;
}

/** A failed system call (Node's errno errors carry `syscall`): its message names the file. */
function isSystemError(error: unknown): error is NodeJS.ErrnoException {
  const e = error as NodeJS.ErrnoException | null;
  return error instanceof Error && typeof e?.code === 'string' && typeof e.syscall === 'string';
}

/** better-sqlite3's SqliteError (`SQLITE_…`) or a PostgreSQL error (a five-character SQLSTATE). */
function isDatabaseError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (!(error instanceof Error) || error instanceof IndexError || typeof code !== 'string') {
    return false;
  }
  return code.startsWith('SQLITE_') || /^(?=.*\d)[0-9A-Z]{5}$/.test(code);
}
