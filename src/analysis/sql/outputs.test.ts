import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initSqlAnalysis } from './analyze.js';
import { columnFlow } from './outputs.js';

const MASKED = new Set(['ssn', 'card_number']);
const isMasked = (name: string): boolean => MASKED.has(name);
const flow = (sql: string) => columnFlow(sql, isMasked);

before(() => initSqlAnalysis());

describe('column flow', () => {
  test('plain column references are passthroughs (PostgreSQL reports their source); filters only touch', () => {
    for (const sql of ['SELECT ssn FROM customers', 'SELECT c.ssn AS x FROM customers c', 'SELECT * FROM customers',
      'SELECT a FROM (SELECT ssn AS a FROM customers) s', 'WITH w AS (SELECT ssn FROM customers) SELECT ssn FROM w',
      "SELECT name FROM customers WHERE ssn = '1' ORDER BY card_number"]) {
      const f = flow(sql);
      assert.deepEqual(f.derived, [], sql);
      assert.equal(f.refusal, null, sql);
      assert.equal(f.touches, true, sql);
    }
    assert.equal(flow('SELECT g, g FROM generate_series(1, 3) g').touches, false, 'a function alias is no whole row');
  });

  test('every way a masked value reaches a computed column is found (generated corpus)', () => {
    const expressions = ['upper(ssn)', "ssn || ''", 'ssn::bytea', "encode(ssn::bytea, 'base64')", 'reverse(ssn)',
      "translate(ssn, '1', '2')", "substr(ssn, 1, 4)", 'json_agg(ssn)', "json_build_object('k', ssn)", 'to_hex(length(ssn))',
      "coalesce(ssn, '')", "CASE WHEN true THEN ssn END", 'ARRAY[ssn]', 'ROW(ssn)', "format('%s', ssn)", 'md5(ssn)',
      "replace(ssn, '-', '')", "(SELECT ssn FROM customers LIMIT 1)", 'row_to_json(c)', 'to_json(c.*)', 'c', 'ssn = ssn'];
    const wrappers = [
      (e: string) => `SELECT ${e} FROM customers c`,
      (e: string) => `SELECT x FROM (SELECT ${e} AS x FROM customers c) s`,
      (e: string) => `WITH w AS (SELECT ${e} AS x FROM customers c) SELECT x FROM w`,
      (e: string) => `SELECT * FROM (SELECT ${e} FROM customers c) s`,
      (e: string) => `SELECT (SELECT ${e} FROM customers c LIMIT 1)`,
      (e: string) => `SELECT ${e} FROM customers c UNION ALL SELECT NULL`,
      (e: string) => `SELECT 1 FROM customers c RETURNING ${e}`.replace('SELECT 1 FROM customers c RETURNING', 'DELETE FROM customers c RETURNING'),
      (e: string) => `DECLARE cur CURSOR FOR SELECT ${e} FROM customers c`,
    ];
    for (const wrap of wrappers) {
      for (const e of expressions) {
        const sql = wrap(e);
        const f = flow(sql);
        assert.ok(f.derived.length > 0 || f.refusal !== null, `${sql}: ${JSON.stringify(f)}`);
        assert.ok(f.derived.every((n) => n === 'ssn' || n === '*'), `${sql}: ${f.derived}`);
      }
    }
    // An alias of an alias still stands for the masked column it came from.
    assert.deepEqual(flow('SELECT lower(b) FROM (SELECT a AS b FROM (SELECT ssn AS a FROM customers) x) y').derived, ['ssn']);
    assert.deepEqual(flow('SELECT lower(a) FROM (SELECT ssn FROM customers) s(a)').derived, ['ssn']);
  });

  test('set operations are never passthroughs, even for plain columns', () => {
    assert.deepEqual(flow("SELECT ssn FROM customers UNION SELECT 'x'").derived, ['ssn']);
    assert.deepEqual(flow('SELECT * FROM customers INTERSECT SELECT * FROM customers').derived, ['*']);
  });

  test('values that change form are opaque (detectors may miss them); case changes and concatenation are not', () => {
    for (const sql of ['SELECT reverse(notes) FROM t', 'SELECT to_hex(n) FROM t', 'SELECT n + 1 FROM t', 'SELECT notes::bytea FROM t',
      "SELECT substr(notes, 1, 8) FROM t", "SELECT translate(notes, 'a', 'b') FROM t"]) assert.equal(flow(sql).opaque, true, sql);
    for (const sql of ['SELECT lower(notes) FROM t', "SELECT notes || 'x' FROM t", 'SELECT json_agg(t) FROM t', 'SELECT notes FROM t',
      'SELECT count(*) FROM t', "SELECT notes FROM t WHERE reverse(notes) = 'x'"]) assert.equal(flow(sql).opaque, false, sql);
    assert.equal(flow('INSERT INTO u SELECT reverse(notes) FROM t').opaqueCopy, true);
    assert.equal(flow("UPDATE t SET notes = 'x' WHERE reverse(notes) = 'y'").opaqueCopy, false);
  });

  test('typed reads: any column value inside a result expression, but not a whole result column', () => {
    for (const sql of ['SELECT upper(name) FROM t', 'SELECT d::text FROM t', 'SELECT id + 1 FROM t', 'SELECT t FROM t',
      "SELECT d FROM t UNION SELECT 'x'", 'SELECT x FROM (SELECT to_char(d, $1) AS x FROM t) s', 'UPDATE t SET n = 1 RETURNING n + 1',
      'SELECT (SELECT max(d) FROM u) FROM t', 'SELECT json_agg(t) FROM t']) assert.equal(flow(sql).typedReads, true, sql);
    for (const sql of ['SELECT d, name FROM t', 'SELECT * FROM t', 'SELECT t.* FROM t', 'SELECT count(*) FROM t WHERE upper(name) = $1',
      "SELECT d AS x FROM t ORDER BY d::text", 'INSERT INTO t (a) VALUES (1) RETURNING id, a', 'DELETE FROM t WHERE id = 1 RETURNING *',
      'SELECT x FROM (SELECT d AS x FROM t) s', 'SELECT 1, now()']) assert.equal(flow(sql).typedReads, false, sql);
  });

  test('typed copies: any column value written elsewhere, except back into its own column of the updated row', () => {
    for (const sql of ['UPDATE t SET n = n + 1', 'UPDATE t SET d = d + 1, n = -n WHERE d < now()', 'UPDATE t AS x SET n = x.n * 2',
      'UPDATE t SET a = 1 WHERE b = 2', "INSERT INTO t (a) VALUES (1)"]) assert.equal(flow(sql).typedCopies, false, sql);
    for (const sql of ['UPDATE t SET note = d', 'UPDATE t SET n = m + 1', 'UPDATE t SET n = (SELECT n FROM u LIMIT 1)',
      'UPDATE t SET n = o.n FROM other o WHERE o.id = t.id', 'UPDATE t SET (a, b) = (b, a)', 'INSERT INTO u SELECT * FROM t',
      'INSERT INTO u (note) SELECT d FROM t', 'SELECT d INTO z FROM t', 'UPDATE t SET n = u.n FROM u']) {
      assert.equal(flow(sql).typedCopies, true, sql);
    }
  });

  test('arithmetic written back is no opaque copy; a function or text cast inside it still is', () => {
    for (const sql of ['UPDATE t SET n = n + 1', 'UPDATE t SET n = n - $1, m = -m * 2 WHERE id = 3', 'UPDATE t SET n = (n % 7) / 2',
      'INSERT INTO u (a) SELECT n + 1 FROM t', 'UPDATE t SET n = n::int8 + 1']) assert.equal(flow(sql).opaqueCopy, false, sql);
    for (const sql of ['UPDATE t SET n = length(reverse(notes)) + 1', 'UPDATE t SET n = n::bytea::text', 'UPDATE t SET n = n + ascii(notes)',
      "UPDATE t SET notes = reverse(notes) || 'x'", 'UPDATE t SET n = n ^ 2']) assert.equal(flow(sql).opaqueCopy, true, sql);
    // Output is another matter: a computed number is still a derived, opaque result.
    assert.equal(flow('UPDATE t SET n = n + 1 RETURNING n + 1').opaque, true);
  });

  test('copies elsewhere, impure functions, relation readers, statistics and bodies are refused', () => {
    for (const [sql, pattern] of [
      ['INSERT INTO x SELECT ssn FROM customers', /copies masked column "ssn"/],
      ['INSERT INTO x (a) SELECT a FROM (SELECT ssn AS a FROM customers) s', /copies masked column "ssn"/],
      ['WITH m AS (INSERT INTO x SELECT ssn FROM customers RETURNING 1) SELECT 1', /copies masked column/],
      ['UPDATE customers SET name = ssn WHERE id = 1', /copies masked column "ssn"/],
      ['UPDATE customers SET name = upper(card_number)', /copies masked column "card_number"/],
      ['MERGE INTO x USING customers c ON x.id = c.id WHEN MATCHED THEN UPDATE SET v = c.ssn', /copies masked column/],
      ['SELECT ssn INTO z FROM customers', /copies masked column/],
      ['CREATE TABLE z AS SELECT ssn FROM customers', /CreateTableAs/],
      ['CREATE MATERIALIZED VIEW z AS SELECT upper(ssn) FROM customers', /CreateTableAs/],
      ['CREATE VIEW z AS SELECT ssn FROM customers', /View/],
      ["CREATE FUNCTION f() RETURNS text LANGUAGE sql AS 'SELECT ssn FROM customers'", /CREATE FUNCTION\/PROCEDURE is refused/],
      ["CREATE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN EXECUTE format('SELECT %I FROM t', 's' || 'sn'); END $$", /PROCEDURE is refused/],
      ["DO $$ BEGIN EXECUTE 'INSERT INTO x SELECT s' || 'sn FROM customers'; END $$", /DO is refused/],
      ["SELECT pg_notify('c', ssn) FROM customers", /pg_notify\(\) is not a built-in/],
      ["SELECT 1 FROM customers WHERE set_config('a', ssn, false) IS NOT NULL", /set_config\(\)/],
      ['SELECT public.upper(ssn) FROM customers', /public\.upper\(\)/],
      ['SELECT my_log(card_number) FROM customers', /my_log\(\)/],
      ["SELECT table_to_xml('customers', true, false, '')", /table_to_xml\(\) reads relations/],
      ["SELECT query_to_xml('select 1', true, false, '')", /query_to_xml/],
      ['SELECT most_common_vals FROM pg_catalog.pg_stats', /pg_stats holds/],
      ['SELECT * FROM pg_statistic', /pg_statistic holds/],
    ] as const) {
      assert.match(flow(sql).refusal ?? '', pattern, sql);
    }
    for (const sql of ["UPDATE customers SET name = 'x' WHERE ssn = '1'", "INSERT INTO customers (ssn) VALUES ('1')",
      'DELETE FROM customers WHERE card_number IS NULL', 'SELECT upper(ssn) FROM customers', "SELECT pg_notify('c', 'literal')"]) {
      assert.equal(flow(sql).refusal, null, sql);
    }
  });

  test('callable objects a caller defines, renames or moves are refused: they run in place of trusted built-ins', () => {
    const callables = [
      'CREATE OPERATOR public.@@@ (LEFTARG = oid, RIGHTARG = bytea, FUNCTION = lo_from_bytea)',
      'CREATE OPERATOR || (LEFTARG = text, RIGHTARG = bytea, FUNCTION = lo_from_bytea)',
      "CREATE AGGREGATE public.upper(bytea) (SFUNC = lo_from_bytea, STYPE = oid, INITCOND = '0')",
      'CREATE OR REPLACE AGGREGATE string_agg(bytea) (SFUNC = lo_from_bytea, STYPE = oid)',
      'CREATE CAST (text AS bytea) WITH FUNCTION my_cast(text)',
      'ALTER OPERATOR public.@@@ (oid, bytea) SET SCHEMA pg_temp', 'ALTER AGGREGATE a(bytea) RENAME TO upper',
      'ALTER FUNCTION my_log(text) RENAME TO lower', 'ALTER ROUTINE my_log(text) SET search_path = evil',
      'ALTER FUNCTION my_log(text) SET SCHEMA public', 'CREATE OPERATOR CLASS c FOR TYPE text USING btree AS OPERATOR 1 <',
      'CREATE TRANSFORM FOR text LANGUAGE plpgsql (FROM SQL WITH FUNCTION f(internal))',
      "CREATE CONVERSION c FOR 'UTF8' TO 'LATIN1' FROM f", 'CREATE EXTENSION dblink', 'CREATE LANGUAGE plperlu',
      'CREATE EVENT TRIGGER e ON ddl_command_end EXECUTE FUNCTION f()',
    ];
    for (const sql of callables) assert.match(flow(sql).refusal ?? '', /callable objects are refused/, sql);
    for (const sql of ['ALTER TABLE x RENAME TO y', 'CREATE TYPE pair AS (a int, b int)', 'ALTER SCHEMA s RENAME TO t']) {
      assert.doesNotMatch(flow(sql).refusal ?? '', /callable objects/, sql);
    }
  });

  test('renames, schema moves and re-parenting that change the names rules match are refused', () => {
    for (const sql of ['ALTER TABLE customers RENAME COLUMN ssn TO foo', 'ALTER TABLE customers RENAME TO people',
      'ALTER TABLE IF EXISTS public.customers RENAME ssn TO x', 'ALTER VIEW v RENAME COLUMN a TO b', 'ALTER SCHEMA public RENAME TO p2',
      'ALTER TABLE customers SET SCHEMA s2', 'ALTER MATERIALIZED VIEW m SET SCHEMA s2', 'ALTER TABLE customers INHERIT par',
      'ALTER TABLE pp ATTACH PARTITION customers FOR VALUES FROM (0) TO (100)', 'ALTER TYPE t RENAME ATTRIBUTE ssn TO x',
      'ALTER TABLE customers ADD COLUMN z int, INHERIT par']) {
      assert.match(flow(sql).refusal ?? '', /renaming or moving tables/, sql);
    }
    for (const sql of ["CREATE TRIGGER t BEFORE UPDATE ON customers FOR EACH ROW EXECUTE FUNCTION tsvector_update_trigger(tsv, 'pg_catalog.simple', ssn)",
      'CREATE CONSTRAINT TRIGGER t AFTER INSERT ON customers FOR EACH ROW EXECUTE FUNCTION f()',
      'CREATE RULE r AS ON UPDATE TO customers DO ALSO NOTIFY c', 'CREATE OR REPLACE RULE r AS ON INSERT TO other DO INSTEAD NOTHING']) {
      assert.match(flow(sql).refusal ?? '', /CREATE (TRIGGER|RULE) is refused/, sql);
    }
    for (const sql of ['ALTER TABLE customers ADD COLUMN z int', 'ALTER TABLE customers RENAME CONSTRAINT a TO b',
      'ALTER INDEX i RENAME TO j', 'CREATE TABLE kid () INHERITS (customers)']) {
      assert.equal(flow(sql).refusal, null, sql);
    }
  });

  test('cursors declared and fetched; unparsable text counts as touching everything', () => {
    const f = flow('BEGIN; DECLARE a CURSOR FOR SELECT 1; FETCH 2 FROM b; CLOSE a');
    assert.deepEqual(f.declares, ['a', 'a']);
    assert.deepEqual(f.fetches, ['b']);
    const deep = flow(`SELECT ${'upper('.repeat(20000)}ssn${')'.repeat(20000)} FROM customers`);
    assert.ok(deep.refusal !== null || deep.derived.length > 0, 'a very deep statement is refused or masked, never passed');
    const bad = flow('SELEC ssn');
    assert.deepEqual(bad.derived, ['*']);
    assert.equal(bad.touches, true);
  });
});
