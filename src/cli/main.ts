import type { CliIo } from './context.js';
import { StdioOut } from './stdio.js';
import { VERSION } from './version.js';

/**
 * Runs the command line and resolves to the exit code (src/cli/program.ts). This file is
 * what bin/trawl.js loads first, so it holds nothing else: `trawl --version` is answered
 * before any command, the database layer or a storage's code loads (bench:startup), and
 * every other invocation loads the program, whose commands load their own work when run.
 */
export async function main(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  const args = argv.slice(2);
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
    io.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const { runProgram } = await import('./program.js');
  return runProgram(argv, io);
}

function defaultIo(): CliIo {
  const stdout = new StdioOut(1, () => {
    // `trawl ls | head`: when the reader goes away, stop quietly as Unix tools do, instead of
    // an unhandled EPIPE with a stack trace. Every write before it was whole.
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(0);
      throw error;
    });
    return process.stdout;
  });
  return { stdout, stderr: new StdioOut(2, () => process.stderr), env: process.env };
}
