/**
 * Follows one SFTP session through both directions: pairs each reply with its request (by id) and turns them into
 * the file operations a recording keeps (path, operation, bytes read and written per handle, result status), and
 * when masking rules apply, rewrites the DATA of READ replies with a same-length strategy (masking/same-length.ts),
 * so every SFTP length field and file offset stays right.
 *
 * Masking across packets: the DATA reply of a handle is held back while another READ of that handle is outstanding
 * (its reply, DATA or STATUS, is certain to come, so nothing waits for a timer and nothing can deadlock) and released
 * when the next reply of the handle arrives, with the next DATA as lookahead if it continues at the next offset; the
 * released payload becomes the context of the next. A value split over two READ replies is therefore masked in both.
 * SFTP lets replies come in any order, so other replies passing a held one is legal. Masked frames are rewritten in
 * place (no copy of a 256 KiB packet per reply, except joining one that came in slices, see SftpFrame): the engine
 * must not reuse a chunk's buffer after handing it over. Without a masker, frames pass as they came, slices included. Limits (fail closed): at most
 * MAX_OUTSTANDING unanswered requests and MAX_HANDLES open handles, else WARDEN_ERR_PROTOCOL.
 * Owns no I/O: the engine feeds it framed packets (sftp-codec.ts) and forwards what it returns.
 */
import { WardenError } from '../../errors.js';
import type { SameLengthMasker } from '../../masking/same-length.js';
import { STATUS_NAMES, decodePacket, frameBytes, type SftpFrame, type SftpPacket } from './sftp-codec.js';

/** Most requests awaiting a reply (OpenSSH's client keeps up to 64 in flight). */
export const MAX_OUTSTANDING = 4096;
/** Most open handles followed at once. */
export const MAX_HANDLES = 4096;
/** Bytes of the previous payload kept as context, and of the next used as lookahead. */
const CONTEXT = 256;
const LOOKAHEAD = 4096;

/** One file operation for the recording. */
export interface SftpOperation {
  /**
   * open, opendir, close, remove, rename (also OpenSSH's posix-rename), hardlink, mkdir, rmdir, stat, lstat, fstat,
   * setstat, fsetstat, realpath, readlink, symlink, extended (other extensions: see `request`).
   */
  op: string;
  /** extended: the extension's name (statvfs@openssh.com, fsync@openssh.com, ...). */
  request?: string;
  path?: string;
  /** rename: the new path; symlink: the second path (wire order); realpath/readlink: the answer. */
  target?: string;
  /** open: read, write, append, creat, trunc, excl. */
  flags?: string[];
  /** close (and unclosed handles at the end): bytes the caller read and wrote through the handle. */
  bytesRead?: number;
  bytesWritten?: number;
  /** close of a directory: names listed. */
  entries?: number;
  /** 'ok', a STATUS name (eof, no_such_file, permission_denied, failure, ...), or 'unclosed' at the end. */
  status: string;
  message?: string;
}

interface Handle {
  path: string;
  dir: boolean;
  flags?: string[];
  bytesRead: number;
  bytesWritten: number;
  entries: number;
  /** Outstanding READ requests. */
  reads: number;
  held?: { frame: Buffer; start: number; length: number; offset: number };
  context: Buffer;
  contextEnd: number;
}

type Pending = { packet: Exclude<SftpPacket, { type: 'init' | 'version' }>; handle?: Handle };

/** What a reply gives: the frames to forward now (in order) and finished operations. */
export interface ReplyResult {
  forward: SftpFrame[];
  operations: SftpOperation[];
}

/** Pairs requests and replies of one SFTP channel. */
export class SftpTracker {
  private readonly pending = new Map<number, Pending>();
  private readonly handles = new Map<string, Handle>();

  /** `masker`: rewrite READ data with it (null or absent: data passes untouched and nothing is held). */
  constructor(private readonly masker: SameLengthMasker | null = null) {}

  /** Reads a client request (a whole frame); returns it decoded, for policy or logging. Forward it unchanged. */
  request(frame: SftpFrame): SftpPacket {
    const packet = decodePacket(frame);
    if (packet.type === 'init' || packet.type === 'version') return packet;
    if (this.pending.size >= MAX_OUTSTANDING) throw new WardenError('WARDEN_ERR_PROTOCOL', 'too many SFTP requests awaiting a reply');
    const handle = 'handle' in packet ? this.handles.get(packet.handle) : undefined;
    if (packet.type === 'read' && handle) handle.reads++;
    this.pending.set(packet.id, { packet, handle });
    return packet;
  }

  /** Reads a server reply (a whole frame); returns the frames to forward now and the operations it finished. */
  reply(frame: SftpFrame): ReplyResult {
    const packet = decodePacket(frame);
    const result: ReplyResult = { forward: [], operations: [] };
    if (packet.type === 'init' || packet.type === 'version') {
      result.forward.push(frame);
      return result;
    }
    const req = this.pending.get(packet.id);
    this.pending.delete(packet.id);
    if (req?.packet.type === 'read' && req.handle) this.readReply(req.handle, req.packet.offset, frame, packet, result);
    else {
      if (req?.handle?.held) this.release(req.handle, result.forward, null);
      result.forward.push(frame);
      if (req) this.finish(req, packet, result.operations);
    }
    return result;
  }

  /** Handles still open (at the end of the channel), as operations with status 'unclosed'; forgets everything. */
  end(): SftpOperation[] {
    const out = [...this.handles.values()].map((h) => this.closed(h, 'unclosed'));
    this.handles.clear();
    this.pending.clear();
    return out;
  }

  private readReply(h: Handle, offset: number, frame: SftpFrame, packet: SftpPacket, result: ReplyResult): void {
    h.reads = Math.max(0, h.reads - 1);
    if (packet.type !== 'data') {
      if (h.held) this.release(h, result.forward, null);
      result.forward.push(frame);
      return;
    }
    h.bytesRead += packet.dataLength;
    if (this.masker === null) {
      result.forward.push(frame);
      return;
    }
    // Masking rewrites the payload in place: a packet that came in slices is joined (the only copy on this path).
    const bytes = frameBytes(frame);
    const next = { frame: bytes, start: packet.dataStart, length: packet.dataLength, offset };
    if (h.held) {
      const contiguous = h.held.offset + h.held.length === offset;
      this.release(h, result.forward, contiguous ? bytes.subarray(next.start, next.start + Math.min(next.length, LOOKAHEAD)) : null);
    }
    h.held = next;
    if (h.reads === 0) this.release(h, result.forward, null);
  }

  /** Masks and forwards the held DATA of a handle, with the next payload's start as lookahead when it follows on. */
  private release(h: Handle, forward: SftpFrame[], lookahead: Buffer | null): void {
    const held = h.held!;
    h.held = undefined;
    const payload = held.frame.subarray(held.start, held.start + held.length);
    const context = h.contextEnd === held.offset ? h.context : Buffer.alloc(0);
    // The context must be the original bytes: copy them before masking writes over the payload.
    const original = Buffer.from(payload.subarray(Math.max(0, payload.length - CONTEXT)));
    this.masker!.mask(held.frame, held.start, held.start + held.length, context, lookahead ?? undefined);
    forward.push(held.frame);
    h.context = original.length >= CONTEXT ? original : Buffer.concat([context, original]).subarray(-CONTEXT);
    h.contextEnd = held.offset + held.length;
  }

  private finish(req: Pending, packet: SftpPacket, operations: SftpOperation[]): void {
    const p = req.packet;
    const status = packet.type === 'status' ? STATUS_NAMES[packet.code] ?? `status_${packet.code}` : 'ok';
    const message = packet.type === 'status' && packet.code !== 0 && packet.message !== '' ? { message: packet.message } : {};
    switch (p.type) {
      case 'open': case 'opendir':
        if (packet.type === 'handle') this.open(packet.handle, { path: p.path, dir: p.type === 'opendir', flags: p.type === 'open' ? p.flags : undefined });
        operations.push({ op: p.type, path: p.path, ...(p.type === 'open' ? { flags: p.flags } : {}), status, ...message });
        return;
      case 'write':
        if (req.handle && status === 'ok') req.handle.bytesWritten += p.dataLength;
        return;
      case 'readdir':
        if (req.handle && packet.type === 'name') req.handle.entries += packet.count;
        return;
      case 'close': {
        const h = req.handle;
        if (!h) {
          operations.push({ op: 'close', status, ...message });
          return;
        }
        this.handles.delete(p.handle);
        operations.push({ ...this.closed(h, status), ...message });
        return;
      }
      case 'fstat': case 'fsetstat':
        operations.push({ op: p.type, ...(req.handle ? { path: req.handle.path } : {}), status, ...message });
        return;
      case 'realpath': case 'readlink': {
        const answer = packet.type === 'name' && packet.names.length > 0 ? { target: packet.names[0] } : {};
        operations.push({ op: p.type, path: p.path, ...answer, status, ...message });
        return;
      }
      case 'rename': case 'symlink':
        operations.push({ op: p.type, path: p.path, target: p.target, status, ...message });
        return;
      case 'extended': {
        // posix-rename is how OpenSSH's client renames; hardlink links; the rest are recorded by request name.
        const op = p.request === 'posix-rename@openssh.com' ? 'rename' : p.request === 'hardlink@openssh.com' ? 'hardlink' : 'extended';
        operations.push({ op, ...(op === 'extended' ? { request: p.request } : {}), ...(p.path !== undefined ? { path: p.path } : {}),
          ...(p.target !== undefined ? { target: p.target } : {}), status, ...message });
        return;
      }
      case 'read':
        return;
      default:
        if ('path' in p) operations.push({ op: p.type, path: p.path, status, ...message });
    }
  }

  private open(key: string, h: { path: string; dir: boolean; flags?: string[] }): void {
    if (this.handles.size >= MAX_HANDLES && !this.handles.has(key)) throw new WardenError('WARDEN_ERR_PROTOCOL', 'too many open SFTP handles');
    this.handles.set(key, { ...h, bytesRead: 0, bytesWritten: 0, entries: 0, reads: 0, context: Buffer.alloc(0), contextEnd: -1 });
  }

  private closed(h: Handle, status: string): SftpOperation {
    return h.dir ? { op: 'close', path: h.path, entries: h.entries, status }
      : { op: 'close', path: h.path, ...(h.flags ? { flags: h.flags } : {}), bytesRead: h.bytesRead, bytesWritten: h.bytesWritten, status };
  }
}
