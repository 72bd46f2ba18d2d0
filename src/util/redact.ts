/**
 * Removes credentials from free text (error messages, URLs) before it is logged or printed:
 * the password part of `scheme://user:password@host`, and the value of query parameters and
 * `key=value` pairs whose name says secret.
 */
export function redactText(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/[^/\s:@]*):[^@/\s]*@/gi, '$1:***@')
    .replace(SECRET_PAIR, (_m, key: string, sep: string) => `${key}${sep}***`);
}

const SECRET_NAMES =
  'password|passwd|pass|pwd|secret|secretAccessKey|secret_access_key|token|access_token|apiKey|api_key|passphrase|privateKey|private_key|authorization|X-Amz-Signature|X-Amz-Credential';

const SECRET_PAIR = new RegExp(
  `\\b(${SECRET_NAMES})(\\s*[=:]\\s*)(?:"[^"]*"|'[^']*'|(?:Basic|Bearer)\\s+\\S+|[^\\s&,;"']+)`,
  'gi',
);

/** Object keys whose values are never logged, whatever their nesting. */
export const SECRET_KEYS: readonly string[] = [
  'password',
  'passwd',
  'pass',
  'secret',
  'secretAccessKey',
  'sessionToken',
  'token',
  'accessToken',
  'apiKey',
  'passphrase',
  'privateKey',
  'authorization',
  'cookie',
];
