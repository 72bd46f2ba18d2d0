/**
 * Whether the first bytes of a file are an MPEG transport stream: the one cheap, exact test
 * that tells a `.ts` video from a TypeScript source where the storage can read a few bytes.
 *
 * A transport stream is a run of fixed-size packets, each opening with the sync byte 0x47:
 * 188-byte packets in broadcast recordings and HLS segments, and 192-byte packets (a 4-byte
 * timecode, then the 188-byte packet) in Blu-ray and AVCHD files — the `.MTS` a camera
 * writes. So three sync bytes at 0, 188, 376 (or at 4, 196, 388) say "stream". A source
 * file starting `G…` could match by chance, so the head must also hold a control byte, which
 * packet headers and compressed payloads always do (a null packet's PID byte is 0x1f; a
 * payload of 368 random bytes lacks all 22 control values with odds of 1 in 10^14) and
 * UTF-8 source text never does.
 */

/** Bytes read from a file's start: three sync bytes of the 192-byte layout (188 × 2 + 1 covers only the 188-byte one). */
export const PROBE_BYTES = 192 * 2 + 5;

/** Smaller files are not probed: two packets are the least a stream is made of. */
export const MIN_STREAM_BYTES = 188 * 2 + 1;

const SYNC = 0x47;

export function isTransportStream(head: Uint8Array): boolean {
  return (syncedAt(head, 0, 188) || syncedAt(head, 4, 192)) && hasControlByte(head);
}

/** Sync bytes at `first`, `first + stride`, `first + 2 × stride`, as far as the head reaches (at least two). */
function syncedAt(head: Uint8Array, first: number, stride: number): boolean {
  let seen = 0;
  for (let at = first; at < head.length && seen < 3; at += stride) {
    if (head[at] !== SYNC) return false;
    seen++;
  }
  return seen >= 2;
}

/** A byte below 0x20 other than tab, line feed, vertical tab, form feed and carriage return. */
function hasControlByte(head: Uint8Array): boolean {
  for (const b of head) if (b < 0x20 && (b < 0x09 || b > 0x0d)) return true;
  return false;
}
