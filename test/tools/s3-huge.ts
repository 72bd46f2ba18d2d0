/**
 * An S3 endpoint on 127.0.0.1 for one bucket of generated keys: ListObjectsV2 (path-style,
 * with and without a delimiter, MaxKeys, continuation tokens, StartAfter) over N keys under
 * a prefix made from their index — never stored, so N can be 5,000,000 — plus a few fixed
 * keys anywhere in the bucket. Each answer is computed in O(log N + MaxKeys).
 *
 * Options are read at each request: a test changes them between scans (how many keys,
 * which exist, their sizes and times). `answer` sees every listing answer before it is
 * sent and may change it (a truncated answer without a token, a token repeated, a bad
 * Size…), answer with an S3 error, or take the response over (stall, cut, flood).
 * Signatures are not checked; any credentials do.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { LOOPBACK } from '../servers/util.js';

export interface HugeObject {
  /** Bytes, or the text to send as `<Size>` (a hostile one). */
  size: number | string;
  /** Epoch ms, or the text to send as `<LastModified>`. */
  mtime: number | string;
  etag?: string;
}

export interface S3HugeOptions {
  /** @default 'huge' */
  bucket?: string;
  /** Where the generated keys live, ending in `/` (or '' for the bucket's top). @default 'big/' */
  prefix?: string;
  /** Generated keys. */
  count: number;
  /** The i-th generated name; names must sort (by UTF-8 bytes) as their indexes do. @default `f<i, zero-padded>.dat` */
  name?: (i: number) => string;
  /** The i-th generated object, or undefined when it does not exist. @default {@link defaultHugeObject} */
  object?: (i: number) => HugeObject | undefined;
  /** Fixed keys besides the generated ones. */
  extra?: Record<string, HugeObject>;
  /** Sees each listing answer before it is sent: return it (changed or not), or take over. */
  answer?: (call: ListCall, draft: Draft) => Draft | Takeover;
}

/** One ListObjectsV2 request as the server read it. */
export interface ListCall {
  /** Listing requests since the server started (or `stats.reset()`), from 1. */
  n: number;
  prefix: string;
  delimiter: string | undefined;
  maxKeys: number;
  token: string | undefined;
}

export interface DraftObject {
  key: string;
  size: string;
  lastModified: string;
  etag: string;
}

/** A listing answer about to be sent. */
export interface Draft {
  contents: DraftObject[];
  prefixes: string[];
  isTruncated: boolean;
  nextToken: string | undefined;
}

/** Instead of a listing: an S3 error, or the raw response in the test's hands. */
export type Takeover =
  | { error: { status: number; code: string; message?: string; retryAfter?: number } }
  | { raw: (req: IncomingMessage, res: ServerResponse) => void };

export interface S3HugeStats {
  /** Listing requests answered or taken over. */
  listCalls: number;
  /** Connections open now. */
  connections: number;
  reset(): void;
}

export interface S3HugeServer {
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly bucket: string;
  /** A storage URL for the bucket (or `path` below it), with credentials the server accepts. */
  storageUrl(path?: string): string;
  /** Read at every request: change it between scans. */
  options: S3HugeOptions;
  readonly stats: S3HugeStats;
  close(): Promise<void>;
}

export const HUGE_MTIME = 1_700_000_000_000;

export function defaultHugeObject(i: number): HugeObject {
  return { size: i % 10_000, mtime: HUGE_MTIME };
}

/** Code point order, which is UTF-8 byte order (S3's). */
function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

const SPECIAL = /[&<>"']/;
const xml = (s: string) =>
  !SPECIAL.test(s)
    ? s
    : s
        .replace(/&/g, '&amp;')
        .replace(/</g, '&lt;')
        .replace(/>/g, '&gt;')
        .replace(/"/g, '&quot;')
        .replace(/'/g, '&apos;');

/** Above every key that starts with the prefix it is appended to. */
const PAST = '\u{10ffff}';

interface Found {
  key: string;
  object: HugeObject;
}

export async function startS3Huge(initial: S3HugeOptions): Promise<S3HugeServer> {
  const state = { options: initial };
  const counters = { listCalls: 0, connections: 0 };
  const stats: S3HugeStats = {
    get listCalls() {
      return counters.listCalls;
    },
    get connections() {
      return counters.connections;
    },
    reset() {
      counters.listCalls = 0;
    },
  };
  const bucket = initial.bucket ?? 'huge';

  const view = () => {
    const o = state.options;
    const prefix = o.prefix ?? 'big/';
    const width = String(Math.max(o.count - 1, 0)).length;
    const name = o.name ?? ((i: number) => `f${String(i).padStart(width, '0')}.dat`);
    const object = o.object ?? defaultHugeObject;
    const extra = Object.keys(o.extra ?? {}).sort(compareKeys);
    const genKey = (i: number) => prefix + name(i);
    /** First generated index whose key is ≥ `key` (> when `exclusive`). */
    const genFrom = (key: string, exclusive: boolean) => {
      let lo = 0;
      let hi = o.count;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        const c = compareKeys(genKey(mid), key);
        if (c < 0 || (exclusive && c === 0)) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    };
    /** Keys from `key` on, in order. */
    function* from(key: string, exclusive: boolean): Generator<Found> {
      let g = genFrom(key, exclusive);
      let e = extra.findIndex((k) => {
        const c = compareKeys(k, key);
        return exclusive ? c > 0 : c >= 0;
      });
      if (e < 0) e = extra.length;
      for (;;) {
        let go: HugeObject | undefined;
        while (g < o.count && (go = object(g)) === undefined) g++;
        const gk = g < o.count ? genKey(g) : undefined;
        const ek = e < extra.length ? extra[e] : undefined;
        if (gk === undefined && ek === undefined) return;
        if (ek === undefined || (gk !== undefined && compareKeys(gk, ek) <= 0)) {
          yield { key: gk!, object: go! };
          g++;
        } else {
          yield { key: ek, object: o.extra![ek]! };
          e++;
        }
      }
    }
    return { from };
  };

  function list(call: ListCall, startAfter: string | undefined): Draft {
    const { from } = view();
    const draft: Draft = { contents: [], prefixes: [], isTruncated: false, nextToken: undefined };
    let after: string | undefined;
    if (call.token !== undefined) {
      after = (JSON.parse(Buffer.from(call.token, 'base64url').toString()) as { a: string }).a;
    } else if (startAfter) after = startAfter;
    let keys = after !== undefined ? from(after, true) : from(call.prefix, false);
    let count = 0;
    let last = '';
    let lastMtime = NaN;
    let lastTime = '';
    for (;;) {
      const next = keys.next();
      if (next.done) break;
      const { key, object } = next.value;
      if (!key.startsWith(call.prefix)) {
        if (compareKeys(key, call.prefix) > 0) break;
        continue;
      }
      if (count === call.maxKeys) {
        draft.isTruncated = true;
        break;
      }
      count++;
      const cut = call.delimiter ? key.indexOf(call.delimiter, call.prefix.length) : -1;
      if (cut >= 0) {
        const common = key.slice(0, cut + call.delimiter!.length);
        draft.prefixes.push(common);
        last = common + PAST;
        keys = from(last, true);
        continue;
      }
      if (typeof object.mtime === 'number' && object.mtime !== lastMtime) {
        lastMtime = object.mtime;
        lastTime = new Date(object.mtime).toISOString();
      }
      draft.contents.push({
        key,
        size: String(object.size),
        lastModified: typeof object.mtime === 'number' ? lastTime : object.mtime,
        etag: object.etag ?? `"${typeof object.size === 'number' ? object.size.toString(16) : 0}"`,
      });
      last = key;
    }
    if (draft.isTruncated)
      draft.nextToken = Buffer.from(JSON.stringify({ a: last })).toString('base64url');
    return draft;
  }

  function send(res: ServerResponse, status: number, body: string, retryAfter?: number): void {
    res.writeHead(status, {
      'Content-Type': 'application/xml',
      'Content-Length': Buffer.byteLength(body),
      ...(retryAfter !== undefined ? { 'Retry-After': String(retryAfter) } : {}),
    });
    res.end(body);
  }

  function render(call: ListCall, d: Draft): string {
    const parts = [
      '<?xml version="1.0" encoding="UTF-8"?>\n',
      '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
      `<Name>${xml(bucket)}</Name><Prefix>${xml(call.prefix)}</Prefix>`,
      `<KeyCount>${d.contents.length + d.prefixes.length}</KeyCount><MaxKeys>${call.maxKeys}</MaxKeys>`,
      call.delimiter ? `<Delimiter>${xml(call.delimiter)}</Delimiter>` : '',
      `<IsTruncated>${d.isTruncated}</IsTruncated>`,
      call.token ? `<ContinuationToken>${xml(call.token)}</ContinuationToken>` : '',
      d.nextToken !== undefined
        ? `<NextContinuationToken>${xml(d.nextToken)}</NextContinuationToken>`
        : '',
    ];
    for (const c of d.contents) {
      parts.push(
        `<Contents><Key>${xml(c.key)}</Key><LastModified>${xml(c.lastModified)}</LastModified>` +
          `<ETag>${xml(c.etag)}</ETag><Size>${xml(c.size)}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
      );
    }
    for (const p of d.prefixes)
      parts.push(`<CommonPrefixes><Prefix>${xml(p)}</Prefix></CommonPrefixes>`);
    parts.push('</ListBucketResult>');
    return parts.join('');
  }

  const errorBody = (code: string, message: string) =>
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${xml(code)}</Code><Message>${xml(message)}</Message></Error>`;

  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const path = decodeURIComponent(url.pathname).replace(/\/+$/, '');
      if (path !== `/${bucket}`) {
        return send(res, 404, errorBody('NoSuchBucket', 'The specified bucket does not exist'));
      }
      const q = url.searchParams;
      if (req.method !== 'GET' || q.get('list-type') !== '2') {
        return send(res, 501, errorBody('NotImplemented', 'only ListObjectsV2'));
      }
      const call: ListCall = {
        n: ++counters.listCalls,
        prefix: q.get('prefix') ?? '',
        delimiter: q.get('delimiter') || undefined,
        maxKeys: Math.min(Number(q.get('max-keys') ?? 1000), 1000),
        token: q.get('continuation-token') ?? undefined,
      };
      let result: Draft | Takeover;
      try {
        const draft = list(call, q.get('start-after') ?? undefined);
        result = state.options.answer ? state.options.answer(call, draft) : draft;
      } catch (error) {
        return send(res, 400, errorBody('InvalidArgument', String(error)));
      }
      if ('raw' in result) return result.raw(req, res);
      if ('error' in result) {
        const { status, code, message, retryAfter } = result.error;
        return send(res, status, errorBody(code, message ?? code), retryAfter);
      }
      send(res, 200, render(call, result));
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    counters.connections++;
    s.on('close', () => {
      sockets.delete(s);
      counters.connections--;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const port = (server.address() as { port: number }).port;
  const endpoint = `http://${LOOPBACK}:${port}`;
  return {
    port,
    endpoint,
    bucket,
    storageUrl: (path = '') =>
      `s3://huge:huge@${bucket}${path}?endpoint=${encodeURIComponent(endpoint)}`,
    get options() {
      return state.options;
    },
    set options(next: S3HugeOptions) {
      state.options = next;
    },
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
