/** A mistake in what the user asked: printed as one line, exit code 1, no stack trace. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

import { InvalidArgumentError } from 'commander';

export function parsePositiveInt(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) {
      throw new InvalidArgumentError(
        `${flag} expects an integer from 1 and up, got ${JSON.stringify(value)}`,
      );
    }
    return n;
  };
}
