import { describe, expect, it } from 'vitest';
import { compareKeys, parseS3Time } from '../src/storage/backends/s3-listing.js';
import {
  decodeXmlText,
  ListingXmlError,
  ListingXmlReader,
  type ListPage,
} from '../src/storage/backends/s3-xml.js';

function read(...chunks: string[]) {
  const reader = new ListingXmlReader();
  for (const c of chunks) reader.write(c);
  return reader.end();
}

function page(...chunks: string[]): ListPage {
  const doc = read(...chunks);
  if (!('page' in doc)) throw new Error('not a listing');
  return doc.page;
}

const DOC =
  '<?xml version="1.0" encoding="UTF-8"?>\n' +
  '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
  '<Name>b</Name><Prefix>p/</Prefix><KeyCount>3</KeyCount><MaxKeys>1000</MaxKeys>' +
  '<IsTruncated>true</IsTruncated>' +
  '<Contents><Key> a &amp; b&#x2F;&#233;</Key><LastModified>2023-11-14T22:13:20.000Z</LastModified>' +
  '<ETag>&quot;x&quot;</ETag><Size>12</Size><Owner><ID>o</ID><DisplayName>d</DisplayName></Owner>' +
  '<StorageClass>STANDARD</StorageClass></Contents>' +
  '<!-- a comment --><Contents><Key><![CDATA[c<d]]></Key><Size>1e+23</Size></Contents>' +
  '<CommonPrefixes><Prefix>p/q/</Prefix></CommonPrefixes>' +
  "<NextContinuationToken a='>'>tok/en=</NextContinuationToken>" +
  '</ListBucketResult>\n';

describe('ListingXmlReader', () => {
  it('reads keys, sizes, times, tokens and prefixes as written, whatever the chunking', () => {
    const whole = page(DOC);
    expect(whole).toEqual({
      objects: [
        {
          key: ' a & b/é',
          size: '12',
          lastModified: '2023-11-14T22:13:20.000Z',
          etag: '"x"',
        },
        { key: 'c<d', size: '1e+23', lastModified: undefined, etag: undefined },
      ],
      prefixes: ['p/q/'],
      isTruncated: 'true',
      nextToken: 'tok/en=',
      encodingType: undefined,
    });
    for (let cut = 1; cut < DOC.length; cut++) {
      expect(page(DOC.slice(0, cut), DOC.slice(cut))).toEqual(whole);
    }
    for (let size = 1; size <= 7; size++) {
      const chunks: string[] = [];
      for (let i = 0; i < DOC.length; i += size) chunks.push(DOC.slice(i, i + size));
      expect(page(...chunks)).toEqual(whole);
    }
  });

  it('takes namespace prefixes and self-closing elements', () => {
    const p = page(
      '<s3:ListBucketResult xmlns:s3="x"><s3:IsTruncated>false</s3:IsTruncated>' +
        '<s3:Contents><s3:Key>k</s3:Key><s3:ETag/></s3:Contents></s3:ListBucketResult>',
    );
    expect(p.objects).toEqual([{ key: 'k', size: undefined, lastModified: undefined, etag: '' }]);
  });

  it('makes an object whose key is unreadable or given twice an unreadable entry, not a failure', () => {
    const p = page(
      '<ListBucketResult><IsTruncated>false</IsTruncated>' +
        '<Contents><Key>a&bogus;</Key><Size>1</Size></Contents>' +
        '<Contents><Key>x</Key><Key>y</Key></Contents>' +
        '<Contents><Key>&#xD800;</Key></Contents>' +
        '<Contents><Key>ok</Key></Contents></ListBucketResult>',
    );
    expect(p.objects.map((o) => o.key)).toEqual([undefined, undefined, undefined, 'ok']);
  });

  it('reads an <Error> document', () => {
    expect(read('<Error><Code>SlowDown</Code><Message>m</Message></Error>')).toEqual({
      error: { code: 'SlowDown', message: 'm' },
    });
  });

  it.each([
    ['', /no XML document/],
    ['<ListBucketResult><IsTruncated>false</IsTruncated>', /ended before/],
    ['<ListBucketResult></Contents>', /closes <ListBucketResult>/],
    ['<Html><Body/></Html>', /not a ListBucketResult/],
    ['<!DOCTYPE x [<!ENTITY a "aaaa">]><ListBucketResult/>', /DOCTYPE/],
    ['<ListBucketResult/><ListBucketResult/>', /after the document's end/],
    ['junk<ListBucketResult/>', /text outside/],
    [`<ListBucketResult><Name>${'x'.repeat(300_000)}`, /longer than/],
  ])('refuses %j', (doc, why) => {
    expect(() => read(doc)).toThrow(ListingXmlError);
    expect(() => read(doc)).toThrow(why);
  });

  it('decodes references, and says so when one is malformed', () => {
    expect(decodeXmlText('a&lt;b&gt;&apos;&#65;&#x42;')).toBe("a<b>'AB");
    expect(decodeXmlText('a & b')).toBeUndefined();
    expect(decodeXmlText('&#x110000;')).toBeUndefined();
    expect(decodeXmlText('&#0;')).toBe('\0'); // read, then refused as a name by the pager
  });
});

describe('S3 keys and times', () => {
  it('orders keys by UTF-8 bytes, as S3 does', () => {
    const keys = ['a/', 'a', 'a!x', '\u{1F600}', '\uFFFD', 'a.txt', 'b'];
    const bytes = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect([...keys].sort(compareKeys)).toEqual(bytes);
  });

  it.each([
    ['2023-11-14T22:13:20.000Z', 1_700_000_000_000],
    ['2023-11-14T22:13:20Z', 1_700_000_000_000],
    ['2023-11-15T00:13:20.000+02:00', 1_700_000_000_000],
    ['2023-11-14T22:13:20.123456Z', 1_700_000_000_123],
    ['garbage', undefined],
    ['', undefined],
    ['1700000000', undefined],
    ['2023-13-45T99:99:99Z', undefined],
    ['+099999-01-01T00:00:00Z', undefined],
  ])('reads LastModified %j as %s', (text, ms) => {
    expect(parseS3Time(text)).toBe(ms);
  });
});
