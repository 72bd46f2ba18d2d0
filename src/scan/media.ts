/** Media kind by file extension. Downstream work (thumbnails, tags) keys off it. */
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

const BY_EXTENSION = new Map<string, MediaKind>();
for (const [kind, extensions] of Object.entries(KINDS) as [MediaKind, string[]][]) {
  for (const ext of extensions) BY_EXTENSION.set(ext, kind);
}

export function mediaKindOf(name: string): MediaKind | null {
  const dot = name.lastIndexOf('.');
  if (dot <= 0 || dot === name.length - 1) return null;
  return BY_EXTENSION.get(name.slice(dot + 1).toLowerCase()) ?? null;
}

/** `mediaFiles` counts these: subtitles are media-adjacent, not media. */
export function isCountedMedia(kind: MediaKind | null): boolean {
  return kind === 'video' || kind === 'audio' || kind === 'image';
}
