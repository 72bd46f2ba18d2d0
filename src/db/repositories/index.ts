// The repositories over the query builder, loaded together by db/open.ts once it is needed.
export { LeaseRepository } from './leases.js';
export { ScanRepository } from './scans.js';
export { StorageRepository } from './storages.js';
export { TenantRepository } from './tenants.js';
export { TokenRepository } from './tokens.js';
