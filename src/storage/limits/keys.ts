/** Requests in flight per limit key when neither the key nor its kind is configured. */
export const DEFAULT_KEY_CONCURRENCY = 50;

/** Defaults per kind; a kind not listed gets {@link DEFAULT_KEY_CONCURRENCY}. */
export const DEFAULT_KEY_CONCURRENCY_BY_KIND: Readonly<Record<string, number>> = {
  webdav: 50,
};

export interface LimitOptions {
  /** Cap per limit key, by kind (`{ webdav: 50, s3: 200 }`). */
  perKind?: Readonly<Record<string, number>>;
  /** Cap for one limit key (`{ 'webdav:dav.example.com': 20 }`); wins over `perKind`. */
  perKey?: Readonly<Record<string, number>>;
  /**
   * Cap on requests in flight per tenant, over all its storages: a number for every tenant,
   * or a function answering per tenant (undefined: no cap). A storage's own
   * `tenantMaxConcurrency` wins.
   */
  perTenant?: number | ((tenantId: number) => number | undefined);
}

/** The limit key of a storage: `kind:host` unless the storage names its own. */
export function limitKeyOf(kind: string, host: string | undefined, own?: string): string {
  if (own) return own;
  return host ? `${kind}:${host}` : kind;
}

export function keyConcurrency(options: LimitOptions, kind: string, key: string): number {
  return (
    options.perKey?.[key] ??
    options.perKind?.[kind] ??
    DEFAULT_KEY_CONCURRENCY_BY_KIND[kind] ??
    DEFAULT_KEY_CONCURRENCY
  );
}

export function tenantConcurrency(
  options: LimitOptions,
  tenantId: number,
  own?: number,
): number | undefined {
  if (own !== undefined) return own;
  const t = options.perTenant;
  return typeof t === 'function' ? t(tenantId) : t;
}
