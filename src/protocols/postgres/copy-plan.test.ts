import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WardenError } from '../../errors.js';
import type { ColumnAction } from '../../masking/plan.js';
import type { TableColumns } from './catalog.js';
import { copyTablePlan } from './copy-plan.js';
import type { MaskRules } from './result-masking.js';

const RULES: MaskRules = [{ rule: 'p/r', items: [
  { columns: ['*.email'], strategy: 'partial' },
  { columns: ['public.customers.card_number'], strategy: 'redact' },
  { types: ['jsonb'], strategy: 'null' },
  { detectors: ['email'], strategy: 'redact' },
] }];

function table(schema: string, columns: Array<[string, number, boolean?]>): TableColumns {
  return { schema, table: 'customers', columns: columns.map(([name, typeOid, generated = false]) => ({ name, typeOid, generated })) };
}

const CUSTOMERS = table('public', [['id', 23], ['email', 25], ['card_number', 25], ['doc', 3802], ['total', 23, true]]);

function shape(actions: Array<ColumnAction | null>): string[] {
  return actions.map((a) => (a === null ? 'none' : a.kind === 'column' ? a.strategy : 'scan'));
}

const refused = (pattern: RegExp) => (e: unknown) => e instanceof WardenError && e.code === 'WARDEN_ERR_FORBIDDEN' && pattern.test(e.message);

describe('the plan of COPY table TO STDOUT', () => {
  test('all stored columns in order (generated ones left out), or the named ones; types and sources as for a SELECT', () => {
    assert.deepEqual(shape(copyTablePlan(RULES, { name: 'customers' }, [CUSTOMERS], 4).columns), ['none', 'partial', 'redact', 'null']);
    assert.deepEqual(shape(copyTablePlan(RULES, { name: 'customers', columns: ['card_number', 'id'] }, [CUSTOMERS], 2).columns),
      ['redact', 'none']);
    assert.deepEqual(shape(copyTablePlan(RULES, { name: 'customers' }, [CUSTOMERS], 5).columns), ['none', 'partial', 'redact', 'null', 'none'],
      'a server that sends generated columns too');
  });

  test('same-named tables in other schemas: used when they mask alike, refused when they do not', () => {
    const twin = table('archive', [['id', 23], ['email', 25], ['card_number', 25], ['doc', 3802]]);
    assert.throws(() => copyTablePlan(RULES, { name: 'customers' }, [CUSTOMERS, twin], 4), refused(/several schemas/),
      'archive.customers.card_number is not covered by the public.customers rule');
    const lookalike = table('archive', [['id', 23], ['email', 25], ['card_number', 25], ['doc', 3802]]);
    assert.deepEqual(shape(copyTablePlan(RULES, { name: 'customers', columns: ['email', 'doc'] }, [CUSTOMERS, lookalike], 2).columns),
      ['partial', 'null']);
    const other = table('crm', [['name', 25]]);
    assert.deepEqual(shape(copyTablePlan(RULES, { name: 'customers', columns: ['email'] }, [CUSTOMERS, other], 1).columns), ['partial'],
      'a table without the named columns cannot be the one COPY read');
  });

  test('no table that fits is refused', () => {
    assert.throws(() => copyTablePlan(RULES, { name: 'customers' }, [], 1), refused(/could not be read from the catalog/));
    assert.throws(() => copyTablePlan(RULES, { name: 'customers' }, [CUSTOMERS], 9), refused(/could not be read/));
  });
});
