/**
 * The fast-path FunctionCall message ('F'), as SQL the analyser can judge. libpq reaches large objects this way
 * (lo_open, loread, lo_close: what pg_dump does for every large object it dumps), naming each function by its OID
 * alone. The built-in large-object functions have OIDs fixed in PostgreSQL's catalog source (pg_proc.dat) in every
 * version, so such a call is judged as `SELECT pg_catalog.<name>($1, ...)`: loread is a read, lowrite and lo_unlink
 * are writes, by the same tables as any SQL call. Any other OID is a function Warden cannot name without the
 * server's catalog (a user's function, an extension's): it stays `<fast-path function call>`, which is unknown.
 *
 * Owns the OID table and the FunctionCall decoding. Pure: no I/O; reads caller bytes strictly (bounds-checked,
 * trailing bytes refused) and throws only WardenError.
 */
import { BodyReader } from './codec-reader.js';

/** What a FunctionCall of an OID Warden cannot name is judged as (unknown: refused unless a policy allows it). */
export const UNNAMED_FAST_PATH = '<fast-path function call>';

/** Built-in large-object functions libpq calls by OID (src/include/catalog/pg_proc.dat; stable across versions). */
export const LARGE_OBJECT_FUNCTIONS: ReadonlyMap<number, string> = new Map([
  [715, 'lo_create'], [952, 'lo_open'], [953, 'lo_close'], [954, 'loread'], [955, 'lowrite'], [956, 'lo_lseek'],
  [957, 'lo_creat'], [958, 'lo_tell'], [964, 'lo_unlink'], [1004, 'lo_truncate'], [3170, 'lo_lseek64'],
  [3171, 'lo_tell64'], [3172, 'lo_truncate64'],
]);

/**
 * The statement a FunctionCall body stands for: `SELECT pg_catalog.loread($1, $2)` for a known built-in, else
 * UNNAMED_FAST_PATH. Throws a protocol WardenError for a malformed body.
 */
export function fastPathStatement(body: Buffer): string {
  const r = new BodyReader(body, 'FunctionCall message');
  const oid = r.uint32('function OID');
  const formats = r.int16('argument format count');
  for (let i = 0; i < formats; i++) r.int16('argument format');
  const args = r.int16('argument count');
  for (let i = 0; i < args; i++) {
    const length = r.int32('argument length');
    if (length > 0) r.bytes(length, 'argument value');
  }
  r.int16('result format');
  r.end();
  const name = LARGE_OBJECT_FUNCTIONS.get(oid);
  if (name === undefined) return UNNAMED_FAST_PATH;
  const placeholders = Array.from({ length: Math.max(args, 0) }, (_, i) => `$${i + 1}`).join(', ');
  return `SELECT pg_catalog.${name}(${placeholders})`;
}
