/**
 * Codec of the result messages Warden rewrites when it masks: RowDescription, NotificationResponse,
 * CopyOutResponse and CopyData, and error/notice fields in full. Pure: Buffers in, Buffers out, no I/O.
 */
import { allocateMessage } from './codec-backend.js';
import { BodyReader } from './codec-reader.js';

/** One column of a RowDescription. */
export interface FieldDescription {
  name: string;
  /** OID of the source table, 0 when the column is computed. */
  tableOid: number;
  /** Column number in that table, 0 when computed. */
  columnNumber: number;
  typeOid: number;
  typeSize: number;
  typeModifier: number;
  /** 0 text, 1 binary. */
  format: number;
}

/** Decodes a RowDescription ('T') body. */
export function decodeRowDescription(body: Buffer): FieldDescription[] {
  const reader = new BodyReader(body, 'RowDescription message', 'lenient');
  const count = reader.uint16('field count');
  const fields: FieldDescription[] = [];
  for (let i = 0; i < count; i++) {
    fields.push({
      name: reader.cstring('field name'), tableOid: reader.uint32('table OID'), columnNumber: reader.int16('column number'),
      typeOid: reader.uint32('type OID'), typeSize: reader.int16('type size'), typeModifier: reader.int32('type modifier'),
      format: reader.int16('format code'),
    });
  }
  reader.end();
  return fields;
}

/** Decodes a NotificationResponse ('A') body. */
export function decodeNotification(body: Buffer): { processId: number; channel: string; payload: string } {
  const reader = new BodyReader(body, 'NotificationResponse message', 'lenient');
  const processId = reader.int32('process id');
  const channel = reader.cstring('channel');
  const payload = reader.cstring('payload');
  reader.end();
  return { processId, channel, payload };
}

/** Encodes a whole NotificationResponse message. */
export function encodeNotification(processId: number, channel: string, payload: string): Buffer {
  const channelBytes = Buffer.from(channel.replaceAll('\0', '\uFFFD'));
  const payloadBytes = Buffer.from(payload.replaceAll('\0', '\uFFFD'));
  const out = allocateMessage(0x41, 4 + channelBytes.length + 1 + payloadBytes.length + 1);
  out.writeInt32BE(processId, 5);
  channelBytes.copy(out, 9);
  out[9 + channelBytes.length] = 0;
  payloadBytes.copy(out, 10 + channelBytes.length);
  out[out.length - 1] = 0;
  return out;
}

/** Decodes a CopyOutResponse ('H') body: the overall format and one format per column. */
export function decodeCopyOutResponse(body: Buffer): { format: number; columnFormats: number[] } {
  const reader = new BodyReader(body, 'CopyOutResponse message', 'lenient');
  const format = reader.byte('format');
  const count = reader.uint16('column count');
  const columnFormats: number[] = [];
  for (let i = 0; i < count; i++) columnFormats.push(reader.int16('column format'));
  reader.end();
  return { format, columnFormats };
}

/** Encodes ErrorResponse ('E') or NoticeResponse ('N') with every field given, in order. */
export function encodeFieldsMessage(type: 0x45 | 0x4e, fields: Record<string, string>): Buffer {
  const parts = Object.entries(fields).map(([code, text]) => [code.charCodeAt(0), Buffer.from(text.replaceAll('\0', '\uFFFD'))] as const);
  let length = 1;
  for (const [, bytes] of parts) length += 2 + bytes.length;
  const out = allocateMessage(type, length);
  let pos = 5;
  for (const [code, bytes] of parts) {
    out[pos++] = code;
    bytes.copy(out, pos);
    pos += bytes.length;
    out[pos++] = 0;
  }
  out[pos] = 0;
  return out;
}

/** A whole message of `type` around `body` (a DataRow or CopyData rewritten by masking). */
export function wrapMessage(type: number, body: Buffer): Buffer {
  const out = allocateMessage(type, body.length);
  body.copy(out, 5);
  return out;
}

/** A whole message of `type` whose body is `text` in UTF-8 (a rewritten CopyData line), encoded in place: one copy. */
export function textMessage(type: number, text: string): Buffer {
  const out = allocateMessage(type, Buffer.byteLength(text, 'utf8'));
  out.write(text, 5, 'utf8');
  return out;
}
