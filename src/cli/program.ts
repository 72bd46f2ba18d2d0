import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { ConfigError } from '../config/env.js';
import { INDEX_ADVICE, IndexError, toIndexError } from '../db/errors.js';
import { StorageError } from '../storage/errors.js';
import { redactText } from '../util/redact.js';
import { CatalogError } from '../catalog/errors.js';
import { SecretError } from '../secrets/cipher.js';
import type { CliIo } from './context.js';
import { UsageError } from './errors.js';
import { addHelp } from './help/index.js';
import { VERSION } from './version.js';

/**
 * Runs the command line and resolves to the exit code. Every failure the user can cause
 * becomes one line on stderr; a stack trace only with TRAWL_DEBUG=1.
 */
export async function runProgram(argv: string[], io: CliIo): Promise<number> {
  let exitCode = 0;
  try {
    const program = await createProgram(io, (code) => (exitCode = code), commandNamed(argv[2]));
    await program.parseAsync(argv);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode; // already printed by commander
    io.stderr.write(`trawl: ${describe(error)}\n`);
    if (io.env.TRAWL_DEBUG === '1' && error instanceof Error) io.stderr.write(`${error.stack}\n`);
    return 1;
  }
}

type Register = (program: Command, io: CliIo, setExit: (code: number) => void) => void;

/**
 * Every command, by name, in the order `trawl --help` lists them: each module loaded when the
 * command is built, so that `trawl scan` runs none of the others' (their modules and what
 * they import: ~0.5 ms of an empty scan's start, and their share of the code cache,
 * bench:startup).
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  scan: async () => (await import('./commands/scan.js')).scanCommand,
  watch: async () => (await import('./commands/watch.js')).watchCommand,
  ls: async () => (await import('./commands/ls.js')).lsCommand,
  find: async () => (await import('./commands/find.js')).findCommand,
  du: async () => (await import('./commands/du.js')).duCommand,
  scans: async () => (await import('./commands/scans.js')).scansCommand,
  worker: async () => (await import('./commands/worker.js')).workerCommand,
  serve: async () => (await import('./commands/serve.js')).serveCommand,
  jobs: async () => (await import('./commands/jobs.js')).jobsCommand,
  migrate: async () => (await import('./commands/migrate.js')).migrateCommand,
  storages: async () => (await import('./commands/storages.js')).storagesCommand,
  secrets: async () => (await import('./commands/secrets.js')).secretsCommand,
  completion: async () => (await import('./commands/completion.js')).completionCommand,
};

/**
 * The command `trawl NAME …` runs, when NAME is one that needs no other registered: then
 * only it is built. Commander dispatches on the first word, so the others would be built for
 * nothing (~2 ms of an empty scan's ~35 beyond Node's start: 12 commands and their options,
 * bench:startup). Not `completion`, whose scripts walk every command, nor `help`.
 */
function commandNamed(word: string | undefined): string | undefined {
  return word !== undefined && word !== 'completion' && Object.hasOwn(COMMANDS, word)
    ? word
    : undefined;
}

/**
 * The command line as a commander program, every command registered (its help and the
 * completion scripts walk it), or only the command `only` when given (runProgram).
 * `setExit` takes the exit code a command chose.
 */
export async function createProgram(
  io: CliIo,
  setExit: (code: number) => void,
  only?: string,
): Promise<Command> {
  const names = only === undefined ? Object.keys(COMMANDS) : [only];
  const registers = await Promise.all(names.map((name) => COMMANDS[name]!()));
  const program = new Command('trawl')
    .description('index the files of local folders and remote storages into a database')
    .version(VERSION)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s.startsWith('error: ') ? `trawl: ${s.slice(7)}` : s),
    });
  for (const register of registers) register(program, io, setExit);
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
