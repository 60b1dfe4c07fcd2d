/**
 * Backend (server to caller) messages: decoders of the few upstream bodies Warden records (CommandComplete,
 * ErrorResponse/NoticeResponse, ParameterStatus, BackendKeyData) and encoders of the messages Warden itself sends
 * to callers while it plays the server (authentication, parameter status, key data, errors, ReadyForQuery,
 * NegotiateProtocolVersion). It must never do I/O and never produce a frame that does not parse: strings are
 * written NUL-terminated, so an embedded NUL is replaced by U+FFFD rather than cutting the message short.
 */
import { BodyReader, internalError, protocolError } from './codec-reader.js';
import { MAX_CANCEL_KEY, MIN_CANCEL_KEY } from './codec-startup.js';

/** Backend message type bytes. Several letters mean something else coming from the caller: see FRONTEND. */
export const BACKEND: Readonly<Record<string, number>> = Object.freeze({
  Authentication: 0x52, // 'R' (AuthenticationOk, ...CleartextPassword, ...SASL, and the other requests)
  BackendKeyData: 0x4b, // 'K'
  BindComplete: 0x32, // '2'
  CloseComplete: 0x33, // '3'
  CommandComplete: 0x43, // 'C'
  CopyData: 0x64, // 'd'
  CopyDone: 0x63, // 'c'
  CopyInResponse: 0x47, // 'G'
  CopyOutResponse: 0x48, // 'H'
  CopyBothResponse: 0x57, // 'W'
  DataRow: 0x44, // 'D'
  EmptyQueryResponse: 0x49, // 'I'
  ErrorResponse: 0x45, // 'E'
  FunctionCallResponse: 0x56, // 'V'
  NegotiateProtocolVersion: 0x76, // 'v'
  NoData: 0x6e, // 'n'
  NoticeResponse: 0x4e, // 'N'
  NotificationResponse: 0x41, // 'A'
  ParameterDescription: 0x74, // 't'
  ParameterStatus: 0x53, // 'S'
  ParseComplete: 0x31, // '1'
  PortalSuspended: 0x73, // 's'
  ReadyForQuery: 0x5a, // 'Z'
  RowDescription: 0x54, // 'T'
});

// ---- decoders (upstream bodies; text is decoded leniently because it is recorded, never used to decide) ----

/** Decodes a CommandComplete ('C' from the server) body: the command tag, e.g. "SELECT 3". */
export function decodeCommandComplete(body: Buffer): string {
  const reader = new BodyReader(body, 'CommandComplete message', 'lenient');
  const tag = reader.cstring('command tag');
  reader.end();
  return tag;
}

// The tags that end in a row count; INSERT carries an OID (always 0 since PostgreSQL 12) before it.
const ROW_COUNT_TAG = /^(?:INSERT \d+|SELECT|UPDATE|DELETE|MERGE|FETCH|MOVE|COPY) (\d+)$/;

/** The row count of a command tag: "INSERT 0 5" -> 5, "SELECT 3" -> 3, "COPY 10" -> 10, "BEGIN" -> undefined. */
export function rowsFromCommandTag(tag: string): number | undefined {
  const match = ROW_COUNT_TAG.exec(tag);
  return match ? Number(match[1]) : undefined;
}

/**
 * Decodes an ErrorResponse/NoticeResponse ('E'/'N') body into field code letter -> value, e.g.
 * { S: 'ERROR', V: 'ERROR', C: '42P01', M: '...' }. A repeated code keeps the last value.
 */
export function decodeErrorFields(body: Buffer): Record<string, string> {
  const reader = new BodyReader(body, 'ErrorResponse/NoticeResponse message', 'lenient');
  const fields: Record<string, string> = {};
  for (;;) {
    const code = reader.byte('field code');
    if (code === 0) break;
    // Keys are single characters, so none can be "__proto__"; plain assignment is safe.
    fields[String.fromCharCode(code)] = reader.cstring(`field ${String.fromCharCode(code)}`);
  }
  reader.end();
  return fields;
}

/** Decodes a ParameterStatus ('S' from the server) body. */
export function decodeParameterStatus(body: Buffer): { name: string; value: string } {
  const reader = new BodyReader(body, 'ParameterStatus message', 'lenient');
  const name = reader.cstring('parameter name');
  const value = reader.cstring('parameter value');
  reader.end();
  return { name, value };
}

/** Decodes a BackendKeyData ('K') body: 4-byte process id, then the secret key (4 bytes in 3.0, up to 256 in 3.2). */
export function decodeBackendKeyData(body: Buffer): { processId: number; secretKey: Buffer } {
  const reader = new BodyReader(body, 'BackendKeyData message', 'lenient');
  const processId = reader.int32('process id');
  const keyLength = reader.remaining;
  if (keyLength < MIN_CANCEL_KEY || keyLength > MAX_CANCEL_KEY) {
    throw protocolError(`malformed BackendKeyData message: secret key of ${keyLength} bytes`);
  }
  return { processId, secretKey: reader.bytes(keyLength, 'secret key') };
}

// ---- encoders (whole messages, header included) ----

/** The fields Warden puts in an ErrorResponse or NoticeResponse it sends to a caller. */
export interface PgErrorFields {
  /** Written as both S and V, in PostgreSQL's non-localized spelling. */
  severity: 'ERROR' | 'FATAL' | 'PANIC' | 'WARNING' | 'NOTICE' | 'DEBUG' | 'INFO' | 'LOG';
  /** SQLSTATE, five characters, e.g. '28P01'. */
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

/** Encodes AuthenticationCleartextPassword: R, length 8, int32 3. */
export function encodeAuthenticationCleartextPassword(): Buffer {
  return authentication(3);
}

/** Encodes AuthenticationOk: R, length 8, int32 0. */
export function encodeAuthenticationOk(): Buffer {
  return authentication(0);
}

function authentication(request: number): Buffer {
  const out = allocateMessage(0x52, 4);
  out.writeInt32BE(request, 5);
  return out;
}

/** Encodes a ParameterStatus ('S') message. */
export function encodeParameterStatus(name: string, value: string): Buffer {
  const n = safeText(name);
  const v = safeText(value);
  const out = allocateMessage(0x53, Buffer.byteLength(n) + Buffer.byteLength(v) + 2);
  writeCString(out, writeCString(out, 5, n), v);
  return out;
}

/** Encodes a BackendKeyData ('K') message; the key must be 4 to 256 bytes (exactly 4 for a 3.0 caller). */
export function encodeBackendKeyData(processId: number, secretKey: Buffer): Buffer {
  if (secretKey.length < MIN_CANCEL_KEY || secretKey.length > MAX_CANCEL_KEY) {
    throw internalError(`BackendKeyData secret key must be ${MIN_CANCEL_KEY} to ${MAX_CANCEL_KEY} bytes`);
  }
  const out = allocateMessage(0x4b, 4 + secretKey.length);
  out.writeInt32BE(processId | 0, 5);
  secretKey.copy(out, 9);
  return out;
}

/** Encodes ReadyForQuery ('Z'): I idle, T in a transaction, E in a failed transaction. */
export function encodeReadyForQuery(status: 'I' | 'T' | 'E'): Buffer {
  if (status !== 'I' && status !== 'T' && status !== 'E') throw internalError(`bad ReadyForQuery status ${status}`);
  const out = allocateMessage(0x5a, 1);
  out[5] = status.charCodeAt(0);
  return out;
}

/** Encodes an ErrorResponse ('E') with fields S and V (both the severity), C, M and the optional D and H. */
export function encodeErrorResponse(fields: PgErrorFields): Buffer {
  return encodeFields(0x45, fields);
}

/** Encodes a NoticeResponse ('N'), same fields as encodeErrorResponse. */
export function encodeNoticeResponse(fields: PgErrorFields): Buffer {
  return encodeFields(0x4e, fields);
}

function encodeFields(type: number, fields: PgErrorFields): Buffer {
  const pairs: [number, string][] = [
    [0x53, fields.severity], // S: severity (localized in PostgreSQL; Warden does not localize)
    [0x56, fields.severity], // V: severity, never localized
    [0x43, fields.code], // C: SQLSTATE
    [0x4d, fields.message], // M
  ];
  if (fields.detail !== undefined) pairs.push([0x44, fields.detail]); // D
  if (fields.hint !== undefined) pairs.push([0x48, fields.hint]); // H
  const texts = pairs.map(([, text]) => safeText(String(text)));
  let length = 1; // the terminating zero byte
  for (const text of texts) length += 2 + Buffer.byteLength(text);
  const out = allocateMessage(type, length);
  let pos = 5;
  for (let k = 0; k < pairs.length; k++) {
    out[pos++] = pairs[k][0];
    pos = writeCString(out, pos, texts[k]);
  }
  out[pos] = 0;
  return out;
}

/**
 * Encodes NegotiateProtocolVersion ('v'): the newest minor version supported for the requested major, and the
 * protocol options (`_pq_.*` parameters) that were not recognised.
 */
export function encodeNegotiateProtocolVersion(newestMinor: number, unrecognized: string[]): Buffer {
  const names = unrecognized.map(safeText);
  let length = 8;
  for (const name of names) length += Buffer.byteLength(name) + 1;
  const out = allocateMessage(0x76, length);
  out.writeInt32BE(newestMinor | 0, 5);
  out.writeInt32BE(names.length, 9);
  let pos = 13;
  for (const name of names) pos = writeCString(out, pos, name);
  return out;
}

/** Allocates a whole message and writes its 5-byte header; the body is filled by the caller. */
export function allocateMessage(type: number, bodyLength: number): Buffer {
  const out = Buffer.allocUnsafe(5 + bodyLength);
  out[0] = type;
  out.writeInt32BE(4 + bodyLength, 1);
  return out;
}

/** Writes text and its NUL terminator at pos; returns the position after the terminator. */
function writeCString(out: Buffer, pos: number, text: string): number {
  const end = pos + out.write(text, pos, 'utf8');
  out[end] = 0;
  return end + 1;
}

/** An embedded NUL would end the string early and desynchronise the caller's parser, so it becomes U+FFFD. */
function safeText(text: string): string {
  return text.includes('\0') ? text.replaceAll('\0', '\uFFFD') : text;
}
