/**
 * Where the keys for secrets at rest come from:
 * - `TRAWL_SECRET_KEY`: the key that seals (64 hex digits = 32 bytes);
 * - `TRAWL_SECRET_KEYS_PREVIOUS`: keys that only open (comma-separated), while a rotation runs;
 * - else a key file (`TRAWL_SECRET_KEY_FILE`, or `secret.key` beside the embedded index): one
 *   key per line, the first seals. Embedded mode creates it (mode 0600) on first need; a key
 *   file others may read is refused, as ssh refuses such a private key.
 */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { SecretError, secretKey, type SecretKey } from './cipher.js';
import { makeDirs } from '../util/make-dirs.js';

const HEX_KEY = /^[0-9a-fA-F]{64}$/;

export interface KeyringSource {
  env: Readonly<Record<string, string | undefined>>;
  /** The key file used when the environment names none (embedded mode: beside the index). */
  defaultKeyFile?: string | undefined;
  /** Create the key file on first need (embedded mode only: a fleet shares one key). */
  create?: boolean;
}

export class Keyring {
  readonly #source: KeyringSource;
  #keys: SecretKey[] | undefined;
  #file: string | undefined;

  constructor(source: KeyringSource) {
    this.#source = source;
  }

  /** Forgets the keys read, so the next use reads them again (another process rotated). */
  reload(): void {
    this.#keys = undefined;
  }

  /** Every key that may open a secret; none configured is an empty list. */
  keys(): SecretKey[] {
    return this.#load();
  }

  /** The key new secrets are sealed with; created in embedded mode, else a clear error. */
  sealingKey(): SecretKey {
    const keys = this.#load();
    if (keys[0]) return keys[0];
    const file = this.#file;
    if (file && this.#source.create) {
      // Another process may create it at the same moment: exactly one file wins, and both
      // seal with its key (a key that lost the race would seal what no one can open).
      createKeyFile(file, randomBytes(32));
      this.#keys = undefined;
      return this.#load()[0]!;
    }
    const missing = file ? ` (the key file ${file} does not exist)` : '';
    throw new SecretError(
      `no key to seal secrets with${missing}: set TRAWL_SECRET_KEY (64 hex digits, e.g. \`openssl rand -hex 32\`) ` +
        'or TRAWL_SECRET_KEY_FILE, the same on every machine of the fleet',
    );
  }

  /**
   * Embedded mode's rotation, step one: a new sealing key goes first in the key file, the old
   * ones stay after it so every stored secret still opens. Returns the new key. (With keys from
   * the environment, the operator swaps them instead.)
   */
  addSealingKey(): SecretKey {
    const file = this.#keyFile('rotate');
    const fresh = randomBytes(32);
    writeKeyFile(file, [fresh, ...this.#load().map((k) => k.key)]);
    this.#keys = undefined;
    return this.#load()[0]!;
  }

  /** Rotation's last step: only the sealing key stays in the key file. */
  dropOpeningKeys(): void {
    const file = this.#keyFile('rotate');
    const [first] = this.#load();
    if (first) writeKeyFile(file, [first.key]);
    this.#keys = undefined;
  }

  /** True when the keys come from the environment (a fleet), not from a key file. */
  get fromEnvironment(): boolean {
    return Boolean(this.#source.env.TRAWL_SECRET_KEY);
  }

  #keyFile(what: string): string {
    this.#load();
    if (this.fromEnvironment || !this.#file) {
      throw new SecretError(
        `cannot ${what} keys set in the environment: set the new key as TRAWL_SECRET_KEY and the old one in TRAWL_SECRET_KEYS_PREVIOUS, then run \`trawl secrets rotate\``,
      );
    }
    return this.#file;
  }

  #load(): SecretKey[] {
    if (this.#keys) return this.#keys;
    const env = this.#source.env;
    const keys: SecretKey[] = [];
    if (env.TRAWL_SECRET_KEY) keys.push(parseKey(env.TRAWL_SECRET_KEY, 'TRAWL_SECRET_KEY'));
    else {
      const file = env.TRAWL_SECRET_KEY_FILE || this.#source.defaultKeyFile;
      this.#file = file;
      if (file && existsSync(file)) keys.push(...readKeyFile(file));
    }
    for (const [i, hex] of (env.TRAWL_SECRET_KEYS_PREVIOUS ?? '').split(',').entries()) {
      if (hex.trim()) keys.push(parseKey(hex.trim(), `TRAWL_SECRET_KEYS_PREVIOUS (item ${i + 1})`));
    }
    this.#keys = keys;
    return keys;
  }
}

function parseKey(hex: string, where: string): SecretKey {
  if (!HEX_KEY.test(hex.trim())) {
    throw new SecretError(
      `${where} must be 64 hex digits (32 bytes), got ${hex.trim().length} characters`,
    );
  }
  return secretKey(Buffer.from(hex.trim(), 'hex'));
}

function readKeyFile(file: string): SecretKey[] {
  let text: string;
  let mode: number;
  try {
    mode = statSync(file).mode;
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new SecretError(`cannot read the key file ${file}: ${(error as Error).message}`);
  }
  if ((mode & 0o077) !== 0) {
    throw new SecretError(
      `the key file ${file} may be read by other users (mode ${(mode & 0o777).toString(8)}): run \`chmod 600 ${file}\``,
    );
  }
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (lines.length === 0) throw new SecretError(`the key file ${file} holds no key`);
  return lines.map((l, i) => parseKey(l, `${file} line ${i + 1}`));
}

/** Creates the key file with one key, unless it exists (then it is left as it is). */
function createKeyFile(file: string, key: Buffer): void {
  const tmp = writeTemp(file, [key]);
  try {
    linkSync(tmp, file); // fails when the file exists: never replaces a key in use
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new SecretError(`cannot create the key file ${file}: ${(error as Error).message}`);
    }
  } finally {
    unlinkSync(tmp);
  }
}

/**
 * Writes keys (first seals) to a new file beside `file`, flushed, then renamed over it. The
 * new file goes beside the old one, so the folder must be writable, not only the file.
 */
function writeKeyFile(file: string, keys: Buffer[]): void {
  try {
    renameSync(writeTemp(file, keys), file);
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    if (code !== 'EACCES' && code !== 'EPERM' && code !== 'EROFS') throw error;
    throw new SecretError(
      `cannot write the key file ${file} (${message}): a rotation writes a new key file beside it, ` +
        `so its folder ${dirname(file)} must be writable; run it as the key file's owner, or keep ` +
        'the keys in TRAWL_SECRET_KEY (docs/secrets.md)',
    );
  }
}

function writeTemp(file: string, keys: Buffer[]): string {
  makeDirs(dirname(file), 0o700);
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(
      fd,
      `# trawl secret keys: the first seals, the others only open. Keep this file.\n${keys.map((k) => k.toString('hex')).join('\n')}\n`,
    );
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, 0o600);
  return tmp;
}
