/**
 * A WebDAV server on 127.0.0.1 with one huge directory: PROPFIND Depth 1 of it answers a
 * multistatus of N entries generated on the fly and streamed as the client reads (the
 * server waits for `drain`, so it never builds or buffers the answer whole). For scans and
 * rescans of millions of entries at flat memory, and for what a client does with an
 * answer still on the wire.
 *
 * Layout under `/dav`: the root holds the big directory (`/big` by default); the big
 * directory holds the N entries; an entry that is a directory lists empty. Options are read
 * at each request, so a test changes them between scans (entries, which exist, sizes) —
 * and can put raw XML into the answer (a hostile response) with `after`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { LOOPBACK } from '../servers/util.js';

export interface HugeEntry {
  name: string;
  /** Bytes (files). */
  size: number;
  /** Epoch ms; sent as an HTTP date (second precision). */
  mtime: number;
  isDir?: boolean;
}

export interface HugeListingOptions {
  /** Entries of the big directory. */
  entries: number;
  /** Storage path of the big directory, one level below the root. @default '/big' */
  dir?: string;
  /** The i-th entry, or undefined to leave it out. @default `f<i>.dat`, i bytes, 2023-11-14 */
  entry?: (i: number) => HugeEntry | undefined;
  /** Raw XML written into the answer after the i-th entry (whether or not that exists). */
  after?: (i: number) => string | undefined;
  /** Raw XML written after the last response instead of `</D:multistatus>` (a cut answer). */
  ending?: string;
  /** Responses per write. @default 200 */
  batch?: number;
}

export interface HugeListingStats {
  requests: number;
  /** Depth 1 listings of the big directory started. */
  listings: number;
  /** Bytes of the latest big listing written so far (accepted by the socket or its buffer). */
  bytes: number;
  /** The latest big listing's last byte has been written. */
  ended: boolean;
  /** Big listings whose client went away before the end. */
  abandoned: number;
}

export interface HugeListingServer {
  readonly port: number;
  /** `http://127.0.0.1:<port>/dav` */
  readonly url: string;
  /** `webdav://127.0.0.1:<port>/dav` */
  readonly storageUrl: string;
  /** Read at every request: change it between scans. */
  options: HugeListingOptions;
  readonly stats: HugeListingStats;
  close(): Promise<void>;
}

const DEFAULT_MTIME = 1_700_000_000_000;

export function defaultHugeEntry(i: number): HugeEntry {
  return { name: `f${i}.dat`, size: i, mtime: DEFAULT_MTIME };
}

const xml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const hrefOf = (segments: string[], dir: boolean) =>
  xml('/dav/' + segments.map(encodeURIComponent).join('/') + (dir && segments.length ? '/' : ''));

const HEAD = '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">';
const TAIL = '</D:multistatus>\n';

function collection(href: string): string {
  return (
    `<D:response><D:href>${href}</D:href><D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype>` +
    `<D:getlastmodified>Tue, 14 Nov 2023 22:13:20 GMT</D:getlastmodified></D:prop>` +
    `<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`
  );
}

export async function startHugeListingServer(
  initial: HugeListingOptions,
): Promise<HugeListingServer> {
  const stats: HugeListingStats = {
    requests: 0,
    listings: 0,
    bytes: 0,
    ended: false,
    abandoned: 0,
  };
  const state = { options: initial };
  const bigName = () => (state.options.dir ?? '/big').replace(/^\//, '');

  const answer = (res: ServerResponse, body: string) => {
    res.writeHead(207, { 'Content-Type': 'application/xml; charset=utf-8' });
    res.end(body);
  };

  async function streamBig(res: ServerResponse): Promise<void> {
    const o = state.options;
    const big = bigName();
    const entry = o.entry ?? defaultHugeEntry;
    const batch = o.batch ?? 200;
    stats.listings++;
    stats.bytes = 0;
    stats.ended = false;
    let gone = false;
    res.on('close', () => {
      if (!stats.ended) {
        gone = true;
        stats.abandoned++;
      }
    });
    res.writeHead(207, { 'Content-Type': 'application/xml; charset=utf-8' });
    const write = async (text: string) => {
      stats.bytes += Buffer.byteLength(text);
      if (!res.write(text)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        });
      }
    };
    await write(HEAD + collection(hrefOf([big], true)));
    let dateMs = NaN;
    let date = '';
    let chunk = '';
    for (let i = 0; i < o.entries && !gone; i++) {
      const e = entry(i);
      if (e) {
        if (e.mtime !== dateMs) {
          dateMs = e.mtime;
          date = new Date(e.mtime).toUTCString();
        }
        const href = hrefOf([big, e.name], e.isDir === true);
        chunk += e.isDir
          ? `<D:response><D:href>${href}</D:href><D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype><D:getlastmodified>${date}</D:getlastmodified></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`
          : `<D:response><D:href>${href}</D:href><D:propstat><D:prop><D:resourcetype/><D:getcontentlength>${e.size}</D:getcontentlength><D:getlastmodified>${date}</D:getlastmodified><D:getetag>"${e.size.toString(16)}-${i}"</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`;
      }
      const extra = o.after?.(i);
      if (extra !== undefined) chunk += extra;
      if ((i + 1) % batch === 0) {
        await write(chunk);
        chunk = '';
      }
    }
    if (gone) return;
    await write(chunk + (o.ending ?? TAIL));
    stats.ended = true;
    res.end();
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      stats.requests++;
      if (req.method !== 'PROPFIND') return void res.writeHead(405).end();
      const depth = String(req.headers.depth ?? 'infinity');
      const path = decodeURIComponent((req.url ?? '').split('?')[0]!).replace(/\/+$/, '');
      const big = bigName();
      if (path === '/dav') {
        return answer(
          res,
          HEAD +
            collection(hrefOf([], true)) +
            (depth === '1' ? collection(hrefOf([big], true)) : '') +
            TAIL,
        );
      }
      if (path === `/dav/${big}`) {
        if (depth !== '1') return answer(res, HEAD + collection(hrefOf([big], true)) + TAIL);
        streamBig(res).catch(() => res.destroy());
        return;
      }
      const sub = path.startsWith(`/dav/${big}/`) ? path.slice(big.length + 6) : undefined;
      if (sub !== undefined && !sub.includes('/')) {
        return answer(res, HEAD + collection(hrefOf([big, sub], true)) + TAIL);
      }
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `http://${LOOPBACK}:${port}/dav`,
    storageUrl: `webdav://${LOOPBACK}:${port}/dav`,
    get options() {
      return state.options;
    },
    set options(next: HugeListingOptions) {
      state.options = next;
    },
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
