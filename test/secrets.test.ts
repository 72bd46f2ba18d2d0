import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  isSealed,
  open,
  seal,
  SECRET_MARK,
  SecretError,
  secretKey,
  type SealedSecret,
} from '../src/secrets/cipher.js';
import { Keyring } from '../src/secrets/keyring.js';
import { openOptions, resealOptions, sealOptions } from '../src/secrets/options.js';
import { tempDir } from './support/harness.js';

const hex = () => randomBytes(32).toString('hex');
const keyOf = (h: string) => secretKey(Buffer.from(h, 'hex'));

describe('secret cipher (AES-256-GCM)', () => {
  const key = keyOf(hex());

  it('seals to the documented form and opens again; each seal differs', () => {
    const a = seal('hunter2', 'password', key);
    const b = seal('hunter2', 'password', key);
    expect(a[SECRET_MARK]).toMatch(/^v1\.[0-9a-f]{8}\.[\w-]{16}\.[\w-]{22}\.[\w-]+$/);
    expect(a[SECRET_MARK].split('.')[1]).toBe(key.id);
    expect(a[SECRET_MARK]).not.toBe(b[SECRET_MARK]);
    expect(JSON.stringify(a)).not.toContain('hunter2');
    expect(open(a, 'password', [key])).toBe('hunter2');
    expect(isSealed(a)).toBe(true);
  });

  it('fails clearly with a wrong or missing key, never with garbage', () => {
    const sealed = seal('hunter2', 'password', key);
    const other = keyOf(hex());
    expect(() => open(sealed, 'password', [other])).toThrow(SecretError);
    expect(() => open(sealed, 'password', [other])).toThrow(
      new RegExp(`sealed with key ${key.id}, but the keys configured are ${other.id}`),
    );
    expect(() => open(sealed, 'password', [])).toThrow(/no key is configured.*TRAWL_SECRET_KEY/);
  });

  it('refuses an altered value, one moved to another field, and a truncated tag', () => {
    const sealed = seal('hunter2', 'password', key);
    const [v, kid, iv, tag, data] = sealed[SECRET_MARK].split('.') as string[];
    const flipped = Buffer.from(data!, 'base64url');
    flipped[0]! ^= 1;
    const altered: SealedSecret = {
      [SECRET_MARK]: [v, kid, iv, tag, flipped.toString('base64url')].join('.'),
    };
    expect(() => open(altered, 'password', [key])).toThrow(/it was altered/);
    expect(() => open(sealed, 'passphrase', [key])).toThrow(/altered, or moved/);
    const short = Buffer.from(tag!, 'base64url').subarray(0, 4).toString('base64url');
    const truncated = { [SECRET_MARK]: [v, kid, iv, short, data].join('.') };
    expect(() => open(truncated, 'password', [key])).toThrow(/not in a form trawl knows/);
  });
});

describe(Keyring.name, () => {
  const dirs: { cleanup: () => void }[] = [];
  const dir = () => {
    const d = tempDir('trawl-keys-');
    dirs.push(d);
    return d.path;
  };
  afterEach(() => dirs.splice(0).forEach((d) => d.cleanup()));

  it('takes TRAWL_SECRET_KEY (64 hex digits) and names a bad one without echoing it', () => {
    const h = hex();
    expect(new Keyring({ env: { TRAWL_SECRET_KEY: h } }).sealingKey().id).toBe(keyOf(h).id);
    const bad = new Keyring({ env: { TRAWL_SECRET_KEY: 'not-a-key-hunter2' } });
    expect(() => bad.sealingKey()).toThrow(
      /^TRAWL_SECRET_KEY must be 64 hex digits \(32 bytes\), got 17 characters$/,
    );
  });

  it('creates the key file with mode 0600 on first need in embedded mode, once', () => {
    const file = join(dir(), 'sub', 'secret.key');
    const a = new Keyring({ env: {}, defaultKeyFile: file, create: true });
    const b = new Keyring({ env: {}, defaultKeyFile: file, create: true });
    expect(a.keys()).toEqual([]); // nothing created just by looking
    expect(b.keys()).toEqual([]);
    const first = a.sealingKey();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // b read "no file" before a created it: it must not replace a's key with its own.
    expect(b.sealingKey().id).toBe(first.id);
    expect(readFileSync(file, 'utf8')).toContain(first.key.toString('hex'));
  });

  it('never creates a key in a fleet: a missing key is an error that says what to set', () => {
    const fleet = new Keyring({ env: {}, create: false });
    expect(() => fleet.sealingKey()).toThrow(
      /^no key to seal secrets with: set TRAWL_SECRET_KEY .* the same on every machine of the fleet$/,
    );
    const file = join(dir(), 'missing.key');
    const named = new Keyring({ env: { TRAWL_SECRET_KEY_FILE: file }, create: false });
    expect(() => named.sealingKey()).toThrow(`the key file ${file} does not exist`);
  });

  it('refuses a key file that other users may read', () => {
    const file = join(dir(), 'secret.key');
    writeFileSync(file, `${hex()}\n`, { mode: 0o644 });
    chmodSync(file, 0o644);
    expect(() => new Keyring({ env: { TRAWL_SECRET_KEY_FILE: file } }).keys()).toThrow(
      /may be read by other users \(mode 644\): run `chmod 600/,
    );
  });

  it('rotates a key file: new key first, old ones kept until dropped', () => {
    const file = join(dir(), 'secret.key');
    const ring = new Keyring({ env: {}, defaultKeyFile: file, create: true });
    const old = ring.sealingKey();
    const sealed = sealOptions({ password: 'pw' }, ['password'], ring);
    const fresh = ring.addSealingKey();
    expect(ring.keys().map((k) => k.id)).toEqual([fresh.id, old.id]);
    const { options, resealed } = resealOptions(sealed, ['password'], ring);
    expect(resealed).toBe(1);
    ring.dropOpeningKeys();
    const later = new Keyring({ env: {}, defaultKeyFile: file });
    expect(later.keys().map((k) => k.id)).toEqual([fresh.id]);
    expect(openOptions(options, later.keys())).toEqual({ password: 'pw' });
    expect(() => openOptions(sealed, later.keys())).toThrow(SecretError);
  });

  it('with keys from the environment, previous keys only open', () => {
    const oldHex = hex();
    const newHex = hex();
    const before = new Keyring({ env: { TRAWL_SECRET_KEY: oldHex } });
    const sealed = sealOptions({ password: 'pw', user: 'u' }, ['password'], before);
    expect(sealed.user).toBe('u');
    const during = new Keyring({
      env: { TRAWL_SECRET_KEY: newHex, TRAWL_SECRET_KEYS_PREVIOUS: oldHex },
    });
    expect(during.sealingKey().id).toBe(keyOf(newHex).id);
    const { options } = resealOptions(sealed, ['password'], during);
    expect(openOptions(options, [keyOf(newHex)])).toEqual({ password: 'pw', user: 'u' });
    expect(() => during.addSealingKey()).toThrow(/TRAWL_SECRET_KEYS_PREVIOUS/);
  });

  it('asks for no key when there is nothing to seal', () => {
    const fleet = new Keyring({ env: {}, create: false });
    expect(sealOptions({ user: 'u' }, ['password'], fleet)).toEqual({ user: 'u' });
  });
});
