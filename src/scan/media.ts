/**
 * Media kind by file extension. Downstream work (thumbnails, tags) keys off it.
 *
 * `.ts` and `.mts` name both MPEG transport streams (broadcast recordings, HLS segments,
 * AVCHD camera files) and TypeScript sources: the name alone cannot tell, so
 * {@link mediaKindOf} leaves them to the scan, which reads their first bytes or weighs their
 * directory (see `media-classify.ts` and docs/media-kinds.md).
 */
export type MediaKind = 'video' | 'audio' | 'image' | 'subtitle';

const KINDS: Record<MediaKind, string[]> = {
  video: [
    '3gp',
    'asf',
    'avi',
    'divx',
    'flv',
    'm2ts',
    'm4v',
    'mkv',
    'mov',
    'mp4',
    'mpeg',
    'mpg',
    'mts',
    'ogv',
    'rm',
    'rmvb',
    'ts',
    'vob',
    'webm',
    'wmv',
  ],
  audio: [
    'aac',
    'aif',
    'aiff',
    'alac',
    'ape',
    'dsf',
    'flac',
    'm4a',
    'm4b',
    'mka',
    'mp3',
    'oga',
    'ogg',
    'opus',
    'wav',
    'wma',
    'wv',
  ],
  image: [
    'arw',
    'avif',
    'bmp',
    'cr2',
    'cr3',
    'dng',
    'gif',
    'heic',
    'heif',
    'jpeg',
    'jpg',
    'jxl',
    'nef',
    'orf',
    'png',
    'raf',
    'rw2',
    'svg',
    'tif',
    'tiff',
    'webp',
  ],
  subtitle: ['ass', 'idx', 'lrc', 'sbv', 'srt', 'ssa', 'sub', 'sup', 'vtt'],
};

/**
 * Every kind an entry can have (and null): PostgreSQL's walk of a tenant in name order merges
 * one walk per kind (db/queries/by-name.ts), so a kind missing here would go unsearched.
 */
export const MEDIA_KINDS = Object.keys(KINDS) as readonly MediaKind[];

/** The extension table as text: a listing digest's salt (listing-digest.ts) changes with it. */
export const MEDIA_TABLE: string = JSON.stringify(KINDS);

/**
 * Extensions as numbers: each character of `[0-9a-z]` (either case) is a digit of base 37,
 * so a name's extension is looked up without cutting and lower-casing it into a new string.
 * A scan asks twice per file (ambiguous? which kind?): the two strings were ~18 MB of a
 * 200,000-file dry run's 330 MB of garbage (heap sampling, docs/benchmarks.md).
 */
const MAX_EXT = 5; // 37^5 < 2^31: a key is a small integer
/** No extension, or one no kind lists (too long, or a character outside `[0-9a-z]`). */
const NO_KEY = -1;
const DOT = 46;

/** The key of the extension of the name from `start` to `end` of `s` (a whole name by default). */
function extensionKey(s: string, start = 0, end = s.length): number {
  // The dot is looked for among the last MAX_EXT + 1 characters only: one further back makes
  // an extension longer than MAX_EXT, which has no key either way. `lastIndexOf` searched back
  // through every name before a name without a dot in joined names, a packed listing's: a
  // listing of 2,048 such names (hashes, a cache's files) took ~190 ms a pass instead of ~1.
  let dot = end - 1;
  for (const from = Math.max(start, end - 1 - MAX_EXT); dot >= from; dot--) {
    if (s.charCodeAt(dot) === DOT) break;
  }
  // No extension: `README`, `.profile`, `name.`, or one too long to be listed
  if (dot <= start || dot === end - 1 || end - dot - 1 > MAX_EXT) return NO_KEY;
  let key = 0;
  for (let i = dot + 1; i < end; i++) {
    const c = s.charCodeAt(i);
    let digit: number;
    if (c >= 48 && c <= 57)
      digit = c - 47; // 0-9: 1-10
    else if (c >= 97 && c <= 122)
      digit = c - 86; // a-z: 11-36
    else if (c >= 65 && c <= 90)
      digit = c - 54; // A-Z as a-z
    // Beyond ASCII, lower-cased as before: the Kelvin sign `K` lower-cases to `k`.
    else if (c >= 128) return lowerKey(s.slice(dot + 1, end).toLowerCase());
    else return NO_KEY;
    key = key * 37 + digit;
  }
  return key;
}

function lowerKey(ext: string): number {
  return ext.length <= MAX_EXT && /^[0-9a-z]+$/.test(ext) ? extensionKey(`x.${ext}`) : NO_KEY;
}

const BY_EXTENSION = new Map<number, MediaKind>();
for (const [kind, extensions] of Object.entries(KINDS) as [MediaKind, string[]][]) {
  for (const ext of extensions) {
    const key = extensionKey(`x.${ext}`);
    if (key === NO_KEY) throw new Error(`media extension ${ext} has no key`);
    BY_EXTENSION.set(key, kind);
  }
}

/** Extensions that are video or TypeScript: decided per file by `classifyListing`. */
const TS = extensionKey('x.ts');
const MTS = extensionKey('x.mts');

/** A TypeScript declaration file (`.d.ts`, `.d.mts`): never video, whatever its bytes. */
const DECLARATION = /\.d\.[cm]?ts$/i;

/** True for a TypeScript declaration file (`.d.ts`, `.d.mts`, `.d.cts`). */
export function isDeclarationFile(name: string): boolean {
  return DECLARATION.test(name);
}

/** The kind the name alone tells; null for no media and for an ambiguous name ({@link isAmbiguousMedia}). */
export function mediaKindOf(name: string): MediaKind | null {
  const key = extensionKey(name);
  if (key === NO_KEY || key === TS || key === MTS) return null;
  return BY_EXTENSION.get(key) ?? null;
}

/**
 * {@link mediaKindOf} of the name from `start` to `end` of `s` (joined names, a packed
 * listing's), without cutting it out.
 */
export function mediaKindIn(s: string, start: number, end: number): MediaKind | null {
  const key = extensionKey(s, start, end);
  if (key === NO_KEY || key === TS || key === MTS) return null;
  return BY_EXTENSION.get(key) ?? null;
}

/** {@link isAmbiguousMedia} of the name from `start` to `end` of `s`. */
export function isAmbiguousMediaIn(s: string, start: number, end: number): boolean {
  const key = extensionKey(s, start, end);
  return (key === TS || key === MTS) && !DECLARATION.test(s.slice(start, end));
}

/** True for a name that may be video or TypeScript (`.ts`, `.mts`, but not `.d.ts`). */
export function isAmbiguousMedia(name: string): boolean {
  const key = extensionKey(name);
  return (key === TS || key === MTS) && !DECLARATION.test(name);
}

/** `mediaFiles` counts these: subtitles are media-adjacent, not media. */
export function isCountedMedia(kind: MediaKind | null): boolean {
  return kind === 'video' || kind === 'audio' || kind === 'image';
}
