/**
 * `trawl NAME …` builds the command NAME alone (src/cli/program.ts): what it prints and
 * parses must be what the whole program would.
 */
import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import type { CliIo } from '../src/cli/context.js';
import { allCommands } from '../src/cli/help/commands.js';
import { createProgram, runProgram } from '../src/cli/program.js';

/** An io that keeps what is written to it. */
function capturing() {
  const written = { out: '', err: '' };
  const io: CliIo = {
    stdout: { write: (s: string) => ((written.out += s), true) },
    stderr: { write: (s: string) => ((written.err += s), true) },
    env: {},
  };
  return { io, written };
}

/** What `trawl …args` writes, through a program of every command or of `only`. */
async function output(args: string[], only?: string) {
  const { io, written } = capturing();
  const program = await createProgram(io, () => {}, only);
  for (const { command } of allCommands(program)) command.action(() => {});
  let code = 0;
  try {
    await program.parseAsync(['node', 'trawl', ...args]);
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    code = error.exitCode;
  }
  return { code, out: written.out, err: written.err };
}

const quiet: CliIo = { stdout: { write: () => true }, stderr: { write: () => true }, env: {} };
const every = allCommands(await createProgram(quiet, () => {})).filter(
  ({ path }) => path.length > 0,
);

describe('a command line naming its command', () => {
  it('builds that command alone', async () => {
    const program = await createProgram(quiet, () => {}, 'scan');
    expect(program.commands.map((c) => c.name())).toEqual(['scan']);
  });

  it('prints the same help for every command and sub-command as the whole program', async () => {
    expect(every.length).toBeGreaterThan(13);
    for (const { path } of every) {
      const whole = await output([...path, '--help']);
      expect(whole.out).toContain('Usage: trawl');
      expect(await output([...path, '--help'], path[0])).toEqual(whole);
    }
  });

  it('refuses a bad flag or argument with the same words', async () => {
    for (const args of [
      ['scan', '--nope'],
      ['scan'],
      ['storages', 'nope'],
      ['ls', '--depth', 'x'],
    ]) {
      const whole = await output(args);
      expect(whole.code).not.toBe(0);
      expect(await output(args, args[0])).toEqual(whole);
    }
  });

  it('still builds every command for help, completion and a word that is no command', async () => {
    for (const args of [['--help'], ['help', 'scan'], ['completion', 'bash'], ['nope']]) {
      const completion = args[0] === 'completion';
      const { io, written } = capturing();
      await runProgram(['node', 'trawl', ...args], io);
      if (completion) {
        // The script names every command (its actions are not run by output()).
        for (const { path } of every) expect(written.out).toContain(path.at(-1));
        continue;
      }
      const whole = await output(args);
      expect(written.out, args.join(' ')).toBe(whole.out);
      expect(written.err, args.join(' ')).toBe(whole.err);
    }
  });
});
