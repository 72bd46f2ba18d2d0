/**
 * A minimal SMB 2.1 server on 127.0.0.1 that answers exactly what a test scripts: enough of
 * NEGOTIATE, SESSION_SETUP (any NTLM login is accepted), TREE_CONNECT, CREATE and CLOSE for
 * trawl's client, READ of files the test gives (honest, oversized or never answered), and
 * QUERY_DIRECTORY answers of the test's choosing — entries with any name,
 * size and time, raw bytes, an error status, an oversized message, or no answer at all. It
 * records what the client asked (`create /a`, `query /a 0`, `close /a`), so a test can check
 * that a listing stopped early closed its handle.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';

export const STATUS = {
  SUCCESS: 0,
  NO_MORE_FILES: 0x80000006,
  BUFFER_OVERFLOW: 0x80000005,
  END_OF_FILE: 0xc0000011,
  MORE_PROCESSING_REQUIRED: 0xc0000016,
  OBJECT_NAME_NOT_FOUND: 0xc0000034,
  ACCESS_DENIED: 0xc0000022,
} as const;

const ATTR_DIRECTORY = 0x10;
const ATTR_NORMAL = 0x80;
const FILETIME_UNIX_EPOCH = 116444736000000000n;

/** A FILETIME (100 ns ticks since 1601) for epoch seconds. */
export function fileTime(epochSeconds: number): bigint {
  return BigInt(epochSeconds) * 10_000_000n + FILETIME_UNIX_EPOCH;
}

/** One entry of a QUERY_DIRECTORY answer, fields exactly as sent. */
export interface SmbName {
  name: string;
  isDir?: boolean;
  /** EndOfFile: any 64-bit value. @default 1 */
  size?: bigint | number;
  /** LastWriteTime as a raw FILETIME. @default 2023-11-14 */
  writeTime?: bigint;
}

/** What one QUERY_DIRECTORY call is answered with. */
export type SmbAnswer =
  | SmbName[]
  /** The output buffer exactly as given (a malformed entry chain, say). */
  | Buffer
  /** STATUS_NO_MORE_FILES. */
  | 'end'
  /** No answer at all, ever. */
  | 'stall'
  /** A message header announcing 8 MiB. */
  | 'oversized'
  | { status: number };

/**
 * The answer to a directory's `call`-th QUERY_DIRECTORY (from 0), per opened handle, or a
 * promise of it. Paths are storage paths (`/`, `/a/b`); one the script does not know is
 * answered STATUS_OBJECT_NAME_NOT_FOUND at CREATE.
 */
export type SmbScript = (
  path: string,
) => ((call: number) => SmbAnswer | Promise<SmbAnswer>) | undefined;

/**
 * A file the server serves to READ: its bytes, and how it answers. `more` sends four times
 * what was asked (from the offset asked), `stall` never answers a READ.
 */
export interface SmbFile {
  body: Buffer;
  read?: 'more' | 'stall';
}

export interface HostileSmb {
  port: number;
  /** `smb://…` URL for this server (any user and password). */
  url: string;
  events: string[];
  /** Directories with a handle open right now. */
  openHandles(): string[];
  close(): Promise<void>;
}

export function smbFile(name: string, size: bigint | number = 1, seconds = 1_700_000_000): SmbName {
  return { name, size, writeTime: fileTime(seconds) };
}

export function smbDir(name: string, seconds = 1_700_000_000): SmbName {
  return { name, isDir: true, size: 0, writeTime: fileTime(seconds) };
}

/** `names` as QUERY_DIRECTORY answers of `per` entries each, then STATUS_NO_MORE_FILES. */
export function smbBatches(names: SmbName[], per = 400): (call: number) => SmbAnswer {
  return (call) => (call * per < names.length ? names.slice(call * per, call * per + per) : 'end');
}

/** FILE_ID_BOTH_DIR_INFORMATION entries (MS-FSCC 2.4.17), 8-byte aligned, chained. */
export function directoryBuffer(names: SmbName[]): Buffer {
  const parts = names.map((n, i) => {
    const name = Buffer.from(n.name, 'utf16le');
    const length = 104 + name.length;
    const padded = i === names.length - 1 ? length : Math.ceil(length / 8) * 8;
    const b = Buffer.alloc(padded);
    if (i !== names.length - 1) b.writeUInt32LE(padded, 0);
    const time = n.writeTime ?? fileTime(1_700_000_000);
    for (const at of [8, 16, 24, 32])
      b.writeBigUInt64LE(at === 24 ? time : fileTime(1_700_000_000), at);
    b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(n.size ?? 1)), 40);
    b.writeUInt32LE(n.isDir ? ATTR_DIRECTORY : ATTR_NORMAL, 56);
    b.writeUInt32LE(name.length, 60);
    name.copy(b, 104);
    return b;
  });
  return Buffer.concat(parts);
}

function frame(request: Buffer, status: number, body: Buffer, ids: { tree?: number } = {}): Buffer {
  const header = Buffer.alloc(64);
  header.write('\xfeSMB', 0, 'latin1');
  header.writeUInt16LE(64, 4);
  header.writeUInt32LE(status, 8);
  header.writeUInt16LE(request.readUInt16LE(12), 12);
  header.writeUInt16LE(64, 14);
  header.writeUInt32LE(1, 16);
  request.copy(header, 24, 24, 32);
  header.writeUInt32LE(ids.tree ?? request.readUInt32LE(36), 36);
  header.writeBigUInt64LE(0x1234n, 40);
  const length = 64 + body.length;
  const netbios = Buffer.from([0, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff]);
  return Buffer.concat([netbios, header, body]);
}

/** An NTLM CHALLENGE message (NTLMv2, with an empty target info) the client can answer. */
function ntlmChallenge(): Buffer {
  const b = Buffer.alloc(52);
  b.write('NTLMSSP\0', 0, 'latin1');
  b.writeUInt32LE(2, 8);
  b.writeUInt32LE(48, 16);
  // UNICODE | NTLM | NTLM2_KEY | TARGET_INFO
  b.writeUInt32LE(0x00000001 | 0x00000200 | 0x00080000 | 0x00800000, 20);
  b.fill(0x11, 24, 32);
  b.writeUInt16LE(4, 40);
  b.writeUInt16LE(4, 42);
  b.writeUInt32LE(48, 44);
  return b;
}

function emptyBody(structureSize: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  b.writeUInt16LE(structureSize, 0);
  return b;
}

export async function startHostileSmb(
  script: SmbScript,
  files: Record<string, SmbFile> = {},
): Promise<HostileSmb> {
  const events: string[] = [];
  const handles = new Map<string, { path: string; calls: number; file?: SmbFile }>();
  const sockets = new Set<Socket>();
  let nextHandle = 1;

  const answer = async (socket: Socket, req: Buffer): Promise<void> => {
    const send = (status: number, body: Buffer, ids?: { tree?: number }) => {
      if (!socket.destroyed) socket.write(frame(req, status, body, ids));
    };
    const command = req.readUInt16LE(12);
    const body = req.subarray(64);
    switch (command) {
      case 0x00: {
        // NEGOTIATE: SMB 2.1, no security blob (the client starts NTLM itself).
        const b = emptyBody(65, 64);
        b.writeUInt16LE(0x0210, 4);
        b.writeUInt32LE(65536, 28);
        b.writeUInt32LE(65536, 32);
        b.writeUInt32LE(65536, 36);
        b.writeUInt16LE(128, 56);
        return send(STATUS.SUCCESS, b);
      }
      case 0x01: {
        // SESSION_SETUP: a challenge for the NEGOTIATE message, then any answer is welcome.
        const type = body.length >= 32 ? body.readUInt32LE(24 + 8) : 0;
        if (type === 1) {
          const blob = ntlmChallenge();
          const b = Buffer.concat([emptyBody(9, 8), blob]);
          b.writeUInt16LE(72, 4);
          b.writeUInt16LE(blob.length, 6);
          return send(STATUS.MORE_PROCESSING_REQUIRED, b);
        }
        return send(STATUS.SUCCESS, emptyBody(9, 8));
      }
      case 0x03:
        return send(STATUS.SUCCESS, emptyBody(16, 16), { tree: 7 });
      case 0x05: {
        // CREATE: the name is UTF-16 at NameOffset (from the header), NameLength bytes.
        const offset = body.readUInt16LE(44);
        const length = body.readUInt16LE(46);
        const name = req.toString('utf16le', offset, offset + length);
        const path = `/${name.split('\\').join('/')}`.replace(/\/$/, '') || '/';
        events.push(`create ${path}`);
        const file = files[path];
        if (!file && !script(path)) return send(STATUS.OBJECT_NAME_NOT_FOUND, emptyBody(9, 8));
        const b = emptyBody(89, 88);
        b.writeUInt32LE(file ? ATTR_NORMAL : ATTR_DIRECTORY, 56);
        const id = nextHandle++;
        b.writeUInt32LE(id, 64);
        handles.set(b.subarray(64, 80).toString('hex'), { path, calls: 0, file });
        return send(STATUS.SUCCESS, b);
      }
      case 0x06: {
        const key = body.subarray(8, 24).toString('hex');
        events.push(`close ${handles.get(key)?.path ?? '?'}`);
        handles.delete(key);
        return send(STATUS.SUCCESS, emptyBody(60, 60));
      }
      case 0x08: {
        // READ: Length at 4, Offset at 8, FileId at 16 (MS-SMB2 2.2.19).
        const open = handles.get(body.subarray(16, 32).toString('hex'));
        const file = open?.file;
        if (!file) return send(0xc0000008, emptyBody(9, 8)); // STATUS_INVALID_HANDLE
        const length = body.readUInt32LE(4);
        const offset = Number(body.readBigUInt64LE(8));
        events.push(`read ${open.path} ${offset} ${length}`);
        if (file.read === 'stall') return;
        if (offset >= file.body.length) return send(STATUS.END_OF_FILE, emptyBody(9, 8));
        const out = file.body.subarray(offset, offset + length * (file.read === 'more' ? 4 : 1));
        const b = Buffer.concat([emptyBody(17, 16), out]);
        b.writeUInt8(0x50, 2);
        b.writeUInt32LE(out.length, 4);
        return send(STATUS.SUCCESS, b);
      }
      case 0x0e: {
        const open = handles.get(body.subarray(8, 24).toString('hex'));
        if (!open) return send(0xc0000008, emptyBody(9, 8)); // STATUS_INVALID_HANDLE
        const call = open.calls++;
        events.push(`query ${open.path} ${call}`);
        const a = await script(open.path)!(call);
        if (a === 'stall') return;
        if (a === 'end') return send(STATUS.NO_MORE_FILES, emptyBody(9, 8));
        if (a === 'oversized') {
          if (!socket.destroyed)
            socket.write(Buffer.concat([Buffer.from([0, 0x80, 0, 0]), Buffer.alloc(1024)]));
          return;
        }
        if (!Buffer.isBuffer(a) && !Array.isArray(a)) return send(a.status, emptyBody(9, 8));
        const out = Buffer.isBuffer(a) ? a : directoryBuffer(a);
        const b = Buffer.concat([emptyBody(9, 8), out]);
        b.writeUInt16LE(72, 2);
        b.writeUInt32LE(out.length, 4);
        return send(STATUS.SUCCESS, b);
      }
      default:
        return send(0xc00000bb, emptyBody(9, 8)); // STATUS_NOT_SUPPORTED
    }
  };

  const server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    let held = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      held = Buffer.concat([held, chunk]);
      while (held.length >= 4) {
        const length = held.readUInt32BE(0) & 0xffffff;
        if (held.length < 4 + length) return;
        const req = held.subarray(4, 4 + length);
        held = held.subarray(4 + length);
        void answer(socket, req);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `smb://u:p@127.0.0.1:${port}/share`,
    events,
    openHandles: () => [...handles.values()].map((h) => h.path),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
