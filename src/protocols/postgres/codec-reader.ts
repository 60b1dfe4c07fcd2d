/**
 * Bounds-checked reading of PostgreSQL message bodies, shared by the codec's decoders. It owns the one rule every
 * decoder follows: never read past the end of a body, never let a Buffer RangeError escape, and report every
 * malformation as a WardenError WARDEN_ERR_PROTOCOL. It must never do I/O or keep state beyond one decode.
 */
import { isUtf8 } from 'node:buffer';
import { WardenError } from '../../errors.js';

/** Builds the WARDEN_ERR_PROTOCOL error used for every malformed message. */
export function protocolError(message: string): WardenError {
  return new WardenError('WARDEN_ERR_PROTOCOL', message);
}

/** Builds the WARDEN_ERR_MESSAGE_TOO_LARGE error used when a length exceeds what Warden accepts. */
export function tooLargeError(message: string): WardenError {
  return new WardenError('WARDEN_ERR_MESSAGE_TOO_LARGE', message);
}

/** Builds the error thrown when Warden itself asks an encoder for something unencodable (a bug, never caller input). */
export function internalError(message: string): WardenError {
  return new WardenError('WARDEN_ERR_INTERNAL', message, { public: false });
}

/**
 * How text in a message is turned into a JS string. 'strict' rejects invalid UTF-8: used for caller bytes, because
 * a query Warden decodes with replacement characters is not the query the server runs, and a policy that checks a
 * different text than the one executed can be bypassed. PostgreSQL itself rejects invalid UTF-8 in a UTF8 database.
 * 'lenient' replaces invalid sequences: used for upstream bytes that are only recorded.
 */
export type TextMode = 'strict' | 'lenient';

/** A cursor over one message body. Every read checks the remaining length first. */
export class BodyReader {
  private pos = 0;

  /** `what` names the message in error texts, e.g. "Bind message". */
  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
    private readonly mode: TextMode = 'strict',
  ) {}

  /** Bytes not yet read. */
  get remaining(): number {
    return this.buf.length - this.pos;
  }

  /** Reads a NUL-terminated string; `field` names it in the error text. */
  cstring(field: string): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw protocolError(`malformed ${this.what}: ${field} is not NUL-terminated`);
    const text = decodeText(this.buf, this.pos, end, this.mode, `${this.what}: ${field}`);
    this.pos = end + 1;
    return text;
  }

  /** Reads one byte. */
  byte(field: string): number {
    this.need(1, field);
    return this.buf[this.pos++];
  }

  /** Reads an unsigned 16-bit count. PostgreSQL reads Int16 counts as unsigned (pq_getmsgint), so 65535 is legal. */
  uint16(field: string): number {
    this.need(2, field);
    const value = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return value;
  }

  /** Reads a signed 16-bit value (format codes). */
  int16(field: string): number {
    this.need(2, field);
    const value = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return value;
  }

  /** Reads a signed 32-bit value. */
  int32(field: string): number {
    this.need(4, field);
    const value = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return value;
  }

  /** Reads an unsigned 32-bit value (OIDs). */
  uint32(field: string): number {
    this.need(4, field);
    const value = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return value;
  }

  /** Copies `n` bytes out: the body may be a view valid only while the scanner's visitor runs. */
  bytes(n: number, field: string): Buffer {
    this.need(n, field);
    const out = Buffer.from(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }

  /** Fails unless the whole body was consumed: trailing bytes mean the sender and Warden disagree on the layout. */
  end(): void {
    if (this.pos !== this.buf.length) {
      throw protocolError(`malformed ${this.what}: ${this.buf.length - this.pos} unexpected trailing bytes`);
    }
  }

  private need(n: number, field: string): void {
    if (n < 0 || this.buf.length - this.pos < n) {
      throw protocolError(`malformed ${this.what}: ${field} runs past the end of the message`);
    }
  }
}

/** Decodes buf[start, end) as UTF-8 in the given mode; `where` names the field in the error text. */
export function decodeText(buf: Buffer, start: number, end: number, mode: TextMode, where: string): string {
  if (mode === 'strict' && !isUtf8(buf.subarray(start, end))) {
    throw protocolError(`malformed ${where} is not valid UTF-8`);
  }
  return buf.toString('utf8', start, end);
}
