/** Why a storage could not be found, added or changed: one line for the user. */
export type CatalogErrorCode = 'NOT_FOUND' | 'CONFLICT' | 'INVALID';

export class CatalogError extends Error {
  readonly code: CatalogErrorCode;

  constructor(code: CatalogErrorCode, message: string) {
    super(message);
    this.name = 'CatalogError';
    this.code = code;
  }
}
