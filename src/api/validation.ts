import { Ajv, type Options } from 'ajv';
import type { FastifySchemaCompiler } from 'fastify';

/**
 * Two validators. Bodies are JSON: their types are checked strictly (a number sent as a
 * string is an error naming the field, never silently converted), and unknown fields are
 * refused, never dropped. Query strings and path parameters are text by nature: converted
 * to the schema's types, then checked.
 */
export function validatorCompiler(): FastifySchemaCompiler<unknown> {
  const common: Options = {
    removeAdditional: false,
    useDefaults: true,
    allErrors: false,
    strict: false,
  };
  const strict = new Ajv({ ...common, coerceTypes: false });
  const coercing = new Ajv({ ...common, coerceTypes: 'array' });
  return ({ schema, httpPart }) => {
    const ajv = httpPart === 'body' ? strict : coercing;
    return ajv.compile(schema as object) as ReturnType<FastifySchemaCompiler<unknown>>;
  };
}
