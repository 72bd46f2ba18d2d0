import { readOptions, redactOptions, type OptionSchema, type OptionValues } from './options.js';
import type { BackendInfo } from './types.js';

/** A backend as written in its file: the schema and what only this kind knows. */
export interface BackendDefinition<S extends OptionSchema, Options> extends Omit<
  BackendInfo<Options>,
  'options' | 'parseOptions' | 'redact'
> {
  options: S;
  /**
   * Cross-option checks and normalisation once every option was read by the schema (a root
   * made absolute, a default that depends on another option). Throws InvalidConfigError.
   */
  finish(values: OptionValues<S>): Options;
}

/** A registry entry whose `parseOptions` and `redact` come from the schema. */
export function defineBackend<S extends OptionSchema, Options>(
  kind: string,
  definition: BackendDefinition<S, Options>,
): BackendInfo<Options> {
  const { finish, ...rest } = definition;
  return {
    ...rest,
    parseOptions: (raw) => finish(readOptions(definition.options, raw, kind)),
    redact: (options) => redactOptions(definition.options, options),
  };
}
