/**
 * Delegation narrowing (scope.ts): the glob containment check behind target narrowing, with its wildcard and regex
 * metacharacter edge cases, and the narrowing of targets, statement classes, groups and lifetime, including the
 * error codes each refusal carries.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { STATEMENT_CLASSES } from '../analysis/sql/types.js';
import { WardenError } from '../errors.js';
import { globMatch } from '../policy/glob.js';
import { globWithin, narrowClasses, narrowGroups, narrowTargets, narrowTtl } from './scope.js';

function throwsCode(code: string, message?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof WardenError, `expected WardenError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (message) assert.match(err.message, message);
    return true;
  };
}
const WIDEN = throwsCode('WARDEN_ERR_FORBIDDEN', /^delegation cannot widen scope: /);

describe('globWithin', () => {
  // [child, parent, expected]
  const table: Array<[string, string, boolean]> = [
    // the parent `*` covers everything, wildcards included
    ['anything', '*', true],
    ['*', '*', true],
    ['?', '*', true],
    ['pg-*', '*', true],
    // plain names
    ['pg-main', 'pg-main', true],
    ['pg-main', 'pg-mai', false],
    ['pg-mai', 'pg-main', false],
    ['PG-main', 'pg-main', false],
    // prefix patterns
    ['pg-main', 'pg-*', true],
    ['pg-', 'pg-*', true],
    ['pg-p*', 'pg-*', true],
    ['pg-*', 'pg-*', true],
    ['pg-?', 'pg-*', true],
    ['*', 'pg-*', false],
    ['p*', 'pg-*', false],
    ['pg*', 'pg-*', false],
    ['*-main', 'pg-*', false],
    ['mysql-main', 'pg-*', false],
    // the parent `?` is one character that is not a `*`
    ['pg-a', 'pg-?', true],
    ['pg-?', 'pg-?', true],
    ['pg-*', 'pg-?', false],
    ['pg-ab', 'pg-?', false],
    ['pg-', 'pg-?', false],
    ['?', '?', true],
    ['*', '?', false],
    ['??', '?', false],
    ['a', '?', true],
    // a child wildcard is never covered by a parent literal
    ['pg-?', 'pg-a', false],
    ['pg-*', 'pg-main', false],
    ['*', 'a', false],
    // regex metacharacters are literals in both
    ['a.b', 'a.b', true],
    ['axb', 'a.b', false],
    ['a.b', 'a?b', true],
    ['a?b', 'a.b', false],
    ['aab', 'a+b', false],
    ['a+b', 'a+b', true],
    ['ab', 'a|b', false],
    ['a', 'a|b', false],
    ['a|b', 'a|b', true],
    ['a', '[ab]', false],
    ['[ab]', '[ab]', true],
    ['x', '(x)', false],
    ['(x)', '(x)', true],
    ['aaa', 'a{3}', false],
    ['a{3}', 'a{3}', true],
    ['b', '^b$', false],
    ['^b$', '^b$', true],
    ['a\\b', 'a\\b', true],
    ['ab', 'a\\b', false],
    ['a$', 'a$', true],
    // `*` spans any text, a newline included
    ['pg-a\nb', 'pg-*', true],
    ['pg-\n', 'pg-?', true],
    // several wildcards in the parent
    ['pg-eu-1', 'pg-*-?', true],
    ['pg-eu-*', 'pg-*-?', false],
    ['pg-eu-12', 'pg-*-?', false],
    ['pg-x*y-1', 'pg-*-?', true],
  ];
  for (const [child, parent, expected] of table) {
    it(`${JSON.stringify(child)} ${expected ? 'is' : 'is not'} within ${JSON.stringify(parent)}`, () => {
      assert.equal(globWithin(child, parent), expected);
    });
  }

  it('never accepts a child that matches a name the parent does not (soundness over a sample of names)', () => {
    const names = ['pg-a', 'pg-ab', 'pg-', 'pg-main', 'a.b', 'axb', 'a?b', 'x', 'pg-eu-1', 'pg-eu-12', 'mysql', '*', '?', ''];
    const patterns = ['*', 'pg-*', 'pg-?', 'pg-p*', 'pg-a', '?', 'a.b', 'a?b', 'pg-*-?', 'pg-eu-*', '*-1', 'pg-??', '**'];
    for (const child of patterns) {
      for (const parent of patterns) {
        if (!globWithin(child, parent)) continue;
        for (const name of names) {
          if (globMatch(child, name)) {
            assert.ok(globMatch(parent, name), `${child} within ${parent}, yet ${name} matches only the child`);
          }
        }
      }
    }
  });

  it('gives the same answer when the compiled parent is reused', () => {
    assert.equal(globWithin('pg-a', 'pg-?'), true);
    assert.equal(globWithin('pg-*', 'pg-?'), false);
    assert.equal(globWithin('pg-b', 'pg-?'), true);
  });
});

describe('narrowTargets', () => {
  it('defaults to a copy of the parent\'s patterns', () => {
    const parent = ['pg-*', 'stage'];
    const out = narrowTargets(parent, undefined);
    assert.deepEqual(out, ['pg-*', 'stage']);
    assert.notEqual(out, parent);
  });

  it('accepts patterns inside any parent pattern and removes duplicates', () => {
    assert.deepEqual(narrowTargets(['pg-*', 'stage'], ['pg-main', 'stage', 'pg-p*', 'pg-main']), ['pg-main', 'stage', 'pg-p*']);
    assert.deepEqual(narrowTargets(['*'], ['anything', '*']), ['anything', '*']);
  });

  it('refuses a pattern outside every parent pattern, naming it', () => {
    assert.throws(() => narrowTargets(['pg-*'], ['pg-main', 'mysql-main']), WIDEN);
    assert.throws(() => narrowTargets(['pg-*'], ['*']), throwsCode('WARDEN_ERR_FORBIDDEN', /target "\*" is outside the parent's targets \(pg-\*\)/));
    assert.throws(() => narrowTargets(['pg-a', 'pg-b'], ['pg-?']), WIDEN);
  });

  it('passes an empty request through (the issuer refuses an empty target list later)', () => {
    assert.deepEqual(narrowTargets(['pg-*'], []), []);
  });
});

describe('narrowClasses', () => {
  it('undefined parent means every class: the default stays unlimited, any known class is accepted', () => {
    assert.equal(narrowClasses(undefined, undefined), undefined);
    assert.deepEqual(narrowClasses(undefined, [...STATEMENT_CLASSES]), [...STATEMENT_CLASSES]);
    assert.deepEqual(narrowClasses(undefined, ['read', 'read', 'write']), ['read', 'write']);
  });

  it('defaults to a copy of a limited parent', () => {
    const parent = ['read', 'write'];
    const out = narrowClasses(parent, undefined);
    assert.deepEqual(out, ['read', 'write']);
    assert.notEqual(out, parent);
  });

  it('accepts a subset of the parent', () => {
    assert.deepEqual(narrowClasses(['read', 'write'], ['read']), ['read']);
    assert.deepEqual(narrowClasses(['read', 'write'], ['write', 'read']), ['write', 'read']);
  });

  it('refuses a class outside the parent\'s as FORBIDDEN', () => {
    assert.throws(() => narrowClasses(['read'], ['read', 'write']),
      throwsCode('WARDEN_ERR_FORBIDDEN', /statement class "write" is not allowed to the parent/));
    assert.throws(() => narrowClasses([], ['read']), WIDEN);
  });

  it('refuses an unknown class as BAD_REQUEST, whatever the parent', () => {
    assert.throws(() => narrowClasses(undefined, ['select']), throwsCode('WARDEN_ERR_BAD_REQUEST', /unknown statement class "select"/));
    assert.throws(() => narrowClasses(['read'], ['READ']), throwsCode('WARDEN_ERR_BAD_REQUEST'));
    assert.throws(() => narrowClasses(['read'], ['']), throwsCode('WARDEN_ERR_BAD_REQUEST'));
  });
});

describe('narrowGroups', () => {
  it('defaults to a copy of the parent\'s groups', () => {
    const parent = ['dba', 'dev'];
    const out = narrowGroups(parent, undefined);
    assert.deepEqual(out, ['dba', 'dev']);
    assert.notEqual(out, parent);
  });

  it('accepts a subset (possibly empty) and removes duplicates', () => {
    assert.deepEqual(narrowGroups(['dba', 'dev'], ['dev', 'dev']), ['dev']);
    assert.deepEqual(narrowGroups(['dba'], []), []);
  });

  it('refuses a group the parent does not have (no glob reading of group names)', () => {
    assert.throws(() => narrowGroups(['dev'], ['warden-admins']), throwsCode('WARDEN_ERR_FORBIDDEN', /group "warden-admins" is not one of the parent's/));
    assert.throws(() => narrowGroups(['dev-*'], ['dev-x']), WIDEN);
    assert.throws(() => narrowGroups([], ['dev']), WIDEN);
  });
});

describe('narrowTtl', () => {
  it('defaults to the shorter of the default and the parent\'s remaining life', () => {
    assert.equal(narrowTtl(3600, undefined, 900), 900);
    assert.equal(narrowTtl(120, undefined, 900), 120);
    assert.equal(narrowTtl(900, undefined, 900), 900);
  });

  it('accepts a lifetime up to the parent\'s remaining life', () => {
    assert.equal(narrowTtl(3600, 60, 900), 60);
    assert.equal(narrowTtl(3600, 3600, 900), 3600);
    assert.equal(narrowTtl(100, 100, 900), 100);
  });

  it('refuses a lifetime that outlives the parent', () => {
    assert.throws(() => narrowTtl(100, 101, 900), throwsCode('WARDEN_ERR_FORBIDDEN', /a lifetime of 101s outlives the parent token \(100s left\)/));
  });

  it('refuses when the parent has no life left', () => {
    assert.throws(() => narrowTtl(0, undefined, 900), throwsCode('WARDEN_ERR_TOKEN_EXPIRED'));
    assert.throws(() => narrowTtl(-5, 1, 900), throwsCode('WARDEN_ERR_TOKEN_EXPIRED'));
  });
});
