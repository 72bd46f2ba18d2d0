/**
 * The s3 storage's definition (URL form, options, parsing): what every command that parses
 * a storage needs. Its client, ./s3.js with the protocol code under it, loads at the first
 * connect (deferred.ts): a local scan evaluates none of it.
 */
import { InvalidConfigError } from '../errors.js';
import { defineBackend } from '../backend.js';
import {
  connectTimeoutMs,
  TIMEOUT_MS,
  withEnv,
  type OptionSchema,
  type OptionValues,
} from '../options.js';
import type { BackendDeps } from '../types.js';
import { deferredClient } from './deferred.js';
import { queryOptions } from './remote-common.js';
import type { S3Options } from './s3.js';

// https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html (plus legacy dots/underscores)
const BUCKET = /^[a-z0-9][a-z0-9._-]{1,254}$/i;

/** Every s3 option, declared once: parsing, redaction, sealing and docs come from here. */
export const S3_OPTIONS = {
  bucket: { type: 'string', doc: "Bucket name (the URL's host part)." },
  prefix: {
    type: 'string',
    default: '',
    doc: "Key prefix that is the storage's root (the URL's path).",
  },
  endpoint: {
    type: 'string',
    doc: 'S3-compatible endpoint, `http(s)://host:port`, without credentials; none for AWS itself.',
  },
  forcePathStyle: {
    type: 'bool',
    defaultDoc: '`true` with an `endpoint`, else `false`',
    doc: 'Bucket in the path, not the host name.',
  },
  region: {
    type: 'string',
    env: ['AWS_REGION', 'AWS_DEFAULT_REGION'],
    defaultDoc: '`us-east-1`',
    doc: 'Region the requests are signed for.',
  },
  accessKeyId: { type: 'string', env: ['AWS_ACCESS_KEY_ID'], doc: 'Access key id.' },
  secretAccessKey: {
    type: 'string',
    secret: true,
    env: ['AWS_SECRET_ACCESS_KEY'],
    doc: 'Secret access key.',
  },
  sessionToken: {
    type: 'string',
    secret: true,
    env: ['AWS_SESSION_TOKEN'],
    doc: 'Session token of temporary credentials.',
  },
  pageSize: {
    type: 'int',
    default: 1000,
    min: 1,
    max: 1000,
    doc: 'Keys per ListObjectsV2 page (S3 caps it at 1000).',
  },
  timeoutMs: {
    ...TIMEOUT_MS,
    doc: 'A request may wait this long for its answer, or between two pieces of it, in ms (a page that trickles in may take ten times this in all).',
  },
  connectTimeoutMs: connectTimeoutMs(
    3_600_000,
    'Connecting (TCP and TLS), and the first answer of `connect()`, in ms.',
  ),
  maxSockets: { type: 'int', default: 64, doc: 'Connections kept alive.' },
} as const satisfies OptionSchema;

function finishS3Options(r: OptionValues<typeof S3_OPTIONS>): S3Options {
  const bucket = r.bucket;
  if (!bucket || !BUCKET.test(bucket)) {
    throw new InvalidConfigError(
      `s3 storage needs a valid "bucket" name, got ${JSON.stringify(r.bucket)}`,
    );
  }
  const rawPrefix = r.prefix;
  const prefix = rawPrefix
    .replace(/^\/+/, '')
    .replace(/\/*$/, rawPrefix.replace(/^\/+/, '') ? '/' : '');
  const endpoint = r.endpoint;
  if (endpoint !== undefined) {
    let u: URL;
    try {
      u = new URL(endpoint);
    } catch {
      throw new InvalidConfigError(
        `s3 "endpoint" must be an http(s) URL, got ${JSON.stringify(endpoint)}`,
      );
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new InvalidConfigError(
        `s3 "endpoint" must be an http(s) URL, got ${JSON.stringify(endpoint)}`,
      );
    }
    if (u.username || u.password) {
      throw new InvalidConfigError(
        's3 "endpoint" must not carry credentials; use accessKeyId/secretAccessKey',
      );
    }
  }
  const options: S3Options = {
    bucket,
    prefix,
    forcePathStyle: r.forcePathStyle ?? endpoint !== undefined,
    pageSize: r.pageSize,
    timeoutMs: r.timeoutMs,
    connectTimeoutMs: r.connectTimeoutMs,
    maxSockets: r.maxSockets,
  };
  if (endpoint !== undefined) options.endpoint = endpoint.replace(/\/+$/, '');
  for (const key of ['region', 'accessKeyId', 'secretAccessKey', 'sessionToken'] as const) {
    const v = r[key];
    if (v !== undefined) options[key] = v;
  }
  return options;
}

export const s3Backend = defineBackend('s3', {
  schemes: ['s3'],
  url: {
    pattern: 's3://[accessKeyId[:secretAccessKey]@]bucket[/prefix]',
    names: 'bucket',
    note: '?endpoint=http://host:port for S3-compatible servers, ?region=…',
    example: 's3://photos/2024?endpoint=http://minio.local:9000',
  },
  options: S3_OPTIONS,
  fromUrl(url) {
    const raw = queryOptions(url);
    raw.bucket = decodeURIComponent(url.hostname);
    raw.prefix = url.pathname
      .split('/')
      .filter((s) => s !== '')
      .map(decodeURIComponent)
      .join('/');
    if (url.username) raw.accessKeyId = decodeURIComponent(url.username);
    if (url.password) raw.secretAccessKey = decodeURIComponent(url.password);
    return raw;
  },
  finish: finishS3Options,
  create(given, deps: BackendDeps) {
    const options = withEnv(S3_OPTIONS, given, deps.env);
    return deferredClient(async () => (await import('./s3.js')).createS3Client(options, deps), {
      listTree: true,
      readHead: true,
    });
  },
  location(options) {
    const endpoint = options.endpoint ? `?endpoint=${encodeURIComponent(options.endpoint)}` : '';
    return `s3://${options.bucket}/${options.prefix}${endpoint}`;
  },
  limitHost: (options) => (options.endpoint ? new URL(options.endpoint).host : 's3.amazonaws.com'),
});
