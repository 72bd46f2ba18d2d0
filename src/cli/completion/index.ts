import type { Command } from 'commander';
import { bashScript } from './bash.js';
import { fishScript } from './fish.js';
import { tablesOf } from './tables.js';
import { commandTree } from './tree.js';
import { zshScript } from './zsh.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** The completion script for `shell`, from the program as registered now. */
export function completionScript(program: Command, shell: Shell): string {
  const tables = tablesOf(commandTree(program));
  switch (shell) {
    case 'bash':
      return bashScript(tables);
    case 'zsh':
      return zshScript(tables);
    case 'fish':
      return fishScript(tables);
  }
}
