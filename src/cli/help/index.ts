import type { Command } from 'commander';
import { allCommands } from './commands.js';
import { environmentText } from './environment.js';
import { examplesText } from './examples.js';
import { exitStatusText } from './exit-status.js';
import { urlFormsText } from './urls.js';

/** Commands that take a storage's options: their help lists each kind's option names. */
const WITH_URL_OPTIONS = new Set(['scan', 'storages add']);

/**
 * Adds to every command's `--help` what teaches it: examples, the URL of each kind of
 * storage where a storage is named, and on `trawl --help` the environment and the exit
 * statuses. Call once every command is registered: commands are found, not listed.
 */
export function addHelp(program: Command): void {
  program.addHelpText('after', () =>
    [
      examplesText(''),
      `\nStorages are named by a folder's path, a registered name, or a URL:\n${urlFormsText()}\n`,
      `\nEnvironment:\n${environmentText()}\n`,
      `\nExit status:\n${exitStatusText()}\n`,
      '\nMore: trawl <command> --help; docs/cli.md (shell completion: trawl completion bash|zsh|fish).\n',
    ].join(''),
  );
  for (const { path, command } of allCommands(program)) {
    const key = path.join(' ');
    command.addHelpText('after', () => {
      const parts = [examplesText(key)];
      if (namesStorage(command)) {
        const withOptions = WITH_URL_OPTIONS.has(key);
        parts.push(
          `\nA storage is a folder's path, a registered name, or a URL${withOptions ? ' (options go in its query: ?timeoutMs=60000)' : ''}:\n` +
            `${urlFormsText({ withOptions })}\n`,
        );
      }
      if (key === 'scan') parts.push(`\nExit status:\n${exitStatusText()}\n`);
      return parts.join('');
    });
  }
}

/** Whether one of the command's arguments is a storage (`<storage>`, `<path|url>`). */
function namesStorage(command: Command): boolean {
  return command.registeredArguments.some((a) => /storage|url/i.test(a.name()));
}
