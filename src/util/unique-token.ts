let issued = 0;

/**
 * A token no other grant of this process, nor of any process before or beside it, plausibly
 * shares: the time, a count of tokens this process made and ~100 random bits. For identities
 * that must not collide but are no secret (a lease's holder, stored in the index beside the
 * holder's name, is readable by anyone who can write the index anyway). Not `randomUUID`:
 * `node:crypto` is ~3 ms of every start of the CLI, spent on one token (bench:startup).
 */
export function uniqueToken(): string {
  const random = () => Math.random().toString(36).slice(2, 12).padEnd(10, '0');
  return `${Date.now().toString(36)}-${(issued++).toString(36)}-${random()}${random()}`;
}
