/**
 * Fast-path FunctionCall messages judged as SQL (fastpath.ts): the built-in large-object functions by OID, every
 * other OID unknown, malformed bodies refused; and what the analyser makes of the statements they stand for.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeSql, initSqlAnalysis } from '../../analysis/sql/analyze.js';
import { WardenError } from '../../errors.js';
import { fastPathStatement, LARGE_OBJECT_FUNCTIONS, UNNAMED_FAST_PATH } from './fastpath.js';

/** A FunctionCall body: OID, binary argument formats, int4 arguments, text result. */
function call(oid: number, args: number[]): Buffer {
  const parts: Buffer[] = [];
  const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
  const i16 = (n: number) => { const b = Buffer.alloc(2); b.writeInt16BE(n); return b; };
  parts.push(u32(oid), i16(1), i16(1), i16(args.length));
  for (const a of args) parts.push(u32(4), u32(a));
  parts.push(i16(0));
  return Buffer.concat(parts);
}

before(() => initSqlAnalysis());

describe('fast-path function calls', () => {
  test('built-in large-object functions become SQL calls with one placeholder per argument', () => {
    assert.equal(fastPathStatement(call(954, [0, 8192])), 'SELECT pg_catalog.loread($1, $2)');
    assert.equal(fastPathStatement(call(952, [16459, 0x40000])), 'SELECT pg_catalog.lo_open($1, $2)');
    assert.equal(fastPathStatement(call(953, [0])), 'SELECT pg_catalog.lo_close($1)');
  });

  test('reads are reads, writes are writes, and any other OID is unknown', () => {
    const classes = (oid: number) => analyzeSql(fastPathStatement(call(oid, [1, 2]))).classes;
    for (const name of ['lo_open', 'lo_close', 'loread', 'lo_lseek', 'lo_lseek64', 'lo_tell', 'lo_tell64']) {
      const oid = [...LARGE_OBJECT_FUNCTIONS].find(([, n]) => n === name)![0];
      assert.deepEqual(classes(oid), ['read'], name);
    }
    for (const name of ['lowrite', 'lo_creat', 'lo_create', 'lo_unlink', 'lo_truncate', 'lo_truncate64']) {
      const oid = [...LARGE_OBJECT_FUNCTIONS].find(([, n]) => n === name)![0];
      assert.deepEqual(classes(oid), ['write'], name);
    }
    for (const oid of [0, 1, 2619, 16384, 4294967295]) {
      assert.equal(fastPathStatement(call(oid, [1])), UNNAMED_FAST_PATH);
      assert.deepEqual(classes(oid), ['unknown'], String(oid));
    }
  });

  test('a malformed body is a protocol error', () => {
    const good = call(954, [0, 8192]);
    for (const bad of [good.subarray(0, good.length - 1), Buffer.concat([good, Buffer.from([0])]), Buffer.alloc(3)]) {
      assert.throws(() => fastPathStatement(bad), (e: unknown) => e instanceof WardenError && e.code === 'WARDEN_ERR_PROTOCOL');
    }
  });
});
