/** What was wrong with a query: the API answers 400 with the field named. */
export type QueryErrorCode = 'BAD_QUERY' | 'BAD_CURSOR';

/** A query the index refuses: a bad parameter (`BAD_QUERY`) or a cursor it did not make for this query (`BAD_CURSOR`). */
export class QueryError extends Error {
  readonly code: QueryErrorCode;
  /** The query parameter at fault, as the caller named it (`cursor`, `minSize`, …). */
  readonly field: string;

  constructor(code: QueryErrorCode, field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'QueryError';
    this.code = code;
    this.field = field;
  }
}
