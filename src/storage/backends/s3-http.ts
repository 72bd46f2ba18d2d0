/**
 * What trawl puts around the AWS SDK's HTTP for S3, so that no wait is left to the library:
 * agents whose new connections must be established (TCP, and TLS where it applies) within a
 * connect timeout (s3-agents.ts), and a reader that takes each ListObjectsV2 answer off the wire itself —
 * streamed into {@link ListingXmlReader}, bounded in bytes, reporting progress, stopped by
 * the request's abort signal.
 *
 * Measured on @aws-sdk/client-s3 3.1175 / @smithy/node-http-handler 4.14: its
 * `connectionTimeout` stops waiting at TCP connect, so a TLS endpoint that accepts and never
 * answers hangs; its `requestTimeout` only prints a warning on stderr unless
 * `throwOnRequestTimeout` is set, and stops at the response headers; and it collects every
 * 2xx body whole (throw200ExceptionsMiddleware) before parsing it.
 */
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { ListingXmlError, ListingXmlReader, type ListPage } from './s3-xml.js';

/**
 * Largest ListObjectsV2 answer read. A real page of 1,000 keys is ~300 KB; keys of 1,024
 * bytes written with `&amp;` throughout stay under 7 MB. Past this the answer is refused
 * (PROTOCOL) instead of growing memory without bound.
 */
export const MAX_ANSWER_BYTES = 16 * 1024 * 1024;
/** Largest error answer read (S3's are a few hundred bytes). */
export const MAX_ERROR_BYTES = 1024 * 1024;

/** A connection that was not established in time; the backend maps it to TIMEOUT. */
export class ConnectTimeoutError extends Error {
  override name = 'ConnectTimeoutError';
  readonly code = 'ETIMEDOUT';
  constructor(readonly connectTimeoutMs: number) {
    super(`the connection was not established within ${connectTimeoutMs} ms`);
  }
}

/** How one request is watched: its abort signal, and a call whenever bytes arrive. */
export interface RequestControl {
  abortSignal: AbortSignal;
  progress(): void;
}

function abortError(): Error {
  return Object.assign(new Error('request aborted'), { name: 'AbortError' });
}

/** Reads a response body chunk by chunk, at most `limit` bytes, until done or aborted. */
async function readBody(
  body: unknown,
  control: RequestControl,
  limit: number,
  onChunk: (chunk: Buffer) => void,
): Promise<void> {
  const tooLarge = () => new ListingXmlError(`an answer larger than ${limit} bytes`);
  if (body === undefined || body === null) return;
  if (body instanceof Uint8Array || typeof body === 'string') {
    const bytes = Buffer.from(body);
    if (bytes.length > limit) throw tooLarge();
    onChunk(bytes);
    return;
  }
  if (!(body instanceof Readable)) throw new ListingXmlError('an answer body that cannot be read');
  const signal = control.abortSignal;
  if (signal.aborted) {
    body.destroy();
    throw abortError();
  }
  // Destroying the body destroys its socket: a stopped listing leaves no connection behind.
  const onAbort = () => body.destroy(abortError());
  signal.addEventListener('abort', onAbort, { once: true });
  let bytes = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer | string>) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      bytes += buf.length;
      if (bytes > limit) {
        body.destroy();
        throw tooLarge();
      }
      control.progress();
      onChunk(buf);
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

interface RawResponse {
  statusCode?: number;
  headers?: Record<string, string | undefined>;
  body?: unknown;
}
type Handler = (args: unknown) => Promise<{ response: unknown }>;

/**
 * A middleware that sits next to the HTTP handler: a 2xx answer is read here into a
 * {@link ListPage} (handed to `onPage`) and the SDK is left an empty body; any other answer
 * is read here too, bounded, and handed on as bytes for the SDK to parse into its error.
 */
export function answerReader(control: RequestControl, onPage: (page: ListPage) => void) {
  return (next: Handler): Handler =>
    async (args) => {
      const result = await next(args);
      const response = result.response as RawResponse;
      control.progress();
      const status = response.statusCode ?? 0;
      if (status >= 200 && status < 300) {
        const reader = new ListingXmlReader();
        const decoder = new StringDecoder('utf8');
        await readBody(response.body, control, MAX_ANSWER_BYTES, (chunk) =>
          reader.write(decoder.write(chunk)),
        );
        reader.write(decoder.end());
        const doc = reader.end();
        if ('error' in doc) {
          // What S3 itself does for an error inside a 200 (the SDK turns it into a 503).
          throw Object.assign(new Error(doc.error.message ?? 'an error inside a 2xx answer'), {
            name: doc.error.code ?? 'InternalError',
            $metadata: { httpStatusCode: 503 },
          });
        }
        onPage(doc.page);
        response.body = new Uint8Array(0);
      } else {
        const chunks: Buffer[] = [];
        await readBody(response.body, control, MAX_ERROR_BYTES, (chunk) => chunks.push(chunk));
        response.body = new Uint8Array(Buffer.concat(chunks));
      }
      return result;
    };
}

/**
 * Past a 206 of exactly the range asked for, this much more is read (and dropped) waiting for
 * the answer's end, so that its connection can be reused; a server that sends more loses it.
 */
const RANGE_SLACK_BYTES = 64 * 1024;

/**
 * The first `bytes` bytes of a 2xx body, never more kept: a 200 (a server that ignored the
 * Range) is cut off there and its socket destroyed.
 */
async function readPrefix(
  body: unknown,
  control: RequestControl,
  bytes: number,
  partial: boolean,
): Promise<Uint8Array> {
  if (body instanceof Uint8Array || typeof body === 'string') {
    return new Uint8Array(Buffer.from(body).subarray(0, bytes));
  }
  if (body === undefined || body === null) return new Uint8Array();
  if (!(body instanceof Readable)) throw new ListingXmlError('an answer body that cannot be read');
  const signal = control.abortSignal;
  if (signal.aborted) {
    body.destroy();
    throw abortError();
  }
  const onAbort = () => body.destroy(abortError());
  signal.addEventListener('abort', onAbort, { once: true });
  const head = Buffer.alloc(bytes);
  let got = 0;
  let seen = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer | string>) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      control.progress();
      seen += buf.length;
      const take = Math.min(buf.length, bytes - got);
      if (take > 0) buf.copy(head, got, 0, take);
      got += take;
      if (got === bytes && (!partial || seen > bytes + RANGE_SLACK_BYTES)) {
        body.destroy();
        break;
      }
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  return new Uint8Array(head.subarray(0, got));
}

function destroyBody(body: unknown): void {
  if (body instanceof Readable) body.destroy();
}

/**
 * A middleware beside the HTTP handler for a ranged GetObject: a 2xx body is read here,
 * at most `bytes` of it kept (handed to `onHead`), and the SDK is left an empty stream; any
 * other answer is read bounded and handed on for the SDK to parse into its error.
 */
export function headReader(
  control: RequestControl,
  bytes: number,
  onHead: (head: Uint8Array) => void,
) {
  return (next: Handler): Handler =>
    async (args) => {
      const result = await next(args);
      const response = result.response as RawResponse;
      control.progress();
      const status = response.statusCode ?? 0;
      // A server that says the object is empty (`bytes 0-0/0`: s3rver, where S3 answers 416)
      // would send no byte of the one it promised: nothing is waited for.
      const empty = /\/0$/.test(response.headers?.['content-range']?.trim() ?? '');
      if (status >= 200 && status < 300 && empty) {
        destroyBody(response.body);
        onHead(new Uint8Array());
        response.body = Readable.from([]);
      } else if (status >= 200 && status < 300) {
        onHead(await readPrefix(response.body, control, bytes, status === 206));
        response.body = Readable.from([]);
      } else {
        const chunks: Buffer[] = [];
        await readBody(response.body, control, MAX_ERROR_BYTES, (chunk) => chunks.push(chunk));
        response.body = new Uint8Array(Buffer.concat(chunks));
      }
      return result;
    };
}

/** Sends one GetObject command (its Range set) with {@link headReader} in place. */
export async function sendGetHead(
  sdk: SdkClient,
  command: SdkCommand,
  control: RequestControl,
  bytes: number,
): Promise<Uint8Array> {
  let head: Uint8Array | undefined;
  command.middlewareStack.add(
    headReader(control, bytes, (h) => (head = h)),
    // Innermost of the deserialize step: the raw answer, before the SDK wraps or parses it.
    { step: 'deserialize', priority: 'low', name: 'trawlHeadReader' },
  );
  await sdk.send(command, { abortSignal: control.abortSignal });
  if (!head) throw new ListingXmlError('the answer was not read');
  return head;
}

/** The part of the SDK's S3Client and ListObjectsV2Command these helpers use. */
export interface SdkClient {
  send(command: unknown, options: { abortSignal: AbortSignal }): Promise<unknown>;
}
export interface SdkCommand {
  middlewareStack: {
    addRelativeTo(
      middleware: (next: Handler) => Handler,
      options: { relation: 'after'; toMiddleware: string; name: string },
    ): void;
    add(
      middleware: (next: Handler) => Handler,
      options: { step: 'deserialize'; priority: 'low'; name: string },
    ): void;
  };
}

/** Sends one ListObjectsV2 command with {@link answerReader} in place; the answer as read. */
export async function sendListObjects(
  sdk: SdkClient,
  command: SdkCommand,
  control: RequestControl,
): Promise<ListPage> {
  let page: ListPage | undefined;
  command.middlewareStack.addRelativeTo(
    answerReader(control, (p) => (page = p)),
    // Inside the S3 middleware that would collect a 2xx body whole: this one reads it first.
    { relation: 'after', toMiddleware: 'throw200ExceptionsMiddleware', name: 'trawlAnswerReader' },
  );
  await sdk.send(command, { abortSignal: control.abortSignal });
  if (!page) throw new ListingXmlError('the answer was not read');
  return page;
}
