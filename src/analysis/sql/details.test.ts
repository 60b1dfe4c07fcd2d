/**
 * What analyzeSql reports besides classes: relations, schemas, functions, unboundedWrite, each statement's own
 * text (byte offsets vs UTF-16), PREPARE/EXECUTE/DEALLOCATE names, the empty and unparseable cases, freezing and
 * caching, and that it never throws.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyzeSql, clearSqlAnalysisCache, initSqlAnalysis, sqlAnalysisCacheStats } from './analyze.js';
import type { StatementAnalysis } from './types.js';

await initSqlAnalysis();

/** The single statement of a one-statement query string. */
function one(sql: string): StatementAnalysis {
  const { statements } = analyzeSql(sql);
  assert.equal(statements.length, 1, `expected one statement in ${sql}`);
  return statements[0];
}

type Names = { tables?: string[]; schemas?: string[]; functions?: string[] };

const NAME_ROWS: [string, Names][] = [
  ['select * from app.users u join orders o on o.uid = u.id', { tables: ['app.users', 'orders'], schemas: ['app'] }],
  ['SELECT * FROM "Users", "App"."Orders"', { tables: ['App.Orders', 'Users'], schemas: ['App'] }],
  ['select * from cat.s.t', { tables: ['s.t'], schemas: ['s'] }],
  ['with x as (select * from secrets) select * from x', { tables: ['secrets'] }],
  ['with recursive r as (select 1 union all select * from r) select * from r', { tables: [] }],
  // A non-recursive CTE cannot see a later sibling: `secrets` in the first body is the real table.
  ['with a as (select * from secrets), secrets as (select 1) select * from a', { tables: ['secrets'] }],
  ['with t as (select 1) select * from public.t', { tables: ['public.t'], schemas: ['public'] }],
  // The INSERT target is never a CTE, even when one has its name.
  ['insert into t with t as (select 1) select * from t', { tables: ['t'] }],
  ['(with x as (select 1) select * from x) union select * from x', { tables: ['x'] }],
  ['with d as (delete from t returning *) insert into archive select * from d', { tables: ['archive', 't'] }],
  ['update t set a = u.a from u where t.id = u.id', { tables: ['t', 'u'] }],
  ['delete from t using u where t.id = u.id', { tables: ['t', 'u'] }],
  ['merge into t using s on t.id = s.id when matched then delete', { tables: ['s', 't'] }],
  ['select * from t where id in (select id from u where exists (select 1 from v))', { tables: ['t', 'u', 'v'] }],
  ['copy app.t to stdout', { tables: ['app.t'], schemas: ['app'] }],
  ['truncate a, b.c', { tables: ['a', 'b.c'], schemas: ['b'] }],
  ['drop table if exists a, s.b cascade', { tables: ['a', 's.b'], schemas: ['s'] }],
  ['drop view v', { tables: ['v'] }],
  ['drop function s.f(int)', { tables: [] }],
  ['alter table s.t add column c int references u (id)', { tables: ['s.t', 'u'], schemas: ['s'] }],
  ['lock table t, u', { tables: ['t', 'u'] }],
  ['grant select on table s.t, u to bob', { tables: ['s.t', 'u'], schemas: ['s'] }],
  ['create index on s.t (a)', { tables: ['s.t'], schemas: ['s'] }],
  ['refresh materialized view mv', { tables: ['mv'] }],
  ['create table t2 (like t including all)', { tables: ['t', 't2'] }],
  ['select * into x from t', { tables: ['t', 'x'] }],
  ['comment on column s.t.a is \'x\'', { tables: ['s.t'], schemas: ['s'] }],
  ['vacuum analyze t', { tables: ['t'] }],
  ['create schema app', { schemas: ['app'] }],
  ['drop schema a, b cascade', { schemas: ['a', 'b'] }],
  ['alter schema a rename to b', { schemas: ['a', 'b'] }],
  ['grant usage on schema app to bob', { schemas: ['app'] }],
  ['grant select on all tables in schema app to bob', { schemas: ['app'] }],
  ['alter default privileges in schema app grant select on tables to bob', { schemas: ['app'] }],
  ['alter table t set schema archive', { tables: ['t'], schemas: ['archive'] }],
  ["set search_path = app, \"Other\", public", { schemas: ['Other', 'app', 'public'] }],
  ["set search_path to '$user', app", { schemas: ['app'] }],
  ['select pg_catalog.now(), lower(x), "Mixed"(1), PG_SLEEP(0)', { functions: ['lower', 'mixed', 'pg_catalog.now', 'pg_sleep'], schemas: ['pg_catalog'] }],
  ["select extract(year from now()), substring('a' from 1), trim(' a ')", { functions: ['btrim', 'extract', 'now', 'substring'], schemas: [] }],
  ['select f(g(h(1)))', { functions: ['f', 'g', 'h'] }],
  ['select * from t where a = any(select s.fn(b) from u)', { functions: ['s.fn'], schemas: ['s'] }],
  ['insert into t values (nextval(\'s\'))', { functions: ['nextval'] }],
  ['call app.proc(1)', { functions: ['app.proc'], schemas: ['app'] }],
  ["create table t (a text default md5('x'))", { functions: ['md5'] }],
  ['do $$ begin perform f(); delete from audit where id = 1; end $$', { tables: ['audit'], functions: ['f'] }],
  ['create trigger tr after insert on t for each row execute function app.audit()', { tables: ['t'], functions: ['app.audit'], schemas: ['app'] }],
  ['create operator === (leftarg = int, rightarg = int, function = int4eq)', { functions: ['int4eq'] }],
  ["create function f() returns int language sql as 'select count(*) from s.t'", { tables: ['s.t'], functions: ['count'] }],
];

describe('analyzeSql: relations, schemas and functions', () => {
  for (const [sql, expected] of NAME_ROWS) {
    it(sql, () => {
      const s = one(sql);
      if (expected.tables) assert.deepEqual(s.tables, expected.tables);
      if (expected.schemas) assert.deepEqual(s.schemas, expected.schemas);
      if (expected.functions) assert.deepEqual(s.functions, expected.functions);
    });
  }
});

describe('analyzeSql: unboundedWrite', () => {
  const rows: [string, boolean][] = [
    ['delete from t', true],
    ['update t set a = 1', true],
    ['delete from t where $1 = $1', true],
    ['delete from t where 1 = 1 or id = 5', true],
    ['update t set a = 1 where x = x', true],
    ['with d as (delete from t) select 1', true],
    ['explain analyze delete from t', true],
    ['prepare p as delete from t', true],
    ['merge into t using s on true when matched then delete', true],
    ['delete from t where id = 5', false],
    ['update t set a = 1 where id = $1', false],
    ['explain delete from t', false],
    ['insert into t values (1)', false],
    ['truncate t', false],
    ['delete from t where current of c', false],
    ['merge into t using s on t.id = s.id when matched then delete', false],
  ];
  for (const [sql, expected] of rows) it(sql, () => assert.equal(one(sql).unboundedWrite, expected));
});

describe('analyzeSql: statements and their text', () => {
  it('splits a multi-statement string and trims each slice', () => {
    const a = analyzeSql('  select 1 ;\n\n  DELETE FROM t WHERE id = 2;  -- done\n');
    assert.deepEqual(a.statements.map((s) => [s.kind, s.text]), [
      ['SelectStmt', 'select 1'],
      ['DeleteStmt', 'DELETE FROM t WHERE id = 2'],
    ]);
    assert.deepEqual(a.classes, ['read', 'write']);
  });

  it('cuts texts by UTF-8 byte offsets, not string indexes', () => {
    const a = analyzeSql("select 'é😀'; drop table \"Ü\"; select 'ß'");
    assert.deepEqual(a.statements.map((s) => s.text), ["select 'é😀'", 'drop table "Ü"', "select 'ß'"]);
    assert.deepEqual(a.statements[1].tables, ['Ü']);
  });

  it('keeps comments inside a statement', () => {
    assert.equal(one('select /* why */ 1').text, 'select /* why */ 1');
  });

  it('marks PREPARE, EXECUTE and DEALLOCATE', () => {
    const prepared = one('PREPARE wipe (int) AS DELETE FROM t WHERE id = $1');
    assert.equal(prepared.prepares, 'wipe');
    assert.deepEqual([prepared.kind, prepared.classes, prepared.tables], ['PrepareStmt', ['write'], ['t']]);
    const executed = one('EXECUTE wipe(1)');
    assert.deepEqual([executed.executes, executed.classes], ['wipe', ['unknown']]);
    assert.equal(one('DEALLOCATE wipe').deallocates, 'wipe');
    assert.equal(one('DEALLOCATE PREPARE ALL').deallocates, 'ALL');
    assert.equal(one('select 1').prepares, undefined);
  });

  it('gives no statements and no classes for empty and comment-only text', () => {
    for (const sql of ['', '   \n\t', '-- only a comment', '/* block */', ';', ' ; ; ']) {
      assert.deepEqual(analyzeSql(sql), { statements: [], classes: [] }, JSON.stringify(sql));
    }
  });

  it('reports unparseable text as one unknown statement with the parser message', () => {
    const a = analyzeSql('  SELEC 1  ');
    assert.deepEqual(a.classes, ['unknown']);
    assert.match(a.parseError ?? '', /syntax error/);
    assert.deepEqual(a.statements, [
      { kind: 'Unparseable', classes: ['unknown'], tables: [], schemas: [], functions: [], unboundedWrite: false, text: 'SELEC 1' },
    ]);
  });

  it('refuses a NUL character, which would hide the rest from the parser', () => {
    const a = analyzeSql('select 1\u0000; drop table t');
    assert.deepEqual(a.classes, ['unknown']);
    assert.match(a.parseError ?? '', /NUL/);
  });
});

describe('analyzeSql: robustness and caching', () => {
  it('never throws, whatever it is given', () => {
    const inputs: unknown[] = [undefined, null, 42, {}, 'select '.repeat(10_000), '('.repeat(50_000), "'".repeat(7)];
    for (const input of inputs) {
      // Each is either not a string or does not parse: one statement Warden cannot judge.
      assert.deepEqual(analyzeSql(input as string).classes, ['unknown'], String(input).slice(0, 20));
    }
  });

  it('turns a tree too deep to walk into unknown instead of overflowing', () => {
    const deep = `select ${'coalesce('.repeat(3000)}1${')'.repeat(3000)}`;
    const a = analyzeSql(deep);
    assert.deepEqual(a.classes, ['unknown']);
  });

  it('returns the same frozen object for the same text', () => {
    const first = analyzeSql('select * from cached_table where id = 1');
    assert.equal(analyzeSql('select * from cached_table where id = 1'), first);
    assert.ok(Object.isFrozen(first) && Object.isFrozen(first.statements) && Object.isFrozen(first.statements[0]));
    assert.ok(Object.isFrozen(first.statements[0].classes) && Object.isFrozen(first.statements[0].tables));
    assert.throws(() => (first.classes as string[]).push('admin'), TypeError);
  });

  it('keeps the cache bounded', () => {
    clearSqlAnalysisCache();
    for (let i = 0; i < 10_200; i++) analyzeSql(`select * from t_${i}`);
    assert.equal(sqlAnalysisCacheStats().entries, 10_000);
    clearSqlAnalysisCache();
    assert.equal(sqlAnalysisCacheStats().entries, 0);
  });

  it('parses and caches texts independently of comments and case', () => {
    assert.deepEqual(analyzeSql('DROP TABLE t').classes, analyzeSql('/*x*/ drop /*y*/ table t -- z').classes);
  });
});
