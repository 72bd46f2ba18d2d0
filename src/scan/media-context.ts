import type { Entry } from '../storage/types.js';
import { isAmbiguousMedia, isDeclarationFile, mediaKindOf } from './media.js';
import { MIN_STREAM_BYTES } from './media-probe.js';

/**
 * Whether a `.ts` / `.mts` file is video, judged from its directory's listing where its bytes
 * cannot be read cheaply (remote storages). Each clue scores; video when the sum is above 0,
 * so with no clue at all a file is TypeScript. The clues and why (docs/media-kinds.md):
 *
 * | clue | score |
 * |---|---|
 * | a path segment `node_modules` | always TypeScript |
 * | smaller than two transport packets (377 bytes) | never video |
 * | a sibling that is code: `package.json`, `tsconfig*.json`, `.js` `.mjs` `.cjs` `.jsx` `.tsx` `.cts` `.map`, a `.d.ts` | −2 |
 * | a path segment `src` | −2 |
 * | a sibling that is video or subtitles (`.mkv`, `.mp4`, `.m2ts`, `.srt`…), or a playlist (`.m3u8`, `.m3u`, `.mpd`) | +2 |
 * | a path segment `BDMV` (Blu-ray / AVCHD layout) | +2 |
 * | the file is under 64 KiB (0.05 s of HD video; most sources are smaller) | −1 |
 * | the file is 1 MiB or more (few sources are; a 10 s HLS segment is) | +1 |
 * | its size is a whole number of 188- or 192-byte packets | +1 |
 *
 * A paged listing is judged a page at a time: the siblings are the page's.
 */
export function videoByContext(dir: string, entries: readonly Entry[]): Set<string> {
  const video = new Set<string>();
  let candidates = 0;
  for (const e of entries) if (!e.isDir && !e.skip && isAmbiguousMedia(e.name)) candidates++;
  if (candidates === 0) return video;
  const segments = dir.toLowerCase().split('/');
  if (segments.includes('node_modules')) return video;
  let shared = 0;
  if (segments.includes('src')) shared -= 2;
  if (segments.includes('bdmv')) shared += 2;
  const siblings = siblingClues(entries);
  if (siblings.code) shared -= 2;
  if (siblings.media) shared += 2;
  for (const e of entries) {
    if (e.isDir || e.skip || !isAmbiguousMedia(e.name)) continue;
    if (e.size < MIN_STREAM_BYTES) continue;
    let score = shared;
    if (e.size < 64 * 1024) score -= 1;
    if (e.size >= 1024 * 1024) score += 1;
    if (e.size % 188 === 0 || e.size % 192 === 0) score += 1;
    if (score > 0) video.add(e.path);
  }
  return video;
}

const CODE_EXTENSIONS = new Set(['js', 'mjs', 'cjs', 'jsx', 'tsx', 'cts', 'map']);
const CODE_NAMES = /^(package\.json|tsconfig(\..+)?\.json|jsconfig\.json|deno\.jsonc?)$/i;
const PLAYLISTS = new Set(['m3u8', 'm3u', 'mpd']);

function siblingClues(entries: readonly Entry[]): { code: boolean; media: boolean } {
  let code = false;
  let media = false;
  for (const e of entries) {
    if (e.isDir || e.skip) continue;
    const name = e.name;
    const dot = name.lastIndexOf('.');
    const ext = dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
    if (CODE_EXTENSIONS.has(ext) || CODE_NAMES.test(name) || isDeclarationFile(name)) {
      code = true;
    } else if (PLAYLISTS.has(ext)) media = true;
    else {
      const kind = mediaKindOf(name);
      if (kind === 'video' || kind === 'subtitle') media = true;
    }
    if (code && media) break;
  }
  return { code, media };
}
