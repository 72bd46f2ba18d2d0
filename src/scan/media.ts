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

const BY_EXTENSION = new Map<string, MediaKind>();
for (const [kind, extensions] of Object.entries(KINDS) as [MediaKind, string[]][]) {
  for (const ext of extensions) BY_EXTENSION.set(ext, kind);
}

/** Extensions that are video or TypeScript: decided per file by `classifyListing`. */
const AMBIGUOUS = new Set(['ts', 'mts']);

/** A TypeScript declaration file (`.d.ts`, `.d.mts`): never video, whatever its bytes. */
const DECLARATION = /\.d\.[cm]?ts$/i;

/** True for a TypeScript declaration file (`.d.ts`, `.d.mts`, `.d.cts`). */
export function isDeclarationFile(name: string): boolean {
  return DECLARATION.test(name);
}

/** The lower-cased extension, or undefined for none (`README`, `.profile`, `name.`). */
function extensionOf(name: string): string | undefined {
  const dot = name.lastIndexOf('.');
  if (dot <= 0 || dot === name.length - 1) return undefined;
  return name.slice(dot + 1).toLowerCase();
}

/** The kind the name alone tells; null for no media and for an ambiguous name ({@link isAmbiguousMedia}). */
export function mediaKindOf(name: string): MediaKind | null {
  const ext = extensionOf(name);
  if (ext === undefined || AMBIGUOUS.has(ext)) return null;
  return BY_EXTENSION.get(ext) ?? null;
}

/** True for a name that may be video or TypeScript (`.ts`, `.mts`, but not `.d.ts`). */
export function isAmbiguousMedia(name: string): boolean {
  const ext = extensionOf(name);
  return ext !== undefined && AMBIGUOUS.has(ext) && !DECLARATION.test(name);
}

/** `mediaFiles` counts these: subtitles are media-adjacent, not media. */
export function isCountedMedia(kind: MediaKind | null): boolean {
  return kind === 'video' || kind === 'audio' || kind === 'image';
}
