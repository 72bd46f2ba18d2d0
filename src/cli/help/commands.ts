import type { Command } from 'commander';

/** A command of the program with the names leading to it (`['storages', 'add']`). */
export interface CommandAt {
  path: readonly string[];
  command: Command;
}

/**
 * The subcommands of `command` that its help lists (hidden ones left out), without
 * commander's implicit `help` command, in the order they were registered.
 */
export function subcommandsOf(command: Command): Command[] {
  return command
    .createHelp()
    .visibleCommands(command)
    .filter((c) => c.name() !== 'help');
}

/**
 * Every command under `program`, depth first, as registered: help and completion walk this,
 * so a command registered anywhere is in both without a word about it here.
 */
export function allCommands(program: Command): CommandAt[] {
  const out: CommandAt[] = [];
  const walk = (command: Command, path: readonly string[]) => {
    for (const sub of subcommandsOf(command)) {
      const at = [...path, sub.name()];
      out.push({ path: at, command: sub });
      walk(sub, at);
    }
  };
  walk(program, []);
  return out;
}
