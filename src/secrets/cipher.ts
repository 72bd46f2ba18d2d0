/**
 * Secrets at rest: AES-256-GCM under a 32-byte key, one fresh 96-bit IV per value, the
 * field's name as additional data (a ciphertext moved to another field does not decrypt).
 * The stored form names the key it was sealed with, so a wrong or missing key is a clear
 * error — never garbage — and a rotation can tell old values from new ones.
 *
 * Stored form: `{ "$secret": "v1.<kid>.<iv>.<tag>.<ciphertext>" }`, base64url parts.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

export const SECRET_MARK = '$secret';

/** A key and its id (the first 8 hex digits of its SHA-256: names it, reveals nothing). */
export interface SecretKey {
  id: string;
  key: Buffer;
}

/** A sealed value as it sits in a storage's stored options. */
export interface SealedSecret {
  [SECRET_MARK]: string;
}

/** A secret that cannot be opened: no key with its id, or it was tampered with. */
export class SecretError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretError';
  }
}

export function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

export function secretKey(key: Buffer): SecretKey {
  if (key.length !== 32) throw new SecretError(`a secret key is 32 bytes, got ${key.length}`);
  return { id: keyId(key), key };
}

export function isSealed(value: unknown): value is SealedSecret {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as Record<string, unknown>)[SECRET_MARK] === 'string'
  );
}

/** The key id a sealed value names. */
export function sealedWith(value: SealedSecret): string {
  return value[SECRET_MARK].split('.')[1] ?? '';
}

export function seal(plain: string, field: string, key: SecretKey): SealedSecret {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key.key, iv);
  cipher.setAAD(Buffer.from(field, 'utf8'));
  const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  const b64 = (b: Buffer) => b.toString('base64url');
  return { [SECRET_MARK]: `v1.${key.id}.${b64(iv)}.${b64(tag)}.${b64(data)}` };
}

/** Opens a sealed value with whichever of `keys` sealed it. */
export function open(sealed: SealedSecret, field: string, keys: readonly SecretKey[]): string {
  const parts = sealed[SECRET_MARK].split('.');
  if (parts.length !== 5 || parts[0] !== 'v1') {
    throw new SecretError(`the stored secret \`${field}\` is not in a form trawl knows`);
  }
  const [, kid, iv, tag, data] = parts as [string, string, string, string, string];
  const key = keys.find((k) => k.id === kid);
  if (!key) {
    const have =
      keys.length === 0
        ? 'no key is configured'
        : `the keys configured are ${keys.map((k) => k.id).join(', ')}`;
    throw new SecretError(
      `the stored secret \`${field}\` was sealed with key ${kid}, but ${have}: set TRAWL_SECRET_KEY (or TRAWL_SECRET_KEY_FILE) to the key it was sealed with (docs/secrets.md)`,
    );
  }
  const ivBytes = Buffer.from(iv, 'base64url');
  const tagBytes = Buffer.from(tag, 'base64url');
  // GCM accepts short tags unless told otherwise: a truncated tag is forgeable, so only the
  // full 16 bytes (and the 12-byte IV seal writes) are accepted.
  if (ivBytes.length !== 12 || tagBytes.length !== 16) {
    throw new SecretError(`the stored secret \`${field}\` is not in a form trawl knows`);
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key.key, ivBytes, { authTagLength: 16 });
    decipher.setAAD(Buffer.from(field, 'utf8'));
    decipher.setAuthTag(tagBytes);
    return Buffer.concat([
      decipher.update(Buffer.from(data, 'base64url')),
      decipher.final(),
    ]).toString('utf8');
  } catch {
    throw new SecretError(
      `the stored secret \`${field}\` does not open with key ${kid}: it was altered, or moved from another field`,
    );
  }
}
