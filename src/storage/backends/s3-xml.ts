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

/** A reference, or a `&` that starts none (group 4): the text is then not well-formed. */
const ENTITY = /&(?:#x([0-9a-fA-F]{1,6});|#([0-9]{1,7});|(lt|gt|amp|quot|apos);)|(&)/g;
const NAMED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** XML text with its entity and character references replaced; undefined when one is malformed. */
export function decodeXmlText(text: string): string | undefined {
  if (!text.includes('&')) return text;
  let bad = false;
  const out = text.replace(
    ENTITY,
    (_m, hex: string | undefined, dec: string | undefined, name: string | undefined) => {
      if (name !== undefined) return NAMED[name]!;
      const cp = hex !== undefined ? parseInt(hex, 16) : dec !== undefined ? Number(dec) : -1;
      if (cp < 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        bad = true;
        return '';
      }
      return String.fromCodePoint(cp);
    },
  );
  return bad ? undefined : out;
}

function localName(qname: string): string {
  const colon = qname.indexOf(':');
  return colon < 0 ? qname : qname.slice(colon + 1);
}

export class ListingXmlReader {
  #buf = '';
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
      if (lt > pos) this.#onText(buf.slice(pos, lt));
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
    if (this.#buf.trim() !== '') this.#onText(this.#buf);
    this.#buf = '';
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
    if (buf.startsWith('<!--', lt)) return after(buf.indexOf('-->', lt + 4), 3);
    if (buf.startsWith('<![CDATA[', lt)) return after(buf.indexOf(']]>', lt + 9), 3);
    if (buf.startsWith('<?', lt)) return after(buf.indexOf('?>', lt + 2), 2);
    if (buf.startsWith('<!', lt)) {
      const rest = buf.slice(lt, lt + 9);
      if (rest.length < 9 && ('<!--'.startsWith(rest) || '<![CDATA['.startsWith(rest))) return -1;
      // DOCTYPE and ENTITY declarations: an S3 answer has none, and entity expansion is a
      // classic way to make a parser allocate without bound.
      throw new ListingXmlError('the answer has a DOCTYPE or other declaration');
    }
    // A tag: its end is the first `>` outside a quoted attribute value.
    let i = lt + 1;
    for (;;) {
      const gt = buf.indexOf('>', i);
      if (gt < 0) return -1;
      const dq = buf.indexOf('"', i);
      const sq = buf.indexOf("'", i);
      const q = dq < 0 ? sq : sq < 0 ? dq : Math.min(dq, sq);
      if (q < 0 || q > gt) return gt + 1;
      const close = buf.indexOf(buf[q]!, q + 1);
      if (close < 0) return -1;
      i = close + 1;
    }
  }

  #onMarkup(buf: string, lt: number, end: number): void {
    const c = buf.charCodeAt(lt + 1);
    if (c === 0x21 /* ! */) {
      if (buf.startsWith('<![CDATA[', lt)) this.#onText(buf.slice(lt + 9, end - 3), true);
      return; // a comment
    }
    if (c === 0x3f /* ? */) return; // a processing instruction (`<?xml …?>`)
    if (c === 0x2f /* / */) {
      this.#onClose(localName(buf.slice(lt + 2, end - 1).trim()));
      return;
    }
    const inner = buf.slice(lt + 1, end - 1);
    const name = /^[^\s/>]+/.exec(inner)?.[0];
    if (!name) throw new ListingXmlError(`a malformed tag ${JSON.stringify(inner.slice(0, 40))}`);
    const local = localName(name);
    this.#onOpen(local);
    if (inner.endsWith('/')) this.#onClose(local);
  }

  #onOpen(name: string): void {
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
    this.#stack.push(name);
    this.#text = '';
    this.#textBad = false;
  }

  #onClose(name: string): void {
    const open = this.#stack.pop();
    if (open !== name) {
      throw new ListingXmlError(
        open === undefined ? `a stray </${name}>` : `</${name}> closes <${open}>`,
      );
    }
    const depth = this.#stack.length;
    const value = this.#textBad ? undefined : this.#text;
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

  #onText(raw: string, cdata = false): void {
    const depth = this.#stack.length;
    if (depth === 0 || this.#done) {
      if (raw.trim() !== '') throw new ListingXmlError('text outside the document element');
      return;
    }
    // Only values of the root's children and of an object's or prefix's fields are kept.
    if (depth > 3) return;
    const text = cdata ? raw : decodeXmlText(raw);
    if (text === undefined) {
      this.#textBad = true;
      return;
    }
    this.#text += text;
    if (this.#text.length > MAX_PENDING) {
      throw new ListingXmlError(`a value longer than ${MAX_PENDING} characters`);
    }
  }
}

function after(index: number, length: number): number {
  return index < 0 ? -1 : index + length;
}
