import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = join(dirname(fileURLToPath(import.meta.url)), '..');

// A process of its own: the SDK warns at most once per process, and only a fresh one shows
// whether connecting writes to process.env or lets the warning through.
const child = `
import { createServer } from 'node:http';
import { s3Backend } from ${JSON.stringify(join(repo, 'dist/storage/backends/s3-backend.js'))};
const before = JSON.stringify(process.env);
const server = createServer((req, res) => {
  res.setHeader('content-type', 'application/xml');
  res.end('<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bkt</Name><Prefix></Prefix><KeyCount>0</KeyCount><MaxKeys>1</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>');
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const client = s3Backend.create(
  s3Backend.parseOptions({
    bucket: 'bkt',
    endpoint: 'http://127.0.0.1:' + server.address().port,
    accessKeyId: 'k',
    secretAccessKey: 's',
  }),
  { env: {} },
);
await client.connect();
await client.close();
server.close();
console.log(JSON.stringify({ envUnchanged: JSON.stringify(process.env) === before }));
`;

describe('s3 backend in a process of its own', () => {
  it('connects without writing to process.env and without the SDK Node-version warning', async () => {
    expect(
      existsSync(join(repo, 'dist/storage/backends/s3-backend.js')),
      'run `npm run build` first',
    ).toBe(true);
    const env = { ...process.env };
    delete env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
    delete env.NODE_OPTIONS;
    const { stdout, stderr } = await run(process.execPath, ['--input-type=module', '-e', child], {
      env,
      timeout: 30_000,
    });
    expect(JSON.parse(stdout)).toEqual({ envUnchanged: true });
    expect(stderr).toBe('');
  });
});
