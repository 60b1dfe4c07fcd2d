/**
 * How values a caller sent are kept in a recording: short ones as they are, long ones as a prefix, their length and
 * a SHA-256 of the whole value, so a caller cannot turn one 64 MiB parameter into a 64 MiB event (and a 64 MiB
 * decode). Only the prefix is ever decoded. The hash lets an auditor check a value they hold against the record.
 * Pure: no I/O, never throws.
 */
import { createHash } from 'node:crypto';

/** A value too long to record whole: its first bytes (decoded), its length in bytes and the SHA-256 of all of it. */
export interface LongValue {
  prefix: string;
  bytes: number;
  sha256: string;
}

/** A bound parameter as recorded: text, null (SQL NULL), `<binary N bytes>`, or a LongValue. */
export type RecordedParam = string | null | LongValue;

/** Parameters longer than this (bytes) are recorded as a LongValue. */
export const MAX_RECORDED_PARAM_BYTES = 1024;
/** Bytes of a long parameter kept as its prefix. */
export const PARAM_PREFIX_BYTES = 256;
/** Statement texts longer than this (UTF-16 code units) are recorded as a LongValue. */
export const MAX_RECORDED_TEXT_CHARS = 1024 * 1024;
/** Characters of a long statement text kept as its prefix. */
export const TEXT_PREFIX_CHARS = 64 * 1024;

/** The end of the longest prefix of `bytes` within `limit` that does not cut a UTF-8 character. */
function utf8Boundary(bytes: Buffer, limit: number): number {
  let end = Math.min(limit, bytes.length);
  if (end === bytes.length) return end;
  // Back off over continuation bytes (10xxxxxx) so the cut falls before a character's lead byte.
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return end;
}

/** A text-format parameter's bytes as recorded: decoded whole when short, otherwise only its prefix is decoded. */
export function recordedTextParam(bytes: Buffer): RecordedParam {
  if (bytes.length <= MAX_RECORDED_PARAM_BYTES) return bytes.toString('utf8');
  return {
    prefix: bytes.subarray(0, utf8Boundary(bytes, PARAM_PREFIX_BYTES)).toString('utf8'),
    bytes: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
}

/** A statement text as recorded: whole up to MAX_RECORDED_TEXT_CHARS, else a LongValue over its UTF-8 bytes. */
export function recordedText(text: string): string | LongValue {
  if (text.length <= MAX_RECORDED_TEXT_CHARS) return text;
  let cut = TEXT_PREFIX_CHARS;
  // Never split a surrogate pair.
  const code = text.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut--;
  return {
    prefix: text.slice(0, cut),
    bytes: Buffer.byteLength(text, 'utf8'),
    sha256: createHash('sha256').update(text, 'utf8').digest('hex'),
  };
}

/** True for a LongValue (as read back from a recording, where it is plain JSON). */
export function isLongValue(v: unknown): v is LongValue {
  return typeof v === 'object' && v !== null && typeof (v as LongValue).prefix === 'string'
    && typeof (v as LongValue).bytes === 'number' && typeof (v as LongValue).sha256 === 'string';
}
