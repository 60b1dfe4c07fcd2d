/**
 * The pinned settings (settings.ts): every way a statement can change standard_conforming_strings or
 * client_encoding is refused whatever the policies say (`refusal` set, `unknown` among its classes), under every
 * spelling, quoting and case; values that keep the pin, RESET and DEFAULT pass; a set_config whose setting name
 * the query pins through pg_settings (pg_dump's form) is judged as that setting.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluate } from '../../policy/evaluate.js';
import { fromSqlAnalysis, postgresProtocol } from '../../protocols/postgres/definition.js';
import { analyzeSql, initSqlAnalysis } from './analyze.js';

await initSqlAnalysis();

const REFUSED = [
  'SET standard_conforming_strings = off',
  'SET standard_conforming_strings TO false',
  "set STANDARD_CONFORMING_STRINGS = 'off'",
  'SET "standard_conforming_strings" = off',
  'SET SESSION standard_conforming_strings = off',
  'SET LOCAL standard_conforming_strings = off',
  'SET standard_conforming_strings = 0',
  'SET standard_conforming_strings = 1',
  "SET standard_conforming_strings = 'on', 'off'",
  "SET client_encoding = 'SJIS'",
  "SET client_encoding TO 'BIG5'",
  "SET NAMES 'GBK'",
  "set names 'LATIN1'",
  "SET client_encoding = 'SQL_ASCII'",
  "SET LOCAL client_encoding = 'EUC_JP'",
  "select set_config('standard_conforming_strings', 'off', false)",
  "select pg_catalog.set_config('Standard_Conforming_Strings', 'off', true)",
  "select set_config(' client_encoding ', 'SJIS', false)",
  "select set_config('client_encoding'::text, 'SJIS', false)",
  "select set_config(E'client\\x5fencoding', 'SJIS', false)",
  "select set_config(U&'client\\005fencoding', 'SJIS', false)",
  "select set_config('client_encoding', current_setting('x.enc'), false)",
  "select set_config('standard_' || 'conforming_strings', 'off', false)",
  'select set_config($1, $2, false)',
  "select set_config(setting_name => 'work_mem', new_value => '1MB', is_local => false)",
  "SELECT set_config(name, 'off', false) FROM pg_settings WHERE name = 'standard_conforming_strings'",
  "SELECT set_config(name, 'off', false) FROM pg_settings WHERE name IN ('work_mem', 'standard_conforming_strings')",
  "SELECT set_config(name, 'x', false) FROM pg_settings WHERE name LIKE 'work%'",
  "SELECT set_config(name, 'x', false) FROM pg_settings WHERE name = 'work_mem' OR true",
  "SELECT set_config(name, 'x', false) FROM pg_settings AS s(name) WHERE name = 'work_mem'",
  "SELECT set_config(name, 'x', false) FROM public.pg_settings WHERE name = 'work_mem'",
  "SELECT 1 FROM pg_settings WHERE name = 'work_mem' AND set_config(name, 'x', false) IS NOT NULL",
  "UPDATE pg_settings SET setting = 'off' WHERE name = 'standard_conforming_strings'",
  "UPDATE pg_settings SET setting = 'SJIS' WHERE name LIKE 'client%'",
  'CREATE FUNCTION f() RETURNS int LANGUAGE sql SET standard_conforming_strings = off AS $$ SELECT 1 $$',
  "CREATE PROCEDURE p() LANGUAGE sql SET client_encoding = 'SJIS' AS $$ SELECT 1 $$",
  'ALTER FUNCTION f() SET standard_conforming_strings = off',
  'ALTER ROLE app SET standard_conforming_strings = off',
  "ALTER DATABASE app SET client_encoding = 'SJIS'",
  "ALTER ROLE app IN DATABASE app SET client_encoding TO 'BIG5'",
  'ALTER SYSTEM SET standard_conforming_strings = off',
  "DO $$ BEGIN PERFORM set_config('standard_conforming_strings', 'off', false); END $$",
  'DO $$ BEGIN SET standard_conforming_strings = off; END $$',
  "CREATE FUNCTION g() RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'SELECT 1'; PERFORM set_config('client_encoding', 'SJIS', false); END $$",
  "CREATE FUNCTION h() RETURNS text LANGUAGE sql AS $$ SELECT set_config('standard_conforming_strings', 'off', false) $$",
  "CREATE VIEW v AS SELECT set_config('standard_conforming_strings', 'off', false)",
  "PREPARE p AS SELECT set_config('standard_conforming_strings', 'off', false)",
  "EXPLAIN ANALYZE SELECT set_config('standard_conforming_strings', 'off', false)",
  "SELECT 1; SET standard_conforming_strings = off; SELECT 2",
  "select query_to_xml('select set_config(''standard_conforming_strings'', ''off'', false)', true, true, '')",
];

const KEPT = [
  'SET standard_conforming_strings = on',
  "SET standard_conforming_strings TO 'true'",
  'SET LOCAL standard_conforming_strings = yes',
  'RESET standard_conforming_strings',
  'SET standard_conforming_strings TO DEFAULT',
  "SET client_encoding = 'UTF8'",
  "SET NAMES 'utf-8'",
  "set client_encoding to 'Unicode'",
  'RESET client_encoding',
  'RESET ALL',
  'DISCARD ALL',
  "select set_config('client_encoding', 'UTF8', false)",
  "select set_config('standard_conforming_strings', 'on', true)",
  "select set_config('search_path', '', false)",
  "SELECT pg_catalog.set_config('search_path', '', false)",
  "SELECT set_config(name, 'view, foreign-table', false) FROM pg_settings WHERE name = 'restrict_nonsystem_relation_kind'",
  "SELECT set_config(s.name, 'x', false) FROM pg_catalog.pg_settings s WHERE s.name = 'application_name' AND true",
  "SELECT set_config(name, '1MB', false) FROM pg_settings WHERE 'work_mem' = name",
  "SELECT set_config(name, 'x', false) FROM pg_settings WHERE name IN ('work_mem', 'application_name')",
  "UPDATE pg_settings SET setting = '1MB' WHERE name = 'work_mem'",
  'SHOW standard_conforming_strings',
  'SET escape_string_warning = off',
  'SET backslash_quote = on',
];

const ALLOW_ALL = [{ name: 'all', rules: [{ name: 'all', effect: 'allow' as const }] }];
const subject = { id: 'a', kind: 'user' as const, groups: [], chain: [], tokenId: 't' };
const target = { name: 'pg-main', type: 'postgres', host: '', port: 0, database: 'app', user: 'u', tls: 'disable' as const, ca: null, labels: {} };

describe('pinned settings', () => {
  for (const sql of REFUSED) {
    it(`refuses ${JSON.stringify(sql)}`, () => {
      const analysis = analyzeSql(sql);
      assert.ok(analysis.refusal, 'refused');
      assert.ok(analysis.classes.includes('unknown'), `classes ${analysis.classes}`);
      // Refused even by a policy that allows everything.
      const decision = evaluate(ALLOW_ALL as never, { subject: subject as never, target: target as never,
        analysis: fromSqlAnalysis(analysis), protocol: postgresProtocol }, { defaultEffect: 'allow' });
      assert.equal(decision.effect, 'deny');
      assert.equal(decision.message, analysis.refusal);
    });
  }
  for (const sql of KEPT) {
    it(`lets through ${JSON.stringify(sql)}`, () => {
      const analysis = analyzeSql(sql);
      assert.equal(analysis.refusal, undefined);
      assert.ok(!analysis.classes.includes('unknown'), `classes ${analysis.classes}`);
    });
  }
  it("judges pg_dump's pinned set_config as the setting it names", () => {
    const role = analyzeSql("SELECT set_config(name, 'postgres', false) FROM pg_settings WHERE name = 'role'");
    assert.deepEqual(role.classes, ['privilege']);
    const replication = analyzeSql("SELECT set_config(name, 'replica', false) FROM pg_settings WHERE name = 'session_replication_role'");
    assert.deepEqual(replication.classes, ['admin']);
    assert.deepEqual(analyzeSql("SELECT set_config(name, 'view, foreign-table', false) FROM pg_settings WHERE name = 'restrict_nonsystem_relation_kind'").classes, ['read']);
  });
});
