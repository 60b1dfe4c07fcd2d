import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initSqlAnalysis } from '../../analysis/sql/analyze.js';
import { WardenError } from '../../errors.js';
import type { Command, PostgresTarget } from '../../session/types.js';
import { TableCatalog } from './catalog.js';
import { ResultMasker, type MaskRules } from './result-masking.js';

const KEY = Buffer.from('result-masking-test-key-0123456');
const TARGET: PostgresTarget = { name: 'pg-t', type: 'postgres', host: '127.0.0.1', port: 1, database: 'app', user: 'u', tls: 'disable', ca: null, labels: {} };
const ISSUE: MaskRules = [{ rule: 'pii-masking/mask-pii', items: [
  { columns: ['*.email'], strategy: 'partial' },
  { columns: ['public.customers.card_number'], strategy: 'redact' },
  { detectors: ['card', 'email', 'jwt', 'aws_access_key'], strategy: 'redact' },
] }];
const CONTENT_ONLY: MaskRules = [{ rule: 'p/support', items: [{ detectors: ['email', 'card'], strategy: 'redact' }] }];
const UTF8 = { client_encoding: 'UTF8', server_encoding: 'UTF8' };

/** A masker whose catalog is never reached: these tests only take paths that need no table names. */
function masker(rules: MaskRules, parameters: Record<string, string> = UTF8): ResultMasker {
  return new ResultMasker(rules, KEY, new TableCatalog(TARGET, 'app', () => Promise.reject(new Error('no catalog in unit tests'))), parameters);
}

function sql(text: string): Command {
  return { protocol: 'postgres', kind: 'sql', text };
}

function copyOut(columns: number, format = 0): Buffer {
  const body = Buffer.alloc(3 + 2 * columns);
  body[0] = format;
  body.writeUInt16BE(columns, 1);
  return body;
}

function parameterStatus(name: string, value: string): Buffer {
  return Buffer.from(`${name}\0${value}\0`);
}

const forbidden = (e: unknown) => e instanceof WardenError && e.code === 'WARDEN_ERR_FORBIDDEN';

before(() => initSqlAnalysis());

describe('statements refused before they run', () => {
  test('with column rules: COPY (query), binary, CSV and another ENCODING; a table COPY in text format runs', () => {
    const m = masker(ISSUE);
    assert.match(m.refusal(sql('COPY (SELECT email FROM customers) TO STDOUT')) ?? '', /COPY \(query\) TO STDOUT is refused/);
    assert.match(m.refusal(sql('SELECT 1; copy customers to stdout with binary')) ?? '', /binary format is refused/);
    assert.match(m.refusal(sql('COPY customers TO STDOUT CSV')) ?? '', /CSV TO STDOUT is refused/);
    assert.match(m.refusal(sql("COPY customers TO STDOUT (ENCODING 'LATIN1')")) ?? '', /ENCODING "LATIN1" is refused/);
    assert.equal(m.refusal(sql('COPY customers (email) TO STDOUT')), null);
    assert.equal(m.refusal(sql("COPY customers TO STDOUT (ENCODING 'utf-8')")), null);
    assert.equal(m.refusal(sql('COPY customers FROM STDIN CSV')), null, 'COPY FROM sends no rows');
    assert.equal(m.refusal(sql('SELECT email FROM customers')), null);
  });

  test('with content rules only, COPY (query) and CSV run (every field is scanned); binary is still refused', () => {
    const m = masker(CONTENT_ONLY);
    assert.equal(m.refusal(sql('COPY (SELECT email FROM customers) TO STDOUT CSV')), null);
    assert.match(m.refusal(sql('COPY (SELECT 1) TO STDOUT (FORMAT binary)')) ?? '', /binary/);
    // A value that changed form (reversed, hex) may no longer look like what the detectors find.
    assert.match(m.refusal(sql('COPY (SELECT reverse(card) FROM t) TO STDOUT')) ?? '', /changing their form, is refused/);
    assert.match(m.refusal(sql("COPY (SELECT 1) TO STDOUT; COPY (SELECT to_hex(n) FROM t) TO STDOUT")) ?? '', /refused/);
    assert.match(m.refusal(sql("COPY t TO STDOUT (NULL 'guess')")) ?? '', /NULL string of its own is refused/);
    assert.equal(m.refusal(sql("COPY t TO STDOUT (NULL '\\N')")), null, 'the default NULL string');
    assert.equal(m.refusal(sql("COPY t FROM STDIN (NULL 'x')")), null, 'COPY FROM compares the caller\'s own input');
  });

  test('SET client_encoding to anything but UTF8 is refused', () => {
    const m = masker(CONTENT_ONLY);
    assert.match(m.refusal(sql("SET client_encoding TO 'LATIN1'")) ?? '', /client_encoding must stay UTF8/);
    assert.match(m.refusal(sql("SET NAMES 'SJIS'")) ?? '', /SJIS/);
    assert.equal(m.refusal(sql("SET client_encoding = 'unicode'")), null);
  });
});

describe('client encodings', () => {
  test('the wire must carry UTF-8: SQL_ASCII counts as the database encoding', () => {
    assert.equal(masker(CONTENT_ONLY).encodingRefusal(), null);
    assert.equal(masker(CONTENT_ONLY, { client_encoding: 'SQL_ASCII', server_encoding: 'UTF8' }).encodingRefusal(), null);
    assert.match(masker(CONTENT_ONLY, { client_encoding: 'LATIN1', server_encoding: 'UTF8' }).encodingRefusal() ?? '', /"LATIN1"/);
    assert.match(masker(CONTENT_ONLY, { client_encoding: 'SQL_ASCII', server_encoding: 'SQL_ASCII' }).encodingRefusal() ?? '', /SQL_ASCII/);
  });

  test('a ParameterStatus that switches away from UTF8 stops the results', () => {
    const m = masker(CONTENT_ONLY);
    assert.equal(m.transform(0x53, parameterStatus('application_name', 'psql')), null);
    assert.equal(m.transform(0x53, parameterStatus('client_encoding', 'UTF8')), null);
    assert.throws(() => m.transform(0x53, parameterStatus('client_encoding', 'WIN1252')), forbidden);
  });
});

describe('COPY rows without column rules', () => {
  test('every field of every line is scanned, a header line is left alone, and a COPY row that is not UTF-8 stops', () => {
    const m = masker(CONTENT_ONLY);
    const running = { command: sql('COPY t TO STDOUT WITH (HEADER)'), simple: true };
    assert.equal(m.lookupBefore(0x48, copyOut(2), running), null, 'no table to look up');
    assert.equal(m.transform(0x48, copyOut(2), running), null);
    assert.equal(m.transform(0x64, Buffer.from('email\tnote\n')), null, 'the header');
    assert.equal(m.transform(0x64, Buffer.from('a@b.io\tplain\n'))?.subarray(5).toString(), '[REDACTED]\tplain\n');
    assert.equal(m.transform(0x64, Buffer.from('x\tcard 4111 1111 1111 1111\n'))?.subarray(5).toString(), 'x\tcard [REDACTED]\n');
    assert.throws(() => m.transform(0x64, Buffer.from([0x61, 0xe9, 0x0a])), forbidden);
    assert.equal(m.transform(0x43, Buffer.from('COPY 2\0')), null);
  });

  test('a binary CopyOutResponse is refused', () => {
    const m = masker(CONTENT_ONLY);
    assert.throws(() => m.transform(0x48, copyOut(1, 1), { command: sql('COPY t TO STDOUT'), simple: true }), forbidden);
  });

  test('with column rules, a COPY whose statement Warden cannot tell is refused', () => {
    const m = masker(ISSUE);
    assert.throws(() => m.transform(0x48, copyOut(1), undefined), forbidden);
  });
});
