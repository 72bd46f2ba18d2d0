/**
 * The tenant's storages as managed objects: names, options, schedules — and the one place
 * where secret options are sealed on the way into the index and opened on the way out.
 * Everything it returns carries the stored (sealed) form; only {@link StorageCatalog.opened},
 * which the StorageService's lookup calls, hands out opened secrets.
 */
import type { Methods } from '../db/open.js';
import type { StorageRecord, StorageRepository } from '../db/repositories/storages.js';
import { SecretError, type SecretKey } from '../secrets/cipher.js';
import type { Keyring } from '../secrets/keyring.js';
import { hasSealed, openOptions, resealOptions, sealOptions } from '../secrets/options.js';
import { SERVICE_OPTION_KEYS, splitServiceOptions } from '../storage/limits/options.js';
import { redactOptions, secretKeysOf } from '../storage/options.js';
import { backendFor } from '../storage/registry.js';
import type { StorageSpec } from '../storage/url.js';
import { sameValue } from '../util/same-value.js';
import { CatalogError } from './errors.js';
import { checkName, freeName, nameFor, NAME } from './names.js';
import type { Schedule } from './schedule.js';

type Options = Record<string, unknown>;

export interface StorageCatalogDeps {
  storages: Methods<StorageRepository>;
  keyring: Keyring;
  /**
   * Called after a storage was added, changed or removed (the StorageService's `refresh`;
   * in a fleet, its job scheduler too).
   */
  changed?: (storageId: number) => Promise<void>;
}

export interface AddStorage {
  /** @default a readable form of the location (`nas-media`), made unique */
  name?: string;
  /** null or undefined: no schedule. */
  schedule?: Schedule | null;
  maxConcurrency?: number | null;
}

export interface EditStorage {
  /** Options to set (raw values, validated by the backend's schema). */
  set?: Record<string, unknown>;
  /** Options to remove (back to their defaults). */
  unset?: readonly string[];
  name?: string;
  /** null removes the schedule. */
  schedule?: Schedule | null;
  /** null: back to the default. */
  maxConcurrency?: number | null;
}

export interface RotateResult {
  /** The key everything is sealed with now. */
  keyId: string;
  /** Storages whose stored form changed. */
  storages: number;
  /** Secret values sealed again. */
  secrets: number;
  /** Keys no longer needed (dropped from the key file, or to remove from the environment). */
  retired: string[];
}

export class StorageCatalog {
  readonly #repo: Methods<StorageRepository>;
  readonly #keyring: Keyring;
  readonly #changed: (storageId: number) => Promise<void>;

  constructor(deps: StorageCatalogDeps) {
    this.#repo = deps.storages;
    this.#keyring = deps.keyring;
    this.#changed = deps.changed ?? (async () => {});
  }

  /** The tenant's storage of this name; a CatalogError NOT_FOUND names what exists. */
  async byName(tenantId: number, name: string): Promise<StorageRecord> {
    const found = await this.#repo.getByName(tenantId, name);
    if (found) return found;
    throw new CatalogError(
      'NOT_FOUND',
      `no storage named ${JSON.stringify(name)} (trawl storages ls shows them)`,
    );
  }

  findByName(tenantId: number, name: string): Promise<StorageRecord | undefined> {
    return this.#repo.getByName(tenantId, name);
  }

  findByLocation(tenantId: number, spec: StorageSpec): Promise<StorageRecord | undefined> {
    return this.#repo.findByLocation(tenantId, spec.kind, spec.location);
  }

  list(tenantId: number): Promise<StorageRecord[]> {
    return this.#repo.list(tenantId);
  }

  countEntries(storageId: number): Promise<number> {
    return this.#repo.countEntries(storageId);
  }

  /** A new managed storage. Its name (given or made) and its location must be free. */
  async add(tenantId: number, spec: StorageSpec, input: AddStorage = {}): Promise<StorageRecord> {
    const existing = await this.findByLocation(tenantId, spec);
    if (existing) {
      throw new CatalogError(
        'CONFLICT',
        `${spec.location} is registered already, as ${JSON.stringify(existing.name)} (trawl storages edit ${existing.name} changes it)`,
      );
    }
    if (input.name !== undefined) {
      checkName(input.name);
      if (await this.#repo.getByName(tenantId, input.name)) {
        throw new CatalogError('CONFLICT', `a storage named ${JSON.stringify(input.name)} exists`);
      }
    }
    const options = this.#seal(spec.kind, compact(spec.kind, spec.options as Options));
    const record = await this.#insert(tenantId, spec, options, input);
    // A new storage may come with a schedule: the job layer hears of it as of any change.
    await this.#changed(record.id);
    return record;
  }

  /**
   * The storage at this place for a scan by URL or path, registered on first use. Its options
   * become what the URL says — except a secret the URL leaves out, which keeps its stored
   * value (`trawl scan webdav://alice@nas/dav` after a scan with the password). A change
   * bumps the version, so a live client of the old options is not reused.
   */
  async ensure(tenantId: number, spec: StorageSpec): Promise<StorageRecord> {
    const existing = await this.findByLocation(tenantId, spec);
    if (!existing) {
      const options = this.#seal(spec.kind, compact(spec.kind, spec.options as Options));
      try {
        return await this.#insert(tenantId, spec, options, {});
      } catch (error) {
        // Another process registered the same place meanwhile: use theirs.
        const raced = await this.findByLocation(tenantId, spec);
        if (raced) return this.ensure(tenantId, spec);
        throw error;
      }
    }
    const stored = existing.options as Options;
    const old = this.#open(existing);
    const next = compact(spec.kind, spec.options as Options);
    for (const key of secretKeysOf(backendFor(spec.kind).options)) {
      if (next[key] === undefined && old[key] !== undefined) next[key] = old[key];
    }
    // A URL or path says nothing of what the storage excludes: its list stays.
    if (next.exclude === undefined && old.exclude !== undefined) next.exclude = old.exclude;
    if (sameValue(sorted(next), sorted(old))) return existing;
    const options = sealOptions(next, this.#secretKeys(spec.kind), this.#keyring, {
      sealed: stored,
      opened: old,
    });
    const updated = await this.#repo.update(existing.id, { options });
    if (!updated) throw new CatalogError('NOT_FOUND', `storage ${existing.name} vanished`);
    await this.#changed(updated.id);
    return updated;
  }

  /** Changes options, name, schedule or max concurrency; a change of options bumps the version. */
  async edit(tenantId: number, name: string, change: EditStorage): Promise<StorageRecord> {
    const record = await this.byName(tenantId, name);
    const patch: Parameters<StorageRepository['update']>[1] = {};
    if (change.name !== undefined && change.name !== record.name) {
      checkName(change.name);
      if (await this.#repo.getByName(tenantId, change.name)) {
        throw new CatalogError('CONFLICT', `a storage named ${JSON.stringify(change.name)} exists`);
      }
      patch.name = change.name;
    }
    if (change.set || change.unset?.length) {
      const backend = backendFor(record.kind);
      const old = this.#open(record);
      const raw: Options = { ...old, ...change.set };
      for (const key of change.unset ?? []) {
        if (!(key in backend.options) && !isServiceKey(key)) {
          throw new CatalogError(
            'INVALID',
            `unknown ${record.kind} option \`${key}\`; known: ${Object.keys(backend.options).join(', ')}`,
          );
        }
        delete raw[key];
      }
      const split = splitServiceOptions(raw);
      const parsed = backend.parseOptions(split.backend);
      const next = compact(record.kind, { ...(parsed as Options), ...split.service });
      if (!sameValue(sorted(next), sorted(old))) {
        const location = backend.location(parsed);
        if (location !== record.location) {
          const other = await this.#repo.findByLocation(tenantId, record.kind, location);
          if (other) {
            throw new CatalogError(
              'CONFLICT',
              `${location} is registered already, as ${JSON.stringify(other.name)}`,
            );
          }
          patch.location = location;
        }
        patch.options = sealOptions(next, this.#secretKeys(record.kind), this.#keyring, {
          sealed: record.options as Options,
          opened: old,
        });
      }
    }
    if (change.schedule !== undefined) {
      patch.scheduleEveryMs = change.schedule?.everyMs ?? null;
      patch.scheduleCron = change.schedule?.cron ?? null;
    }
    if (change.maxConcurrency !== undefined && change.maxConcurrency !== record.maxConcurrency) {
      patch.maxConcurrency = change.maxConcurrency;
    }
    if (Object.keys(patch).length === 0) return record;
    const updated = await this.#repo.update(record.id, patch, record.version);
    if (!updated) {
      throw new CatalogError(
        'CONFLICT',
        `storage ${record.name} was changed by someone else meanwhile; try again`,
      );
    }
    await this.#changed(updated.id);
    return updated;
  }

  async setEnabled(tenantId: number, name: string, enabled: boolean): Promise<StorageRecord> {
    const record = await this.byName(tenantId, name);
    if (record.enabled === enabled) return record;
    const updated = await this.#repo.update(record.id, { enabled });
    if (!updated) throw new CatalogError('NOT_FOUND', `storage ${name} vanished`);
    await this.#changed(updated.id);
    return updated;
  }

  /** Removes the storage with its entries, scans and schedule; its live client is closed. */
  async remove(tenantId: number, name: string): Promise<StorageRecord> {
    const record = await this.byName(tenantId, name);
    await this.#repo.remove(record.id);
    await this.#changed(record.id);
    return record;
  }

  /**
   * The storage with its secrets opened — for the StorageService's lookup, and nothing else.
   * A missing or wrong key is a SecretError that says which key the secret needs.
   */
  async opened(id: number): Promise<StorageRecord | undefined> {
    const record = await this.#repo.get(id);
    if (!record) return undefined;
    return { ...record, options: this.#open(record) };
  }

  /**
   * Fails now, with a SecretError that names the key needed, when the storage's secrets do
   * not open (a missing or wrong key) — before a scan starts, rather than as its failure.
   */
  checkSecrets(record: StorageRecord): void {
    this.#open(record);
  }

  /**
   * Seals the secrets of rows written before secrets were sealed (plain text), and gives
   * them a valid name if theirs is not one (older trawl named storages by location). Runs
   * when the index is opened; a row without secrets needs no key. Returns rows sealed.
   */
  async sealLegacy(): Promise<number> {
    const rows = await this.#repo.storedOptions(undefined, true);
    if (rows.length === 0) return 0;
    let sealed = 0;
    await this.#repo.rewriteSecrets(async (db) => {
      const taken = new Map<number, Set<string>>();
      for (const row of rows) {
        const options = row.options as Options;
        const plain = safeSecretKeys(row.kind).filter((k) => typeof options[k] === 'string');
        let next = options;
        if (plain.length > 0) {
          try {
            next = sealOptions(options, plain, this.#keyring);
          } catch (error) {
            if (!(error instanceof SecretError)) throw error;
            throw new SecretError(
              `storage ${JSON.stringify(row.name)} holds ${plain.map((k) => `\`${k}\``).join(', ')} in plain text, written by an older trawl, and it cannot be sealed: ${error.message}`,
            );
          }
          sealed++;
        }
        let name: string | undefined;
        if (!NAME.test(row.name)) {
          const names = taken.get(row.tenantId) ?? (await this.#repo.names(row.tenantId, db));
          taken.set(row.tenantId, names);
          name = freeName(nameFor(row.name), names);
          names.add(name);
        }
        await this.#repo.reseal(db, row.id, row.text, next, name);
      }
    });
    return sealed;
  }

  /**
   * Seals every stored secret again under the sealing key. With a key file (embedded), a new
   * key goes first in the file, every row is re-sealed in one transaction, then the old keys
   * are dropped; with keys from the environment, the operator has set the new key as
   * TRAWL_SECRET_KEY and the old ones in TRAWL_SECRET_KEYS_PREVIOUS, and removes them after.
   * A secret no configured key opens fails the whole rotation (nothing is written).
   */
  async rotate(): Promise<RotateResult> {
    const fromFile = !this.#keyring.fromEnvironment;
    const before = this.#keyring.keys().map((k) => k.id);
    let sealing: SecretKey | undefined;
    let storages = 0;
    let secrets = 0;
    await this.#repo.rewriteSecrets(async (db) => {
      // Before the key file changes: a read-only index would leave it a key that seals
      // nothing, and the user an error that names the index only after the fact.
      await this.#repo.proveWritable(db);
      sealing = fromFile ? this.#keyring.addSealingKey() : this.#keyring.sealingKey();
      for (const row of await this.#repo.storedOptions(db)) {
        const { options, resealed } = resealOptions(
          row.options as Options,
          safeSecretKeys(row.kind),
          this.#keyring,
        );
        if (resealed === 0) continue;
        await this.#repo.reseal(db, row.id, row.text, options);
        storages++;
        secrets += resealed;
      }
    });
    if (fromFile) this.#keyring.dropOpeningKeys();
    const keyId = sealing!.id;
    return {
      keyId,
      storages,
      secrets,
      retired: before.filter((id) => id !== keyId),
    };
  }

  /** Options with every secret shown as `***` (sealed or not): safe to print or log. */
  static redacted(record: StorageRecord): Record<string, unknown> {
    return redactOptions(safeSchema(record.kind), record.options);
  }

  #open(record: StorageRecord): Options {
    const options = record.options as Options;
    if (!hasSealed(options)) return options;
    try {
      return openOptions(options, this.#keyring.keys());
    } catch (error) {
      if (!(error instanceof SecretError)) throw error;
      // Another process may have rotated the key file since it was read.
      this.#keyring.reload();
      try {
        return openOptions(options, this.#keyring.keys());
      } catch (again) {
        throw new SecretError(`storage ${record.name}: ${(again as Error).message}`);
      }
    }
  }

  #seal(kind: string, options: Options): Options {
    return sealOptions(options, this.#secretKeys(kind), this.#keyring);
  }

  #secretKeys(kind: string): string[] {
    return secretKeysOf(backendFor(kind).options);
  }

  async #insert(
    tenantId: number,
    spec: StorageSpec,
    options: Options,
    input: AddStorage,
  ): Promise<StorageRecord> {
    const base = input.name ?? nameFor(spec.location);
    for (let attempt = 0; ; attempt++) {
      const name = input.name ?? freeName(base, await this.#repo.names(tenantId));
      try {
        return await this.#repo.insert({
          tenantId,
          name,
          kind: spec.kind,
          location: spec.location,
          options,
          maxConcurrency: input.maxConcurrency ?? null,
          scheduleEveryMs: input.schedule?.everyMs ?? null,
          scheduleCron: input.schedule?.cron ?? null,
        });
      } catch (error) {
        // A made-up name taken by a concurrent add: pick the next free one.
        if (input.name !== undefined || attempt >= 3) throw error;
        if (await this.findByLocation(tenantId, spec)) throw error;
      }
    }
  }
}

/**
 * Options as stored: what parsing would not give back by itself. Defaults are left out, so
 * a default that changes (or depends on the machine, as local `threads`) is not frozen.
 */
export function compact(kind: string, options: Options): Options {
  const backend = backendFor(kind);
  const split = splitServiceOptions(options);
  const own = split.backend as Options;
  const full = backend.parseOptions(own) as Options;
  const out: Options = {};
  for (const [key, value] of Object.entries(own)) {
    if (value === undefined) continue;
    const without = { ...own };
    delete without[key];
    let same = false;
    try {
      same = sameValue((backend.parseOptions(without) as Options)[key], full[key]);
    } catch {
      same = false; // required: it stays
    }
    if (!same) out[key] = value;
  }
  return { ...out, ...split.service };
}

function sorted(options: Options): Options {
  return Object.fromEntries(
    Object.entries(options)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );
}

function isServiceKey(key: string): boolean {
  return (SERVICE_OPTION_KEYS as readonly string[]).includes(key);
}

function safeSchema(kind: string) {
  try {
    return backendFor(kind).options;
  } catch {
    return {};
  }
}

/** The secret option names of a kind; for a kind this trawl does not know, every string is. */
function safeSecretKeys(kind: string): string[] {
  return secretKeysOf(safeSchema(kind));
}
