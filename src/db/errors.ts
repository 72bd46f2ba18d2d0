/** The index could not be opened or used: a message for a person, with the cause attached. */
export class IndexError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IndexError';
  }
}
