import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WardenError } from '../../errors.js';
import { filterStartupParams } from './params.js';

test('forwards formatting settings and drops user and database', () => {
  const { forward, extensions } = filterStartupParams({
    user: 'alice', database: 'pg-main', application_name: 'psql', client_encoding: 'UTF8', DateStyle: 'ISO, MDY',
    options: '-c statement_timeout=5s --search_path=public', '_pq_.test_ext': 'on',
  });
  assert.deepEqual(forward, { application_name: 'psql', client_encoding: 'UTF8', DateStyle: 'ISO, MDY',
    options: '-c statement_timeout=5s --search_path=public', standard_conforming_strings: 'on' });
  assert.deepEqual(extensions, ['_pq_.test_ext']);
});

test('refuses settings that could change identity or privileges', () => {
  const refused: Record<string, string>[] = [
    { role: 'postgres' }, { session_authorization: 'postgres' }, { options: '-c role=postgres' },
    { options: '-crole=postgres' }, { options: '--session-authorization=postgres' }, { options: '-c' },
    { options: 'statement_timeout=1' }, { replication: 'database' }, { replication: 'true' },
  ];
  for (const params of refused) {
    assert.throws(() => filterStartupParams(params), (err: unknown) =>
      err instanceof WardenError && err.code === 'WARDEN_ERR_UNSUPPORTED', JSON.stringify(params));
  }
});

test('replication=false is accepted and not forwarded', () => {
  assert.deepEqual(filterStartupParams({ replication: 'false' }).forward, { standard_conforming_strings: 'on', client_encoding: 'UTF8' });
});

test('pins standard_conforming_strings on and client_encoding UTF8, whatever the caller asked for', () => {
  const pinned = { standard_conforming_strings: 'on', client_encoding: 'UTF8' };
  assert.deepEqual(filterStartupParams({}).forward, pinned, 'sent even when the caller sends neither');
  for (const params of <Record<string, string>[]>[{ client_encoding: 'utf-8' }, { Client_Encoding: 'Unicode' }, { client_encoding: 'SQL_ASCII' },
    { standard_conforming_strings: 'ON' }, { standard_conforming_strings: 'true' }, { options: '-c standard_conforming_strings=on' },
    { options: '--client-encoding=UTF8' }]) {
    const { forward } = filterStartupParams(params);
    assert.equal(forward.client_encoding, 'UTF8', JSON.stringify(params));
    assert.equal(forward.standard_conforming_strings, 'on', JSON.stringify(params));
    assert.ok(!('Client_Encoding' in forward));
  }
});

test('refuses every other client_encoding and standard_conforming_strings value, as a parameter or an option', () => {
  const encodings = ['SJIS', 'BIG5', 'GBK', 'GB18030', 'UHC', 'JOHAB', 'LATIN1', 'EUC_JP', 'WIN1252', 'auto', 'KOI8R', 'MULE_INTERNAL'];
  const refused: Record<string, string>[] = [
    ...encodings.map((e) => ({ client_encoding: e })), ...encodings.map((e) => ({ CLIENT_ENCODING: e })),
    ...encodings.map((e) => ({ options: `-c client_encoding=${e}` })),
    { standard_conforming_strings: 'off' }, { standard_conforming_strings: '0' }, { standard_conforming_strings: 'false' },
    { options: '-c standard_conforming_strings=off' }, { options: '--standard-conforming-strings=off' },
    { options: '-cstandard_conforming_strings=no' }, { options: '-c standard\\_conforming_strings=off' },
    { options: '-c search_path=a\\ -c\\ standard_conforming_strings=off' },
  ];
  for (const params of refused) {
    assert.throws(() => filterStartupParams(params), (err: unknown) =>
      err instanceof WardenError && err.code === 'WARDEN_ERR_UNSUPPORTED', JSON.stringify(params));
  }
});
