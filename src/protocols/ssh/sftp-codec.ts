/**
 * SFTP version 3 (draft-ietf-secsh-filexfer-02, what OpenSSH speaks) on the wire: framing of the byte stream of one
 * direction into packets (`uint32 length, byte type, ...`) and decoding of each packet the recording and policy
 * need: client requests (OPEN, CLOSE, READ, WRITE, REMOVE, RENAME, MKDIR, RMDIR, OPENDIR, READDIR, STAT, LSTAT,
 * FSTAT, SETSTAT, FSETSTAT, REALPATH, READLINK, SYMLINK, EXTENDED) and server replies (STATUS, HANDLE, DATA, NAME,
 * ATTRS, EXTENDED_REPLY), plus INIT and VERSION.
 *
 * Fails closed: a length field above the limit (default OpenSSH's own 256 KiB) is refused before any byte of the
 * packet is buffered, and a packet whose fields run past its end is refused; both throw a WardenError, and the
 * engine ends the channel. Bulk payloads (READ replies' DATA, WRITE data) are never copied: a packet that spans
 * channel chunks stays a list of their slices (SftpFrame), WRITE and DATA are decoded from their head, and decoding
 * gives the payload's offset in the frame, so a same-length rewrite keeps every length field right. Pure: no I/O.
 */
import { WardenError } from '../../errors.js';

/** The largest packet length accepted by default (the value of the length field): OpenSSH's SFTP_MAX_MSG_LENGTH. */
export const SFTP_MAX_PACKET = 256 * 1024;

/** Packet type numbers of SFTP v3. */
export const SFTP = {
  INIT: 1, VERSION: 2, OPEN: 3, CLOSE: 4, READ: 5, WRITE: 6, LSTAT: 7, FSTAT: 8, SETSTAT: 9, FSETSTAT: 10, OPENDIR: 11,
  READDIR: 12, REMOVE: 13, MKDIR: 14, RMDIR: 15, REALPATH: 16, STAT: 17, RENAME: 18, READLINK: 19, SYMLINK: 20,
  STATUS: 101, HANDLE: 102, DATA: 103, NAME: 104, ATTRS: 105, EXTENDED: 200, EXTENDED_REPLY: 201,
} as const;

/** STATUS codes of SFTP v3, by number. */
export const STATUS_NAMES: Readonly<Record<number, string>> = {
  0: 'ok', 1: 'eof', 2: 'no_such_file', 3: 'permission_denied', 4: 'failure', 5: 'bad_message', 6: 'no_connection',
  7: 'connection_lost', 8: 'op_unsupported',
};

/** OPEN pflags by bit. */
const PFLAGS: Array<[number, string]> = [[0x01, 'read'], [0x02, 'write'], [0x04, 'append'], [0x08, 'creat'], [0x10, 'trunc'], [0x20, 'excl']];

/** File attributes as far as the recording uses them. */
export interface SftpAttrs {
  size?: number;
  uid?: number;
  gid?: number;
  permissions?: number;
}

/** A decoded packet. `id` is the request id (absent for INIT and VERSION). */
export type SftpPacket =
  | { type: 'init'; version: number }
  | { type: 'version'; version: number }
  | { type: 'open'; id: number; path: string; flags: string[]; attrs: SftpAttrs }
  | { type: 'close' | 'readdir' | 'fstat'; id: number; handle: string }
  | { type: 'read'; id: number; handle: string; offset: number; length: number }
  | { type: 'write'; id: number; handle: string; offset: number; dataStart: number; dataLength: number }
  | { type: 'fsetstat'; id: number; handle: string; attrs: SftpAttrs }
  | { type: 'lstat' | 'stat' | 'opendir' | 'remove' | 'rmdir' | 'realpath' | 'readlink'; id: number; path: string }
  | { type: 'setstat' | 'mkdir'; id: number; path: string; attrs: SftpAttrs }
  | { type: 'rename' | 'symlink'; id: number; path: string; target: string }
  | { type: 'extended'; id: number; request: string; path?: string; target?: string }
  | { type: 'status'; id: number; code: number; message: string }
  | { type: 'handle'; id: number; handle: string }
  | { type: 'data'; id: number; dataStart: number; dataLength: number }
  | { type: 'name'; id: number; count: number; names: string[] }
  | { type: 'attrs'; id: number; attrs: SftpAttrs }
  | { type: 'extended_reply'; id: number }
  | { type: 'unknown'; id: number; code: number };

/**
 * One packet as the framer gives it: a Buffer when its bytes came contiguous, or, for a large packet that spanned
 * several chunks (a 255 KiB WRITE arrives in eight 32 KiB channel chunks), the slices of those chunks in order.
 * Keeping the slices saves a copy of every bulk packet (and the garbage it makes); frameBytes joins them when a
 * consumer needs the packet whole (masking a DATA payload in place, decoding anything but WRITE and DATA).
 */
export type SftpFrame = Buffer | readonly Buffer[];

/** Packets up to this size are joined when they span chunks, so only bulk packets arrive as slices. */
export const SPLIT_MIN = 16 * 1024;
/**
 * A packet that came in more slices than this is joined: a peer sending tiny channel packets must not turn one SFTP
 * packet into thousands of writes on the other side (a 255 KiB WRITE normally comes in 9).
 */
export const MAX_PIECES = 64;

/** The slices of a frame, in order (one for a contiguous frame). */
export function framePieces(frame: SftpFrame): readonly Buffer[] {
  return Buffer.isBuffer(frame) ? [frame] : frame;
}

/** A frame's length in bytes (with its 4-byte length field). */
export function frameLength(frame: SftpFrame): number {
  if (Buffer.isBuffer(frame)) return frame.length;
  let n = 0;
  for (const piece of frame) n += piece.length;
  return n;
}

/** A frame as one Buffer: itself, or its slices joined (a copy). */
export function frameBytes(frame: SftpFrame): Buffer {
  return Buffer.isBuffer(frame) ? frame : Buffer.concat(frame);
}

/** The first min(n, length) bytes of a frame, contiguous (copied only when they span slices). */
export function frameHead(frame: SftpFrame, n: number): Buffer {
  const first = Buffer.isBuffer(frame) ? frame : frame[0];
  if (first.length >= n || Buffer.isBuffer(frame)) return first.subarray(0, n);
  const head: Buffer[] = [];
  let have = 0;
  for (const piece of frame) {
    if (have >= n) break;
    head.push(piece.subarray(0, n - have));
    have += head[head.length - 1].length;
  }
  return Buffer.concat(head, have);
}

/** Splits one direction's byte stream into whole packets (each with its 4-byte length). One per direction. */
export class SftpFramer {
  /** The unfinished packet's slices, their total and the packet's total (-1 until its length field is whole). */
  private parts: Buffer[] = [];
  private have = 0;
  private need = -1;

  constructor(private readonly maxPacket = SFTP_MAX_PACKET) {}

  /** Bytes of an unfinished packet held now. */
  get pending(): number {
    return this.have;
  }

  /**
   * Takes a chunk; returns the packets it completes, never copying a bulk packet: slices of the chunk, or the slices
   * of a packet larger than SPLIT_MIN that spanned chunks (see SftpFrame). Throws WARDEN_ERR_MESSAGE_TOO_LARGE for a
   * length above the limit (before buffering the body) and WARDEN_ERR_PROTOCOL for an empty packet.
   */
  push(chunk: Buffer): SftpFrame[] {
    const out: SftpFrame[] = [];
    let at = 0;
    if (this.have > 0) {
      if (this.need < 0) {
        // The length field itself spans chunks: at most 3 bytes are held.
        const take = Math.min(4 - this.have, chunk.length);
        if (take > 0) this.add(chunk.subarray(0, take));
        at = take;
        if (this.have < 4) return out;
        const field = Buffer.concat(this.parts, 4);
        this.parts = [field];
        this.need = this.checkedLength(field.readUInt32BE(0)) + 4;
      }
      const take = Math.min(this.need - this.have, chunk.length - at);
      if (take > 0) this.add(chunk.subarray(at, at + take));
      at += take;
      if (this.have < this.need) return out;
      out.push(this.need <= SPLIT_MIN || this.parts.length > MAX_PIECES ? Buffer.concat(this.parts, this.have) : this.parts);
      this.parts = [];
      this.have = 0;
      this.need = -1;
    }
    while (chunk.length - at >= 4) {
      const total = this.checkedLength(chunk.readUInt32BE(at)) + 4;
      if (chunk.length - at < total) {
        this.need = total;
        break;
      }
      out.push(chunk.subarray(at, at + total));
      at += total;
    }
    if (at < chunk.length) this.add(chunk.subarray(at));
    return out;
  }

  private add(slice: Buffer): void {
    this.parts.push(slice);
    this.have += slice.length;
  }

  private checkedLength(length: number): number {
    if (length > this.maxPacket) {
      throw new WardenError('WARDEN_ERR_MESSAGE_TOO_LARGE', `SFTP packet of ${length} bytes refused (the limit is ${this.maxPacket})`);
    }
    if (length < 1) throw new WardenError('WARDEN_ERR_PROTOCOL', 'empty SFTP packet');
    return length;
  }
}

/** Bounds-checked reads over one packet: `frame` holds its first bytes (all of them, or a head), `end` is its length. */
class Reader {
  at = 5;
  constructor(private readonly frame: Buffer, readonly end = frame.length) {}

  /** n more bytes must lie within the packet; reading them also needs them in `frame` (a head always holds them). */
  private need(n: number, read = true): void {
    if (this.at + n > this.end || (read && this.at + n > this.frame.length)) {
      throw new WardenError('WARDEN_ERR_PROTOCOL', 'truncated SFTP packet');
    }
  }

  u32(): number {
    this.need(4);
    const v = this.frame.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }

  u64(): number {
    this.need(8);
    const v = this.frame.readBigUInt64BE(this.at);
    this.at += 8;
    // Offsets past 2^53 do not occur in practice; they are clamped rather than rounded silently.
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  }

  /** A string's bounds [start, start + length). */
  span(): [number, number] {
    const length = this.u32();
    this.need(length, false);
    const start = this.at;
    this.at += length;
    return [start, length];
  }

  text(): string {
    const [start, length] = this.span();
    this.within(start + length);
    return this.frame.toString('utf8', start, start + length);
  }

  /** A handle: opaque bytes, kept as hex so it can key a map and appear in a recording. */
  handle(): string {
    const [start, length] = this.span();
    this.within(start + length);
    return this.frame.toString('hex', start, start + length);
  }

  private within(end: number): void {
    if (end > this.frame.length) throw new WardenError('WARDEN_ERR_PROTOCOL', 'truncated SFTP packet');
  }

  attrs(): SftpAttrs {
    const flags = this.u32();
    const attrs: SftpAttrs = {};
    if (flags & 0x1) attrs.size = this.u64();
    if (flags & 0x2) {
      attrs.uid = this.u32();
      attrs.gid = this.u32();
    }
    if (flags & 0x4) attrs.permissions = this.u32();
    if (flags & 0x8) {
      this.u32(); // atime
      this.u32(); // mtime
    }
    if (flags & 0x80000000) {
      for (let n = this.u32(); n > 0; n--) {
        this.span();
        this.span();
      }
    }
    return attrs;
  }
}

/** OpenSSH extensions whose first fields are paths: two (old, new) or one. */
const TWO_PATHS = new Set(['posix-rename@openssh.com', 'hardlink@openssh.com']);
const ONE_PATH = new Set(['statvfs@openssh.com', 'lsetstat@openssh.com', 'expand-path@openssh.com']);

function extended(id: number, r: Reader): SftpPacket {
  const request = r.text();
  if (TWO_PATHS.has(request)) return { type: 'extended', id, request, path: r.text(), target: r.text() };
  if (ONE_PATH.has(request)) return { type: 'extended', id, request, path: r.text() };
  return { type: 'extended', id, request };
}

/** The bytes of a WRITE or DATA packet before its payload fit in this head (a handle has at most 256 bytes). */
const HEAD = 1024;

/**
 * Decodes one packet (as SftpFramer returns it). A WRITE or DATA packet in slices is decoded from its head (its
 * payload, the last field, is only measured); any other packet in slices is joined first. Throws WARDEN_ERR_PROTOCOL
 * when its fields do not fit.
 */
export function decodePacket(frame: SftpFrame): SftpPacket {
  if (Buffer.isBuffer(frame)) return decodeFrom(frame, frame.length);
  const length = frameLength(frame);
  const head = frameHead(frame, HEAD);
  const bulk = head.length >= 13 && (head[4] === SFTP.DATA || (head[4] === SFTP.WRITE && 25 + head.readUInt32BE(9) <= head.length));
  return bulk ? decodeFrom(head, length) : decodeFrom(frameBytes(frame), length);
}

function decodeFrom(frame: Buffer, end: number): SftpPacket {
  if (end < 5) throw new WardenError('WARDEN_ERR_PROTOCOL', 'truncated SFTP packet');
  const code = frame[4];
  const r = new Reader(frame, end);
  if (code === SFTP.INIT) return { type: 'init', version: r.u32() };
  if (code === SFTP.VERSION) return { type: 'version', version: r.u32() };
  const id = r.u32();
  switch (code) {
    case SFTP.OPEN: {
      const path = r.text();
      const pflags = r.u32();
      return { type: 'open', id, path, flags: PFLAGS.filter(([bit]) => pflags & bit).map(([, name]) => name), attrs: r.attrs() };
    }
    case SFTP.CLOSE: return { type: 'close', id, handle: r.handle() };
    case SFTP.READDIR: return { type: 'readdir', id, handle: r.handle() };
    case SFTP.FSTAT: return { type: 'fstat', id, handle: r.handle() };
    case SFTP.READ: return { type: 'read', id, handle: r.handle(), offset: r.u64(), length: r.u32() };
    case SFTP.WRITE: {
      const handle = r.handle();
      const offset = r.u64();
      const [dataStart, dataLength] = r.span();
      return { type: 'write', id, handle, offset, dataStart, dataLength };
    }
    case SFTP.FSETSTAT: return { type: 'fsetstat', id, handle: r.handle(), attrs: r.attrs() };
    case SFTP.LSTAT: return { type: 'lstat', id, path: r.text() };
    case SFTP.STAT: return { type: 'stat', id, path: r.text() };
    case SFTP.OPENDIR: return { type: 'opendir', id, path: r.text() };
    case SFTP.REMOVE: return { type: 'remove', id, path: r.text() };
    case SFTP.RMDIR: return { type: 'rmdir', id, path: r.text() };
    case SFTP.REALPATH: return { type: 'realpath', id, path: r.text() };
    case SFTP.READLINK: return { type: 'readlink', id, path: r.text() };
    case SFTP.SETSTAT: return { type: 'setstat', id, path: r.text(), attrs: r.attrs() };
    case SFTP.MKDIR: return { type: 'mkdir', id, path: r.text(), attrs: r.attrs() };
    // SYMLINK's two paths: OpenSSH sends (target, link), the draft says (link, target); kept in wire order.
    case SFTP.RENAME: case SFTP.SYMLINK: return { type: code === SFTP.RENAME ? 'rename' : 'symlink', id, path: r.text(), target: r.text() };
    case SFTP.EXTENDED: return extended(id, r);
    case SFTP.STATUS: {
      const status = r.u32();
      // The message and language tag are optional in practice (some servers omit them).
      const message = r.at < r.end ? r.text() : '';
      return { type: 'status', id, code: status, message };
    }
    case SFTP.HANDLE: return { type: 'handle', id, handle: r.handle() };
    case SFTP.DATA: {
      const [dataStart, dataLength] = r.span();
      return { type: 'data', id, dataStart, dataLength };
    }
    case SFTP.NAME: {
      const count = r.u32();
      const names: string[] = [];
      for (let i = 0; i < count; i++) {
        names.push(r.text());
        r.span();
        r.attrs();
      }
      return { type: 'name', id, count, names };
    }
    case SFTP.ATTRS: return { type: 'attrs', id, attrs: r.attrs() };
    case SFTP.EXTENDED_REPLY: return { type: 'extended_reply', id };
    default: return { type: 'unknown', id, code };
  }
}
