/**
 * Storage options, declared once. Each backend lists its options in one schema (name, type,
 * default, bounds, doc, `secret`), as rclone's `RegInfo.Options` does; from that one
 * declaration come parsing and validation (this file), redaction (every secret shown as
 * `***`), the stored form (secrets sealed, see catalog/), the environment fallbacks and the
 * reference table in docs/storages.md (a test checks the two agree).
 *
 * Messages name the bad value and what was expected, the same for every kind:
 * "Expected `timeoutMs` to be an integer from 100 to 3600000, got "x"".
 */
import { InvalidConfigError } from './errors.js';
import { SERVICE_OPTION_KEYS } from './limits/options.js';

export type RawOptions = Record<string, unknown>;

interface OptionBase {
  /** One sentence for the docs. */
  doc: string;
  /** A credential: sealed at rest, shown as `***`, never logged. */
  secret?: boolean;
  /** Environment variables read (first set wins) when the option is not given. */
  env?: readonly string[];
  /** Parsing fails without it. */
  required?: boolean;
  /** The default in words, where the backend computes it (`21, 990 with tls=implicit`). */
  defaultDoc?: string;
}

export interface BoolOption extends OptionBase {
  type: 'bool';
  default?: boolean;
}

export interface IntOption extends OptionBase {
  type: 'int';
  default?: number;
  /** @default 1 */
  min?: number;
  /** @default no bound */
  max?: number;
}

export interface StringOption extends OptionBase {
  type: 'string';
  default?: string;
}

export interface EnumOption extends OptionBase {
  type: 'enum';
  values: readonly string[];
  default?: string;
}

export type OptionSpec = BoolOption | IntOption | StringOption | EnumOption;

/** A backend's options, in the order the docs and messages list them. */
export type OptionSchema = Readonly<Record<string, OptionSpec>>;

type ValueOf<S> = S extends { type: 'bool' }
  ? boolean
  : S extends { type: 'int' }
    ? number
    : S extends { type: 'enum'; values: readonly (infer V)[] }
      ? V
      : string;

/** What {@link readOptions} returns for a schema: an option with a default is always set. */
export type OptionValues<S extends OptionSchema> = {
  -readonly [K in keyof S]: S[K] extends { default: unknown } | { required: true }
    ? ValueOf<S[K]>
    : ValueOf<S[K]> | undefined;
};

export function asRaw(raw: unknown, kind: string): RawOptions {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InvalidConfigError(`${kind} options must be an object, got ${JSON.stringify(raw)}`);
  }
  return raw as RawOptions;
}

/**
 * Reads raw options (from a URL's query, the database, flags or the API) by the schema:
 * unknown keys fail, each value is checked against its type and bounds, and a missing one
 * takes its default. The StorageService's own keys are let through untouched.
 */
export function readOptions<S extends OptionSchema>(
  schema: S,
  input: unknown,
  kind: string,
): OptionValues<S> {
  const raw = asRaw(input, kind);
  rejectUnknown(raw, Object.keys(schema), kind);
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(schema)) {
    let value: unknown;
    switch (spec.type) {
      case 'bool':
        value = optBool(raw, key, spec.default);
        break;
      case 'int':
        value = optInt(raw, key, spec.default, spec.min ?? 1, spec.max);
        break;
      case 'enum':
        value = optEnum(raw, key, spec.values, spec.default);
        break;
      case 'string':
        value = optString(raw, key) ?? spec.default;
        break;
    }
    if (value === undefined && spec.required) {
      throw new InvalidConfigError(
        `${kind} storage needs \`${key}\`, got ${JSON.stringify(raw[key])}`,
      );
    }
    out[key] = value;
  }
  return out as OptionValues<S>;
}

/** Options with every secret replaced by `***` and unset ones left out: safe to print or log. */
export function redactOptions(schema: OptionSchema, options: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (options === null || typeof options !== 'object') return out;
  for (const [key, value] of Object.entries(options as RawOptions)) {
    if (value === undefined) continue;
    out[key] = schema[key]?.secret ? '***' : value;
  }
  return out;
}

/** The names of a schema's secret options, in schema order. */
export function secretKeysOf(schema: OptionSchema): string[] {
  return Object.entries(schema)
    .filter(([, spec]) => spec.secret)
    .map(([key]) => key);
}

/** Options with each unset one taken from its environment variables (first non-empty wins). */
export function withEnv<O extends object>(
  schema: OptionSchema,
  options: O,
  env: Readonly<Record<string, string | undefined>>,
): O {
  const out: RawOptions = { ...(options as RawOptions) };
  for (const [key, spec] of Object.entries(schema)) {
    if (out[key] !== undefined || !spec.env) continue;
    const found = spec.env.map((name) => env[name]).find((v) => v !== undefined && v !== '');
    if (found !== undefined) out[key] = found;
  }
  return out as O;
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

/** A request deadline, bounded the same for every backend (`timeoutMs`). */
export const TIMEOUT_MS = {
  type: 'int',
  default: 30_000,
  min: 100,
  max: 3_600_000,
  doc: 'The longest wait for one answer from the server, in ms (a listing that keeps streaming may take longer).',
} as const satisfies IntOption;

/** Connecting, bounded the same for every backend (`connectTimeoutMs`). */
export function connectTimeoutMs(max: number, doc: string) {
  return { type: 'int', default: 10_000, min: 100, max, doc } as const satisfies IntOption;
}

export function optString(raw: RawOptions, key: string): string | undefined {
  const v = raw[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') {
    throw new InvalidConfigError(`Expected \`${key}\` to be a string, got ${JSON.stringify(v)}`);
  }
  return v;
}

export function optBool<F extends boolean | undefined>(
  raw: RawOptions,
  key: string,
  fallback: F,
): boolean | F {
  const v = raw[key];
  if (v === undefined || v === null || v === '') return fallback;
  if (v === true || v === 'true' || v === '1' || v === 'yes') return true;
  if (v === false || v === 'false' || v === '0' || v === 'no') return false;
  throw new InvalidConfigError(`Expected \`${key}\` to be true or false, got ${JSON.stringify(v)}`);
}

export function optInt<F extends number | undefined>(
  raw: RawOptions,
  key: string,
  fallback: F,
  min = 1,
  max = Number.POSITIVE_INFINITY,
): number | F {
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

export function optEnum(
  raw: RawOptions,
  key: string,
  values: readonly string[],
  fallback: string | undefined,
): string | undefined {
  const v = optString(raw, key) ?? fallback;
  if (v !== undefined && !values.includes(v)) {
    throw new InvalidConfigError(
      `Expected \`${key}\` to be one of ${values.join(', ')}, got ${JSON.stringify(v)}`,
    );
  }
  return v;
}
