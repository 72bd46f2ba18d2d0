/**
 * Reading raw storage options (from a URL's query, the database or the API) into typed
 * values, with messages that name the bad value and what was expected. Every backend's
 * `parseOptions` uses these, so `?timeoutMs=x` fails the same way for every kind.
 */
import { InvalidConfigError } from './errors.js';
import { SERVICE_OPTION_KEYS } from './limits/options.js';

export type RawOptions = Record<string, unknown>;

export function asRaw(raw: unknown, kind: string): RawOptions {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InvalidConfigError(`${kind} options must be an object, got ${JSON.stringify(raw)}`);
  }
  return raw as RawOptions;
}

/**
 * Fails on a key the backend does not read, naming the ones it does: a misspelt option
 * (`timeoutMS`) would otherwise be ignored and the default used without a word. The
 * StorageService's own keys (`maxConcurrency`…) travel in the same options and are let
 * through for the service to read. The unknown key's value is not shown: it may be a secret
 * under a misspelt name (`pasword=…`).
 */
export function rejectUnknown(raw: RawOptions, known: readonly string[], kind: string): void {
  for (const key of Object.keys(raw)) {
    if (raw[key] === undefined || known.includes(key)) continue;
    if ((SERVICE_OPTION_KEYS as readonly string[]).includes(key)) continue;
    throw new InvalidConfigError(
      `unknown ${kind} option \`${key}\`; known: ${known.join(', ')} (and the StorageService's ${SERVICE_OPTION_KEYS.join(', ')})`,
    );
  }
}

/** A request deadline, bounded the same for every backend. @default 30,000 ms */
export function optTimeoutMs(raw: RawOptions): number {
  return optInt(raw, 'timeoutMs', 30_000, 100, 3_600_000);
}

export function optString(raw: RawOptions, key: string): string | undefined {
  const v = raw[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') {
    throw new InvalidConfigError(`Expected \`${key}\` to be a string, got ${JSON.stringify(v)}`);
  }
  return v;
}

export function reqString(raw: RawOptions, key: string, kind: string): string {
  const v = optString(raw, key);
  if (v === undefined) {
    throw new InvalidConfigError(
      `${kind} storage needs \`${key}\`, got ${JSON.stringify(raw[key])}`,
    );
  }
  return v;
}

export function optBool(raw: RawOptions, key: string, fallback: boolean): boolean {
  const v = raw[key];
  if (v === undefined || v === null || v === '') return fallback;
  if (v === true || v === 'true' || v === '1' || v === 'yes') return true;
  if (v === false || v === 'false' || v === '0' || v === 'no') return false;
  throw new InvalidConfigError(`Expected \`${key}\` to be true or false, got ${JSON.stringify(v)}`);
}

export function optInt(
  raw: RawOptions,
  key: string,
  fallback: number,
  min = 1,
  max = Number.POSITIVE_INFINITY,
): number {
  const v = raw[key];
  if (v === undefined || v === null || v === '') return fallback;
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new InvalidConfigError(
      `Expected \`${key}\` to be an integer from ${min}${max === Number.POSITIVE_INFINITY ? ' and up' : ` to ${max}`}, got ${JSON.stringify(v)}`,
    );
  }
  return n;
}
