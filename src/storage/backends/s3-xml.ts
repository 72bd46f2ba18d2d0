/**
 * A small streaming reader for the one document trawl reads from S3: the ListBucketResult
 * of a ListObjectsV2 answer, fed chunk by chunk as it arrives.
 *
 * Why not the SDK's deserializer (measured on @aws-sdk/client-s3 3.1175): it turns a Size
 * of `1e+23`, `1.5` or `-5` into that number and an empty Size into 0, and it fails the
 * whole page — good entries and continuation token with it — on one LastModified it cannot
 * parse, so one bad object would hide a directory. This reader keeps every value as the
 * server wrote it, for the backend to judge one entry at a time, and never holds more of
 * the body than one unfinished tag or value.
 *
 * It is strict where a mistake could hide entries (a document that ends early, tags that do
 * not match, a DOCTYPE) and lenient about what it does not need (namespaces, attributes,
 * elements it does not know).
 */

/** One `<Contents>`: every field as the server wrote it, undefined when absent or unreadable. */
export interface ListedObject {
  key: string | undefined;
  size: string | undefined;
  lastModified: string | undefined;
  etag: string | undefined;
}

/** One ListObjectsV2 answer, as read. */
export interface ListPage {
  objects: ListedObject[];
  /** `<CommonPrefixes><Prefix>`; undefined when one could not be read. */
  prefixes: Array<string | undefined>;
  /** `<IsTruncated>` as written. */
  isTruncated: string | undefined;
  nextToken: string | undefined;
  /** `url` when the server URL-encoded keys and prefixes. */
  encodingType: string | undefined;
}

/** An `<Error>` document sent with a 2xx status. */
export interface ErrorDocument {
  code: string | undefined;
  message: string | undefined;
}

/** The answer is not a readable ListBucketResult; the backend's error mapping names it PROTOCOL. */
export class ListingXmlError extends Error {
  override name = 'ListingXmlError';
}

/** Longest value or tag held while waiting for its end: S3 keys stop at 1,024 bytes. */
const MAX_PENDING = 256 * 1024;
/** Nesting deeper than any S3 answer has. */
const MAX_DEPTH = 16;

const NAMED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** XML text with its entity and character references replaced; undefined when one is malformed. */
export function decodeXmlText(text: string): string | undefined {
  let amp = text.indexOf('&');
  if (amp < 0) return text;
  let out = '';
  let from = 0;
  while (amp >= 0) {
    const semi = text.indexOf(';', amp + 1);
    if (semi < 0 || semi - amp > 10) return undefined;
    const ref = text.slice(amp + 1, semi);
    let ch = NAMED[ref];
    if (ch === undefined) {
      const hex = /^#x[0-9a-fA-F]{1,6}$/.test(ref);
      if (!hex && !/^#[0-9]{1,7}$/.test(ref)) return undefined;
      const cp = hex ? parseInt(ref.slice(2), 16) : Number(ref.slice(1));
      if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return undefined;
      ch = String.fromCodePoint(cp);
    }
    out += text.slice(from, amp) + ch;
    from = semi + 1;
    amp = text.indexOf('&', from);
  }
  return out + text.slice(from);
}

function localName(qname: string): string {
  const colon = qname.indexOf(':');
  return colon < 0 ? qname : qname.slice(colon + 1);
}

export class ListingXmlReader {
  #buf = '';
  /** Open elements' names as written (to match closing tags) and without namespace prefix. */
  readonly #qnames: string[] = [];
  readonly #stack: string[] = [];
  /** Text of the element being read, when it is one whose value is kept. */
  #text = '';
  #textBad = false;
  #done = false;
  #root: 'ListBucketResult' | 'Error' | undefined;
  #object: ListedObject | undefined;
  #objectBroken = false;
  #prefix: { value: string | undefined } | undefined;
  readonly #page: ListPage = {
    objects: [],
    prefixes: [],
    isTruncated: undefined,
    nextToken: undefined,
    encodingType: undefined,
  };
  readonly #error: ErrorDocument = { code: undefined, message: undefined };

  /** Reads the next piece of the document (already decoded from UTF-8). */
  write(chunk: string): void {
    const buf = this.#buf.length > 0 ? this.#buf + chunk : chunk;
    let pos = 0;
    for (;;) {
      const lt = buf.indexOf('<', pos);
      if (lt < 0) break;
      if (lt > pos) this.#onText(buf, pos, lt);
      pos = lt;
      const end = this.#markupEnd(buf, lt);
      if (end < 0) break;
      this.#onMarkup(buf, lt, end);
      pos = end;
    }
    this.#buf = pos === 0 ? buf : buf.slice(pos);
    if (this.#buf.length > MAX_PENDING) {
      throw new ListingXmlError(`a value or tag longer than ${MAX_PENDING} characters`);
    }
  }

  /** The document is over: its listing, or the `<Error>` it carried. Throws when it is not whole. */
  end(): { page: ListPage } | { error: ErrorDocument } {
    const rest = this.#buf;
    this.#buf = '';
    if (rest.length > 0) this.#onText(rest, 0, rest.length);
    if (!this.#done) {
      throw new ListingXmlError(
        this.#root === undefined
          ? 'the answer holds no XML document'
          : `the answer ended before </${this.#root}>`,
      );
    }
    return this.#root === 'Error' ? { error: this.#error } : { page: this.#page };
  }

  #markupEnd(buf: string, lt: number): number {
    const c = buf.charCodeAt(lt + 1);
    if (c === 0x21 /* ! */) {
      if (buf.startsWith('<!--', lt)) return after(buf.indexOf('-->', lt + 4), 3);
      if (buf.startsWith('<![CDATA[', lt)) return after(buf.indexOf(']]>', lt + 9), 3);
      const rest = buf.slice(lt, lt + 9);
      if (rest.length < 9 && ('<!--'.startsWith(rest) || '<![CDATA['.startsWith(rest))) return -1;
      // DOCTYPE and ENTITY declarations: an S3 answer has none, and entity expansion is a
      // classic way to make a parser allocate without bound.
      throw new ListingXmlError('the answer has a DOCTYPE or other declaration');
    }
    if (c === 0x3f /* ? */) return after(buf.indexOf('?>', lt + 2), 2);
    // A tag: its end is the first `>` outside a quoted attribute value. Quotes are looked
    // for only up to that `>` (searching the rest of the chunk for each tag is quadratic).
    let i = lt + 1;
    for (;;) {
      const gt = buf.indexOf('>', i);
      if (gt < 0) return -1;
      let q = i;
      while (q < gt && buf.charCodeAt(q) !== 0x22 && buf.charCodeAt(q) !== 0x27) q++;
      if (q === gt) return gt + 1;
      const close = buf.indexOf(buf[q]!, q + 1);
      if (close < 0) return -1;
      i = close + 1;
    }
  }

  #onMarkup(buf: string, lt: number, end: number): void {
    const c = buf.charCodeAt(lt + 1);
    if (c === 0x21 /* ! */) {
      if (buf.startsWith('<![CDATA[', lt)) this.#onText(buf, lt + 9, end - 3, true);
      return; // a comment
    }
    if (c === 0x3f /* ? */) return; // a processing instruction (`<?xml …?>`)
    if (c === 0x2f /* / */) {
      // A closing tag must name the open element exactly (no slice on the hot path).
      const open = this.#qnames[this.#qnames.length - 1];
      if (
        open === undefined ||
        !buf.startsWith(open, lt + 2) ||
        !blank(buf, lt + 2 + open.length, end - 1)
      ) {
        const name = buf.slice(lt + 2, end - 1).trim();
        throw new ListingXmlError(
          open === undefined ? `a stray </${name}>` : `</${name}> closes <${open}>`,
        );
      }
      this.#onClose();
      return;
    }
    let k = lt + 1;
    while (k < end - 1) {
      const ch = buf.charCodeAt(k);
      if (ch === 0x20 || ch === 0x09 || ch === 0x0a || ch === 0x0d || ch === 0x2f) break;
      k++;
    }
    if (k === lt + 1) {
      throw new ListingXmlError(`a malformed tag ${JSON.stringify(buf.slice(lt, lt + 40))}`);
    }
    this.#onOpen(buf.slice(lt + 1, k));
    if (buf.charCodeAt(end - 2) === 0x2f /* / */) this.#onClose();
  }

  #onOpen(qname: string): void {
    const name = localName(qname);
    const depth = this.#stack.length;
    if (this.#done) throw new ListingXmlError(`an element <${name}> after the document's end`);
    if (depth >= MAX_DEPTH) throw new ListingXmlError(`elements nested deeper than ${MAX_DEPTH}`);
    if (depth === 0) {
      if (name !== 'ListBucketResult' && name !== 'Error') {
        throw new ListingXmlError(`the document is a <${name}>, not a ListBucketResult`);
      }
      this.#root = name;
    } else if (depth === 1 && this.#root === 'ListBucketResult') {
      if (name === 'Contents') {
        this.#object = {
          key: undefined,
          size: undefined,
          lastModified: undefined,
          etag: undefined,
        };
        this.#objectBroken = false;
      } else if (name === 'CommonPrefixes') {
        this.#prefix = { value: undefined };
      }
    }
    this.#qnames.push(qname);
    this.#stack.push(name);
    this.#text = '';
    this.#textBad = false;
  }

  #onClose(): void {
    this.#qnames.pop();
    const name = this.#stack.pop()!;
    const depth = this.#stack.length;
    const value = this.#textBad ? undefined : own(this.#text);
    this.#text = '';
    this.#textBad = false;
    if (depth === 0) {
      this.#done = true;
      return;
    }
    const parent = this.#stack[depth - 1];
    if (this.#root === 'Error') {
      if (depth === 1 && name === 'Code') this.#error.code = value;
      if (depth === 1 && name === 'Message') this.#error.message = value;
      return;
    }
    if (depth === 1) {
      if (name === 'Contents' && this.#object) {
        // An object with a field given twice cannot be read: which one is true?
        if (this.#objectBroken) this.#object.key = undefined;
        this.#page.objects.push(this.#object);
        this.#object = undefined;
      } else if (name === 'CommonPrefixes' && this.#prefix) {
        this.#page.prefixes.push(this.#prefix.value);
        this.#prefix = undefined;
      } else if (name === 'IsTruncated') this.#page.isTruncated = value;
      else if (name === 'NextContinuationToken') this.#page.nextToken = value;
      else if (name === 'EncodingType') this.#page.encodingType = value;
      return;
    }
    if (depth === 2 && parent === 'Contents' && this.#object) {
      const o = this.#object;
      const field =
        name === 'Key'
          ? 'key'
          : name === 'Size'
            ? 'size'
            : name === 'LastModified'
              ? 'lastModified'
              : name === 'ETag'
                ? 'etag'
                : undefined;
      if (field === undefined) return;
      if (o[field] !== undefined) this.#objectBroken = true;
      o[field] = value;
      if (value === undefined && field === 'key') this.#objectBroken = true;
    } else if (depth === 2 && parent === 'CommonPrefixes' && name === 'Prefix' && this.#prefix) {
      this.#prefix.value = value;
    }
  }

  #onText(buf: string, from: number, to: number, cdata = false): void {
    const depth = this.#stack.length;
    if (depth === 0 || this.#done) {
      if (!blank(buf, from, to)) throw new ListingXmlError('text outside the document element');
      return;
    }
    // Only values of the root's children and of an object's or prefix's fields are kept.
    if (depth > 3) return;
    const raw = buf.slice(from, to);
    const text = cdata ? raw : decodeXmlText(raw);
    if (text === undefined) {
      this.#textBad = true;
      return;
    }
    this.#text = this.#text.length === 0 ? text : this.#text + text;
    if (this.#text.length > MAX_PENDING) {
      throw new ListingXmlError(`a value longer than ${MAX_PENDING} characters`);
    }
  }
}

/**
 * A copy of `text` that does not keep the chunk it was cut from alive. V8 makes a slice of
 * 13 characters or more a view into its parent string: a key or continuation token kept
 * for long (a page waiting for the database, the tokens a listing remembers) would hold the
 * whole 64 KB chunk it came from — measured: 28 MB after 400 answers, growing with the
 * listing. Concatenating flattens into a new string; the slice of that holds only the copy.
 */
function own(text: string): string {
  return text.length < 13 ? text : (' ' + text).slice(1);
}

/** Whether `buf[from, to)` is XML white space only. */
function blank(buf: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = buf.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return false;
  }
  return true;
}

function after(index: number, length: number): number {
  return index < 0 ? -1 : index + length;
}
