import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anyGlobMatch, globMatch } from './glob.js';

test('glob patterns match whole names with * and ?', () => {
  const cases: [string, string, boolean][] = [
    ['*', 'anything', true], ['pg-*', 'pg-prod', true], ['pg-*', 'mysql-prod', false], ['pg-*', 'pg-', true],
    ['pg-?', 'pg-1', true], ['pg-?', 'pg-12', false], ['a.b', 'a.b', true], ['a.b', 'axb', false],
    ['*.email', 'public.email', true], ['*.email', 'public.emails', false], ['prod', 'production', false],
    ['(x)', '(x)', true], ['a+', 'aa', false],
  ];
  for (const [pattern, name, expected] of cases) assert.equal(globMatch(pattern, name), expected, `${pattern} ~ ${name}`);
});

test('anyGlobMatch is false for no patterns', () => {
  assert.equal(anyGlobMatch([], 'x'), false);
  assert.equal(anyGlobMatch(['y', 'x*'], 'xz'), true);
});
