/**
 * FrameScanner: finds the typed messages (1-byte type, int32 length including itself, body) in a PostgreSQL byte
 * stream without taking ownership of it. The relay keeps forwarding its chunks untouched; the scanner only shows it
 * the bodies of the message types it asked for. It owns framing state only and must never do I/O, buffer the bodies
 * of uninteresting messages, or allocate per uninteresting message: it runs on every chunk of a 1 GB result set.
 */
import { protocolError, tooLargeError } from './codec-reader.js';

const HEADER = 5;

/** Receives one complete interesting message: its type, its body and the index in the chunk just past it. */
export type Visitor = (type: number, body: Buffer, end: number) => void;
const EMPTY = Buffer.alloc(0);

/** Splits a stream of typed messages into messages without copying the stream. */
export class FrameScanner {
  private readonly interest: Uint8Array;
  private readonly maxBody: number;
  /** Bytes of a split header seen so far (0..4, type byte included); 0 at a boundary and inside a body. */
  private headerGot = 0;
  private type = 0;
  /** The length word, accumulated byte by byte when the header is split across chunks. */
  private lengthAcc = 0;
  /** Body bytes still expected of the current message; -1 when reading a header. */
  private remaining = -1;
  /** Whether the current body is wanted; fixed at its header so a caller mutating `interest` cannot desync us. */
  private collecting = false;
  /** Pieces of an interesting body split across chunks (copies: the caller's chunks may be reused). */
  private pieces: Buffer[] = [];
  private piecesLength = 0;
  /** Set once a framing error happened: the stream is desynchronised and every later scan fails the same way. */
  private failure: Error | undefined;
  /** Index in the chunk being scanned where the current message began; 0 when it began in an earlier chunk. */
  private startInChunk = 0;

  /**
   * interest[type] !== 0 means the visitor wants that message type's body; other bodies are skipped without being
   * buffered. maxBody: bodies of interesting messages longer than this throw WARDEN_ERR_MESSAGE_TOO_LARGE;
   * uninteresting ones may be any length up to 2^31-5.
   */
  constructor(interest: Uint8Array, maxBody: number) {
    // A shorter table would read as undefined (uninteresting) for high type bytes: refuse the programming error.
    if (interest.length !== 256) throw new RangeError('FrameScanner interest must have 256 entries');
    this.interest = interest;
    this.maxBody = maxBody;
  }

  /**
   * Scans one chunk and calls visit(type, body, end) for every complete interesting message, in order. `body`
   * excludes the 5-byte header and is valid only during the call; `end` is the index in `chunk` just past the
   * message, so a caller can forward or withhold whole messages. Throws WARDEN_ERR_PROTOCOL on a length < 4 and
   * WARDEN_ERR_MESSAGE_TOO_LARGE as described above; after such an error the scanner refuses all further input.
   * If visit throws, the error propagates and the rest of the chunk is left unscanned.
   */
  scan(chunk: Buffer, visit: Visitor): void {
    if (this.failure) throw this.failure;
    const end = chunk.length;
    let i = 0;
    this.startInChunk = 0;
    while (i < end) {
      if (this.remaining >= 0) {
        i = this.continueBody(chunk, i, visit);
      } else if (this.headerGot === 0 && end - i >= HEADER) {
        // Fast path: the whole header is in this chunk.
        this.startInChunk = i;
        this.type = chunk[i];
        i = this.startBody(chunk, i + HEADER, chunk.readInt32BE(i + 1), visit);
      } else {
        i = this.headerByte(chunk, i, visit);
      }
    }
  }

  /**
   * Bytes of a partly received message currently held: the bytes of an incomplete header plus the buffered body
   * bytes of an interesting message. A complete header is kept as numbers and skipped bodies are never held.
   */
  get pending(): number {
    return this.headerGot + this.piecesLength;
  }

  /** True when the scanner stands between two messages (no partial header or body outstanding). */
  get atBoundary(): boolean {
    return this.headerGot === 0 && this.remaining < 0;
  }

  /**
   * After a scan: where, in the chunk just scanned, the incomplete message at its end began, when that message is
   * interesting (0 when it began in an earlier chunk); -1 when the chunk ended on a boundary or inside (or in the
   * header of) an uninteresting message. A relay withholds bytes from there on until the message is whole.
   */
  get incompleteFrom(): number {
    // A partial header already shows its type byte: only interesting messages are withheld.
    if (this.headerGot > 0) return this.interest[this.type] !== 0 ? this.startInChunk : -1;
    return this.remaining >= 0 && this.collecting ? this.startInChunk : -1;
  }

  /** Consumes one byte of a header split across chunks; the state is numbers only, never a Buffer. */
  private headerByte(chunk: Buffer, i: number, visit: Visitor): number {
    if (this.headerGot === 0) {
      this.startInChunk = i;
      this.type = chunk[i];
      this.lengthAcc = 0;
    } else {
      this.lengthAcc = this.lengthAcc * 256 + chunk[i];
    }
    this.headerGot++;
    if (this.headerGot < HEADER) return i + 1;
    this.headerGot = 0;
    // Reinterpret the unsigned accumulation as the signed int32 PostgreSQL sends.
    return this.startBody(chunk, i + 1, this.lengthAcc | 0, visit);
  }

  /** Validates a message length and starts its body at chunk[i]; returns the next index to scan. */
  private startBody(chunk: Buffer, i: number, length: number, visit: Visitor): number {
    if (length < 4) this.fail(protocolError(`invalid message length ${length} for message type 0x${hex(this.type)}`));
    const bodyLength = length - 4;
    this.collecting = this.interest[this.type] !== 0;
    if (!this.collecting) {
      const available = chunk.length - i;
      if (bodyLength <= available) return i + bodyLength;
      this.remaining = bodyLength - available;
      return chunk.length;
    }
    if (bodyLength > this.maxBody) {
      const what = `message of type 0x${hex(this.type)}`;
      this.fail(tooLargeError(`${what} has a ${bodyLength}-byte body, above the limit of ${this.maxBody}`));
    }
    if (bodyLength <= chunk.length - i) {
      // Whole body present: hand out a view, no copy.
      visit(this.type, bodyLength === 0 ? EMPTY : chunk.subarray(i, i + bodyLength), i + bodyLength);
      return i + bodyLength;
    }
    this.remaining = bodyLength;
    return this.continueBody(chunk, i, visit);
  }

  /** Consumes body bytes of the current message from chunk[i]; returns the next index to scan. */
  private continueBody(chunk: Buffer, i: number, visit: Visitor): number {
    const take = Math.min(this.remaining, chunk.length - i);
    this.remaining -= take;
    if (!this.collecting) {
      if (this.remaining === 0) this.remaining = -1;
      return i + take;
    }
    if (this.remaining > 0) {
      if (take === 0) return i;
      this.pieces.push(Buffer.from(chunk.subarray(i, i + take)));
      this.piecesLength += take;
      return i + take;
    }
    // Last piece: view it (it is used during this call only) and concat once.
    const body = Buffer.concat([...this.pieces, chunk.subarray(i, i + take)], this.piecesLength + take);
    // Reset before visiting so a visitor that throws leaves the scanner at a message boundary.
    this.pieces = [];
    this.piecesLength = 0;
    this.remaining = -1;
    visit(this.type, body, i + take);
    return i + take;
  }

  private fail(err: Error): never {
    this.failure = err;
    throw err;
  }
}

function hex(type: number): string {
  return type.toString(16).padStart(2, '0');
}
