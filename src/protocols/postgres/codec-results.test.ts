import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Parser } from 'pg-protocol/dist/parser.js';
import { WardenError } from '../../errors.js';
import {
  decodeCopyOutResponse, decodeErrorFields, decodeNotification, decodeRowDescription, encodeFieldsMessage,
  encodeNotification, textMessage, wrapMessage,
} from './codec.js';

/** Parses whole backend messages with node-postgres' own parser, the reference a real client uses. */
function pgParse(bytes: Buffer): any[] {
  const out: any[] = [];
  new Parser().parse(bytes, (m: unknown) => out.push(m));
  return out;
}

test('RowDescription decodes every field', () => {
  const name = Buffer.from('email\0');
  const body = Buffer.alloc(2 + name.length + 18);
  body.writeUInt16BE(1, 0);
  name.copy(body, 2);
  let p = 2 + name.length;
  body.writeUInt32BE(16384, p); body.writeInt16BE(3, p + 4); body.writeUInt32BE(25, p + 6);
  body.writeInt16BE(-1, p + 10); body.writeInt32BE(-1, p + 12); body.writeInt16BE(0, p + 16);
  assert.deepEqual(decodeRowDescription(body), [{ name: 'email', tableOid: 16384, columnNumber: 3, typeOid: 25, typeSize: -1, typeModifier: -1, format: 0 }]);
  assert.throws(() => decodeRowDescription(body.subarray(0, body.length - 1)), (err: unknown) =>
    err instanceof WardenError && err.code === 'WARDEN_ERR_PROTOCOL' && /malformed RowDescription message/.test(err.message));
});

test('NotificationResponse round-trips and node-postgres reads what Warden writes', () => {
  const bytes = encodeNotification(42, 'chan', 'payload é');
  assert.deepEqual(decodeNotification(bytes.subarray(5)), { processId: 42, channel: 'chan', payload: 'payload é' });
  const [parsed] = pgParse(bytes);
  assert.equal(parsed.name, 'notification');
  assert.equal(parsed.payload, 'payload é');
});

test('error fields are re-encoded in full and read back by node-postgres', () => {
  const fields = { S: 'ERROR', V: 'ERROR', C: '23505', M: 'duplicate key', D: 'Key (email)=(a@b.com) already exists.', n: 'users_email_key' };
  const bytes = encodeFieldsMessage(0x45, fields);
  assert.deepEqual(decodeErrorFields(bytes.subarray(5)), fields);
  const [parsed] = pgParse(bytes);
  assert.equal(parsed.detail, fields.D);
  assert.equal(parsed.constraint, 'users_email_key');
});

test('CopyOutResponse and wrapped messages', () => {
  const body = Buffer.from([0, 0, 2, 0, 0, 0, 0]);
  assert.deepEqual(decodeCopyOutResponse(body), { format: 0, columnFormats: [0, 0] });
  const wrapped = wrapMessage(0x64, Buffer.from('a\tb\n'));
  assert.deepEqual([...wrapped.subarray(0, 5)], [0x64, 0, 0, 0, 8]);
  assert.deepEqual(textMessage(0x64, 'a\tb\n'), wrapped);
  assert.deepEqual(textMessage(0x64, 'é'), wrapMessage(0x64, Buffer.from('é')));
});
