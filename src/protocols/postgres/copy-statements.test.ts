import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initSqlAnalysis } from '../../analysis/sql/analyze.js';
import { statementFacts } from './copy-statements.js';

before(() => initSqlAnalysis());

describe('COPY TO STDOUT statements', () => {
  test('a table, its schema and column list, with the text format defaults', () => {
    assert.deepEqual(statementFacts('COPY public.customers (email, "Card") TO STDOUT').copies, [{
      relation: { schema: 'public', name: 'customers', columns: ['email', 'Card'] },
      format: 'text', delimiter: '\t', nullString: '\\N', header: false,
    }]);
    assert.deepEqual(statementFacts('copy Customers to stdout').copies[0].relation, { name: 'customers' });
  });

  test('a query has no relation; options shape the lines', () => {
    const [copy] = statementFacts("COPY (SELECT 1) TO STDOUT WITH (FORMAT text, DELIMITER '|', NULL '-', HEADER, ENCODING 'LATIN1')").copies;
    assert.deepEqual(copy, { format: 'text', delimiter: '|', nullString: '-', header: true, encoding: 'LATIN1' });
    assert.equal(statementFacts('COPY t TO STDOUT WITH BINARY').copies[0].format, 'binary');
    assert.deepEqual(statementFacts('COPY t TO STDOUT CSV HEADER').copies[0],
      { relation: { name: 't' }, format: 'csv', delimiter: ',', nullString: '', header: true });
    assert.equal(statementFacts('COPY t TO STDOUT (HEADER false)').copies[0].header, false);
  });

  test('only COPY that sends rows to the caller counts, in statement order', () => {
    assert.deepEqual(statementFacts("COPY t FROM STDIN; COPY t TO '/tmp/x'; COPY t TO PROGRAM 'cat'").copies, []);
    const copies = statementFacts('SELECT 1; COPY a TO STDOUT; UPDATE b SET x = 1; COPY (SELECT 2) TO STDOUT').copies;
    assert.deepEqual(copies.map((c) => c.relation?.name ?? '(query)'), ['a', '(query)']);
  });

  test('SET client_encoding and SET NAMES are seen; texts without either skip the parser', () => {
    assert.equal(statementFacts("SET client_encoding TO 'LATIN1'").clientEncoding, 'LATIN1');
    assert.equal(statementFacts("set names 'win1252'").clientEncoding, 'win1252');
    assert.equal(statementFacts('SET client_encoding TO DEFAULT').clientEncoding, undefined);
    assert.deepEqual(statementFacts('SELECT 1'), { copies: [] });
    assert.equal(statementFacts('COPY (').unparsed, true);
  });
});
