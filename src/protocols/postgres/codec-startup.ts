/**
 * The untyped startup phase of the PostgreSQL protocol: SSLRequest, GSSENCRequest, CancelRequest and the
 * StartupMessage, each an int32 length (including itself) followed by an int32 code and a payload. It owns decoding
 * these packets, cutting them out of a byte stream, and encoding the CancelRequest Warden forwards upstream.
 * It must never do I/O, hold sockets or timers, or decide anything (which protocol versions to grant, whether to
 * accept TLS): that is the engine's job.
 */
import { BodyReader, internalError, protocolError, tooLargeError } from './codec-reader.js';

/** SSLRequest code: 1234 in the high 16 bits, 5679 in the low ones. */
export const SSL_REQUEST_CODE = 80877103;
/** GSSENCRequest code: 1234 / 5680. */
export const GSSENC_REQUEST_CODE = 80877104;
/** CancelRequest code: 1234 / 5678. */
export const CANCEL_REQUEST_CODE = 80877102;
/** Protocol version 3.0 as sent in a StartupMessage: (3 << 16) | 0. */
export const PROTOCOL_3_0 = 196608;
/** The largest startup-phase packet accepted, in bytes including the length word (PostgreSQL's own limit). */
export const MAX_STARTUP_PACKET = 10000;
/** Shortest cancel secret key the protocol allows (3.0 keys are always exactly 4 bytes). */
export const MIN_CANCEL_KEY = 4;
/** Longest cancel secret key protocol 3.2 allows (PostgreSQL 18 itself sends 32). */
export const MAX_CANCEL_KEY = 256;
/** The newest minor version of protocol 3 this codec can describe; the engine may grant less. */
export const NEWEST_MINOR_VERSION = 2;

/** One decoded startup-phase packet. */
export type StartupPacket =
  | { kind: 'ssl' }
  | { kind: 'gssenc' }
  | { kind: 'cancel'; processId: number; secretKey: Buffer }
  | { kind: 'startup'; major: number; minor: number; params: Record<string, string> };

/** The smallest legal startup-phase packet: length word plus code. */
const MIN_PACKET = 8;
/** The high 16 bits shared by the special request codes (SSL, GSSENC, cancel). */
const SPECIAL_MAJOR = 1234;
const EMPTY = Buffer.alloc(0);

/**
 * Decodes one whole startup-phase packet (including its 4-byte length). Throws WardenError WARDEN_ERR_PROTOCOL on
 * anything malformed (length mismatch, missing terminators, a parameter without value, a duplicated parameter,
 * unknown request codes, a major version other than 3, invalid UTF-8) and WARDEN_ERR_MESSAGE_TOO_LARGE for a packet
 * longer than MAX_STARTUP_PACKET. Returned Buffers are copies, safe to keep.
 */
export function decodeStartupPacket(packet: Buffer): StartupPacket {
  if (packet.length < MIN_PACKET) throw protocolError(`invalid length of startup packet: ${packet.length} bytes`);
  if (packet.length > MAX_STARTUP_PACKET) throw tooLargeError(`startup packet of ${packet.length} bytes is too large`);
  const declared = packet.readInt32BE(0);
  if (declared !== packet.length) {
    throw protocolError(`invalid length of startup packet: declares ${declared} bytes, holds ${packet.length}`);
  }
  const code = packet.readUInt32BE(4);
  const major = code >>> 16;
  const minor = code & 0xffff;
  if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) {
    if (packet.length !== MIN_PACKET) throw protocolError('invalid length of SSL/GSSENC request packet');
    return { kind: code === SSL_REQUEST_CODE ? 'ssl' : 'gssenc' };
  }
  if (code === CANCEL_REQUEST_CODE) return decodeCancel(packet);
  if (major === SPECIAL_MAJOR) throw protocolError(`unknown startup request code ${major}.${minor}`);
  if (major !== 3) {
    throw protocolError(
      `unsupported frontend protocol ${major}.${minor}: server supports 3.0 to 3.${NEWEST_MINOR_VERSION}`,
    );
  }
  return { kind: 'startup', major, minor, params: decodeStartupParams(packet.subarray(MIN_PACKET)) };
}

/** CancelRequest payload: int32 process id, then the secret key filling the rest (4 bytes in 3.0, up to 256). */
function decodeCancel(packet: Buffer): StartupPacket {
  const keyLength = packet.length - MIN_PACKET - 4;
  if (keyLength < MIN_CANCEL_KEY || keyLength > MAX_CANCEL_KEY) {
    throw protocolError(`invalid length of cancel request packet: secret key of ${keyLength} bytes`);
  }
  return {
    kind: 'cancel',
    processId: packet.readInt32BE(MIN_PACKET),
    secretKey: Buffer.from(packet.subarray(MIN_PACKET + 4)),
  };
}

/**
 * Name/value pairs, each NUL-terminated, ended by an empty name; the terminator must be the last byte (as in
 * PostgreSQL's ProcessStartupPacket). Duplicates are refused rather than resolved: Warden and the upstream server
 * must never read different values of `user` or `database` from one packet.
 */
function decodeStartupParams(payload: Buffer): Record<string, string> {
  // A plain object keeps deepStrictEqual and spreading natural; defineProperty makes a parameter named
  // "__proto__" an ordinary own property instead of a prototype change.
  const params: Record<string, string> = {};
  const reader = new BodyReader(payload, 'startup packet');
  for (;;) {
    if (reader.remaining === 0) throw protocolError('invalid startup packet layout: expected terminator as last byte');
    const name = reader.cstring('parameter name');
    if (name === '') break;
    if (reader.remaining === 0) throw protocolError(`invalid startup packet layout: parameter "${name}" has no value`);
    const value = reader.cstring(`value of parameter "${name}"`);
    if (Object.prototype.hasOwnProperty.call(params, name)) {
      throw protocolError(`invalid startup packet: parameter "${name}" appears twice`);
    }
    Object.defineProperty(params, name, { value, enumerable: true, writable: true, configurable: true });
  }
  if (reader.remaining !== 0) throw protocolError('invalid startup packet layout: expected terminator as last byte');
  return params;
}

/**
 * Accumulates bytes of the untyped startup phase and hands out whole packets, one per push() at most.
 * After an SSLRequest or GSSENCRequest the engine must check that `rest` is empty before starting TLS: bytes sent
 * ahead of the handshake were not encrypted and must not be trusted (CVE-2021-23214).
 */
export class StartupReader {
  /** Bytes of an incomplete packet, copied: the caller's chunk buffers may be reused after push() returns. */
  private held: Buffer = EMPTY;

  /**
   * Adds a chunk. Returns the first complete packet and the bytes after it (possibly a view into `chunk`), or
   * undefined when more bytes are needed; the reader is then empty and ready for the next packet. Throws
   * WARDEN_ERR_PROTOCOL for a length < 8 and WARDEN_ERR_MESSAGE_TOO_LARGE for a length > MAX_STARTUP_PACKET.
   */
  push(chunk: Buffer): { packet: StartupPacket; rest: Buffer } | undefined {
    const heldLength = this.held.length;
    // A packet is at most MAX_STARTUP_PACKET bytes, so at most that much of the chunk is copied; the rest of a
    // large chunk is only viewed.
    const data = heldLength === 0 ? chunk : Buffer.concat([this.held, chunk.subarray(0, MAX_STARTUP_PACKET)]);
    if (data.length < 4) {
      this.held = Buffer.from(data);
      return undefined;
    }
    const length = data.readInt32BE(0);
    if (length < MIN_PACKET) throw protocolError(`invalid length of startup packet: ${length}`);
    if (length > MAX_STARTUP_PACKET) throw tooLargeError(`startup packet of ${length} bytes is too large`);
    if (data.length < length) {
      this.held = Buffer.from(data);
      return undefined;
    }
    this.held = EMPTY;
    // Held bytes are always fewer than `length` (they never form a whole packet), so the offset is >= 0.
    const rest = chunk.subarray(length - heldLength);
    return { packet: decodeStartupPacket(data.subarray(0, length)), rest };
  }

  /** Bytes of an incomplete packet currently held. */
  get pending(): number {
    return this.held.length;
  }
}

/** Encodes a frontend CancelRequest packet (Warden forwards a caller's cancel upstream with this). */
export function encodeCancelRequest(processId: number, secretKey: Buffer): Buffer {
  if (secretKey.length < MIN_CANCEL_KEY || secretKey.length > MAX_CANCEL_KEY) {
    throw internalError(`cancel secret key must be ${MIN_CANCEL_KEY} to ${MAX_CANCEL_KEY} bytes`);
  }
  const out = Buffer.allocUnsafe(12 + secretKey.length);
  out.writeInt32BE(out.length, 0);
  out.writeInt32BE(CANCEL_REQUEST_CODE, 4);
  out.writeInt32BE(processId | 0, 8);
  secretKey.copy(out, 12);
  return out;
}
