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
    options: '-c statement_timeout=5s --search_path=public' });
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
  assert.deepEqual(filterStartupParams({ replication: 'false' }).forward, {});
});
