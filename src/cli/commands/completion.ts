import { Argument, type Command } from 'commander';
import { completionScript, SHELLS, type Shell } from '../completion/index.js';
import type { CliIo } from '../context.js';

/** `trawl completion bash|zsh|fish`: the shell's completion script on stdout. */
export function completionCommand(program: Command, io: CliIo): void {
  program
    .command('completion')
    .description('print a shell completion script (install lines: trawl completion --help)')
    .addArgument(new Argument('<shell>', 'the shell').choices(SHELLS))
    .action((shell: Shell) => {
      // The root program, whatever was registered after this command: completion covers it.
      io.stdout.write(completionScript(program, shell));
    });
}
