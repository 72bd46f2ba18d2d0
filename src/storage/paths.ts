/**
 * Path rules of the storage contract (see types.ts): POSIX, rooted at `/`, no trailing
 * slash, no `.`/`..` segments. A backslash is an ordinary character here; only SMB
 * turns its separators into `/`, in its own backend.
 */

export const ROOT = '/';

export function joinPath(dir: string, name: string): string {
  return dir === ROOT ? `/${name}` : `${dir}/${name}`;
}

export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? ROOT : path.slice(0, i);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/**
 * Normalises a user-given storage-relative path (`a/b/`, `/a//b`) into contract form.
 * Rejects `..` rather than resolving it: a path that climbs out of the root is a mistake.
 */
export function normalizePath(input: string): string {
  const parts = input.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) {
    throw new Error(`path must not contain "..": ${JSON.stringify(input)}`);
  }
  return parts.length === 0 ? ROOT : `/${parts.join('/')}`;
}

/**
 * Bounds of a subtree as a bytewise range: every descendant of `dir` sorts in
 * [`lower`, `upper`) because `0` is the character right after `/`.
 */
export function subtreeRange(dir: string): { lower: string; upper: string } {
  if (dir === ROOT) return { lower: '/', upper: '0' };
  return { lower: `${dir}/`, upper: `${dir}0` };
}
