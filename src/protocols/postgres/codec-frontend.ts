/**
 * Decoders of the frontend (caller to server) message bodies Warden inspects: Query, PasswordMessage, Parse, Bind,
 * Execute, Describe and Close. Input is a body as handed out by FrameScanner (the bytes after the 5-byte header).
 * These read caller bytes, so they are strict: every count is bounds-checked, text must be valid UTF-8, and
 * trailing bytes are an error. They must never do I/O and never throw anything but WardenError.
 */
import { recordedTextParam, type RecordedParam } from '../../recording/values.js';
import { BodyReader, protocolError } from './codec-reader.js';

/** Frontend message type bytes. Several letters mean something else coming from the server: see BACKEND. */
export const FRONTEND: Readonly<Record<string, number>> = Object.freeze({
  Bind: 0x42, // 'B'
  Close: 0x43, // 'C'
  CopyData: 0x64, // 'd'
  CopyDone: 0x63, // 'c'
  CopyFail: 0x66, // 'f'
  Describe: 0x44, // 'D'
  Execute: 0x45, // 'E'
  Flush: 0x48, // 'H'
  FunctionCall: 0x46, // 'F'
  Parse: 0x50, // 'P'
  /** PasswordMessage, and also GSSResponse, SASLInitialResponse and SASLResponse: the auth state says which. */
  PasswordMessage: 0x70, // 'p'
  Query: 0x51, // 'Q'
  Sync: 0x53, // 'S'
  Terminate: 0x58, // 'X'
});

/** A decoded Bind message. Parameter buffers are copies, safe to keep after the scanner's visit returns. */
export interface BindMessage {
  portal: string;
  statement: string;
  /** 0 entries (all text), 1 (applies to all) or one per parameter; each 0 (text) or 1 (binary). */
  paramFormats: number[];
  params: (Buffer | null)[];
  /** 0 entries (all text), 1 (applies to all) or one per result column; each 0 or 1. */
  resultFormats: number[];
}

/** Decodes a Query ('Q') body: the SQL text. */
export function decodeQuery(body: Buffer): string {
  const reader = new BodyReader(body, 'Query message');
  const sql = reader.cstring('query string');
  reader.end();
  return sql;
}

/** Decodes a cleartext PasswordMessage ('p') body. Only valid when cleartext auth was requested (not SASL). */
export function decodePassword(body: Buffer): string {
  const reader = new BodyReader(body, 'PasswordMessage');
  const password = reader.cstring('password');
  reader.end();
  return password;
}

/** Decodes a Parse ('P') body: statement name, SQL text and the parameter type OIDs (0 = unspecified). */
export function decodeParse(body: Buffer): { name: string; query: string; paramTypes: number[] } {
  const reader = new BodyReader(body, 'Parse message');
  const name = reader.cstring('statement name');
  const query = reader.cstring('query string');
  const count = reader.uint16('parameter type count');
  if (count * 4 > reader.remaining) throw protocolError('malformed Parse message: parameter types run past the end');
  const paramTypes = new Array<number>(count);
  for (let k = 0; k < count; k++) paramTypes[k] = reader.uint32('parameter type');
  reader.end();
  return { name, query, paramTypes };
}

/** Decodes a Bind ('B') body. Rejects format codes other than 0/1 and a format count that is not 0, 1 or N. */
export function decodeBind(body: Buffer): BindMessage {
  const reader = new BodyReader(body, 'Bind message');
  const portal = reader.cstring('portal name');
  const statement = reader.cstring('statement name');
  const paramFormats = readFormats(reader, 'parameter');
  const count = reader.uint16('parameter count');
  if (paramFormats.length > 1 && paramFormats.length !== count) {
    throw protocolError(
      `malformed Bind message: ${paramFormats.length} parameter formats but ${count} parameters`,
    );
  }
  // Each parameter needs at least its 4-byte length: refuse an absurd count before allocating for it.
  if (count * 4 > reader.remaining) throw protocolError('malformed Bind message: parameters run past the end');
  const params = new Array<Buffer | null>(count);
  for (let k = 0; k < count; k++) {
    const length = reader.int32(`length of parameter ${k + 1}`);
    if (length === -1) params[k] = null;
    else if (length < 0) throw protocolError(`malformed Bind message: parameter ${k + 1} has length ${length}`);
    else params[k] = reader.bytes(length, `parameter ${k + 1}`);
  }
  const resultFormats = readFormats(reader, 'result');
  reader.end();
  return { portal, statement, paramFormats, params, resultFormats };
}

/** Reads an Int16 count followed by that many Int16 format codes, each 0 (text) or 1 (binary). */
function readFormats(reader: BodyReader, what: string): number[] {
  const count = reader.uint16(`${what} format count`);
  if (count * 2 > reader.remaining) throw protocolError(`malformed Bind message: ${what} formats run past the end`);
  const formats = new Array<number>(count);
  for (let k = 0; k < count; k++) {
    const format = reader.int16(`${what} format`);
    if (format !== 0 && format !== 1) {
      throw protocolError(`malformed Bind message: unsupported ${what} format code ${format}`);
    }
    formats[k] = format;
  }
  return formats;
}

/** Decodes an Execute ('E') body. maxRows 0 (or negative, as PostgreSQL reads it) means "all rows". */
export function decodeExecute(body: Buffer): { portal: string; maxRows: number } {
  const reader = new BodyReader(body, 'Execute message');
  const portal = reader.cstring('portal name');
  const maxRows = reader.int32('row limit');
  reader.end();
  return { portal, maxRows };
}

/** Decodes a caller's Describe ('D') or Close ('C') body: 'S' (statement) or 'P' (portal), then a name. */
export function decodeDescribeOrClose(body: Buffer): { which: 'S' | 'P'; name: string } {
  const reader = new BodyReader(body, 'Describe/Close message');
  const which = reader.byte('target kind');
  if (which !== 0x53 && which !== 0x50) {
    throw protocolError(`malformed Describe/Close message: target kind 0x${which.toString(16)} is neither S nor P`);
  }
  const name = reader.cstring('name');
  reader.end();
  return { which: which === 0x53 ? 'S' : 'P', name };
}

/**
 * Renders Bind parameters for the recording: text-format parameters as UTF-8 strings (invalid bytes shown as
 * U+FFFD: this is a record, not a decision input), long ones as a prefix, length and hash with only the prefix
 * decoded (recording/values.ts), binary ones as `<binary N bytes>`, NULL as null.
 */
export function bindParamsAsText(bind: BindMessage): RecordedParam[] {
  const { paramFormats, params } = bind;
  const out = new Array<RecordedParam>(params.length);
  for (let k = 0; k < params.length; k++) {
    const value = params[k];
    // Per the protocol: no format codes means all text, one applies to all, otherwise one per parameter.
    const format = paramFormats.length === 0 ? 0 : paramFormats.length === 1 ? paramFormats[0] : paramFormats[k];
    if (value === null) out[k] = null;
    else if (format === 1) out[k] = `<binary ${value.length} bytes>`;
    else out[k] = recordedTextParam(value);
  }
  return out;
}
