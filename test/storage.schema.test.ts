import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { optionsTable } from '../src/storage/options-doc.js';
import { secretKeysOf, withEnv } from '../src/storage/options.js';
import { BACKENDS, type StorageKind } from '../src/storage/registry.js';
import { parseStorageSpec } from '../src/storage/url.js';

const KINDS = Object.keys(BACKENDS) as StorageKind[];
const DOCS = readFileSync(resolve(import.meta.dirname, '../docs/storages.md'), 'utf8');

/** A URL of each kind that parses. */
const URLS: Record<StorageKind, string> = {
  local: 'file:///srv/media',
  memory: 'memory://vol',
  webdav: 'webdav://nas/dav',
  s3: 's3://bucket/photos',
  sftp: 'sftp://nas/srv',
  ftp: 'ftp://nas/pub',
  smb: 'smb://nas/share/dir',
};

/** A Markdown table as rows of trimmed cells (so the formatter's alignment does not matter). */
function cells(table: string): string[][] {
  return table
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('|') && !/^\|[\s|:-]+\|$/.test(l))
    .map((l) =>
      l
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((c) => c.trim()),
    );
}

describe('option schemas', () => {
  it.each(KINDS)('docs/storages.md lists exactly the %s schema, as generated', (kind) => {
    const found = new RegExp(
      `<!-- options:${kind} [^>]*-->\\n([\\s\\S]*?)<!-- /options:${kind} -->`,
    ).exec(DOCS);
    expect(found, `no options table for ${kind} in docs/storages.md`).not.toBeNull();
    // On a mismatch, paste the expected table (optionsTable) into the page.
    expect(cells(found![1]!)).toEqual(cells(optionsTable(BACKENDS[kind].options)));
  });

  it.each(KINDS)('%s: every secret option is redacted, whatever else is set', (kind) => {
    const secrets = secretKeysOf(BACKENDS[kind].options);
    const extra = Object.fromEntries(secrets.map((k, i) => [k, `Very-Secret-${i}`]));
    const spec = parseStorageSpec(URLS[kind], extra);
    const shown = BACKENDS[kind].redact(spec.options as never);
    expect(JSON.stringify(shown)).not.toMatch(/Very-Secret/);
    for (const k of secrets) expect(shown[k]).toBe('***');
  });

  it('marks the credentials secret, and only them', () => {
    expect(Object.fromEntries(KINDS.map((k) => [k, secretKeysOf(BACKENDS[k].options)]))).toEqual({
      ftp: ['password'],
      local: [],
      memory: [],
      sftp: ['password', 'privateKey', 'passphrase'],
      smb: ['password'],
      webdav: ['password'],
      s3: ['secretAccessKey', 'sessionToken'],
    });
  });

  it.each(KINDS)('%s: every option with environment variables is filled from them', (kind) => {
    const schema = BACKENDS[kind].options;
    for (const [key, spec] of Object.entries(schema)) {
      for (const name of spec.env ?? []) {
        expect(withEnv(schema, {}, { [name]: 'from-env' }), `${kind} ${key} ${name}`).toEqual(
          expect.objectContaining({ [key]: 'from-env' }),
        );
        // Given options win over the environment.
        expect(withEnv(schema, { [key]: 'given' }, { [name]: 'from-env' })).toMatchObject({
          [key]: 'given',
        });
      }
    }
  });

  it('reads every kind through its schema: a bad value names the option', () => {
    for (const [url, key] of [
      ['webdav://nas/dav?insecure=banana', 'insecure'],
      ['ftp://nas/?tls=banana', 'tls'],
      ['sftp://nas/srv?port=banana', 'port'],
    ] as const) {
      expect(() => parseStorageSpec(url), url).toThrow(new RegExp(`^Expected \`${key}\` to be `));
    }
    expect(() => parseStorageSpec('ftp://nas/?tls=banana')).toThrow(
      'Expected `tls` to be one of none, explicit, implicit, got "banana"',
    );
  });
});
