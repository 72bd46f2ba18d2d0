/**
 * Sealing and opening the secret options of a storage's stored form. Which options are
 * secret is the backend schema's business (`secret: true`); these functions take the names.
 * A key is asked for only when there is something to seal or open: a storage without
 * secrets needs none.
 */
import { isSealed, open, seal, sealedWith, type SealedSecret, type SecretKey } from './cipher.js';
import type { Keyring } from './keyring.js';

type Options = Record<string, unknown>;

/**
 * The options with every plain secret sealed under the sealing key. A value that is sealed
 * already stays as it is, and so does one equal to its counterpart in `reuse` (the stored
 * form it replaces), so an unchanged secret keeps its ciphertext.
 */
export function sealOptions(
  options: Options,
  secretKeys: readonly string[],
  keyring: Keyring,
  reuse?: { sealed: Options; opened: Options },
): Options {
  const out: Options = { ...options };
  for (const key of secretKeys) {
    const value = out[key];
    if (value === undefined || isSealed(value)) continue;
    if (typeof value !== 'string') continue; // the schema rejected it already
    const before = reuse?.sealed[key];
    if (isSealed(before) && reuse?.opened[key] === value) out[key] = before;
    else out[key] = seal(value, key, keyring.sealingKey());
  }
  return out;
}

/** The options with every sealed value opened. Throws SecretError (no key, wrong key, altered). */
export function openOptions(options: Options, keys: readonly SecretKey[]): Options {
  const out: Options = { ...options };
  for (const [key, value] of Object.entries(out)) {
    if (isSealed(value)) out[key] = open(value, key, keys);
  }
  return out;
}

/** Whether any value is sealed (then opening needs a key). */
export function hasSealed(options: Options): boolean {
  return Object.values(options).some(isSealed);
}

/** Names of secret options that hold plain text (written before secrets were sealed). */
export function plainSecrets(options: Options, secretKeys: readonly string[]): string[] {
  return secretKeys.filter((k) => typeof options[k] === 'string');
}

/**
 * Rotation: every sealed value not sealed with the sealing key is opened (with any key) and
 * sealed again with it; plain secrets are sealed. Returns the new options and how many
 * values changed (0: nothing to write).
 */
export function resealOptions(
  options: Options,
  secretKeys: readonly string[],
  keyring: Keyring,
): { options: Options; resealed: number } {
  const sealing = keyring.sealingKey();
  const out: Options = { ...options };
  let resealed = 0;
  for (const [key, value] of Object.entries(out)) {
    if (isSealed(value)) {
      if (sealedWith(value) === sealing.id) continue;
      out[key] = seal(open(value, key, keyring.keys()), key, sealing);
      resealed++;
    } else if (secretKeys.includes(key) && typeof value === 'string') {
      out[key] = seal(value, key, sealing);
      resealed++;
    }
  }
  return { options: out, resealed };
}

export type { SealedSecret };
