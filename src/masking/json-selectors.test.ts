/** Field selectors: syntax, error messages, step-by-step matching (as the streaming masker walks), the policy check. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePolicyDocuments } from '../policy/load.js';
import { installPolicyProtocols } from '../policy/vocabulary.js';
import { builtinProtocols } from '../protocols/builtin.js';
import { parseSelector, selectorError, SelectorMatcher, type MatchState } from './json-selectors.js';

/** The tag selected at a path of member names (strings) and indexes (numbers), walking the matcher step by step. */
function selectedAt(selectors: string[], path: Array<string | number>): number {
  const matcher = new SelectorMatcher(selectors.map((s, tag) => ({ steps: parseSelector(s), tag })));
  let state: MatchState = matcher.root;
  for (const step of path) state = typeof step === 'number' ? state.element(step) : state.member(step.toLowerCase());
  return state.selected;
}

describe('JSON field selectors', () => {
  it('parses every step form', () => {
    assert.deepEqual(parseSelector('$.customers[*].email'), [
      { kind: 'key', name: 'customers' }, { kind: 'any' }, { kind: 'key', name: 'email' }]);
    assert.deepEqual(parseSelector('**.ssn'), [{ kind: 'deep' }, { kind: 'key', name: 'ssn' }]);
    assert.deepEqual(parseSelector("$['odd key'].x[3]"), [{ kind: 'key', name: 'odd key' }, { kind: 'key', name: 'x' }, { kind: 'index', index: 3 }]);
    assert.deepEqual(parseSelector('$["it\\"s"].*'), [{ kind: 'key', name: 'it"s' }, { kind: 'any' }]);
    assert.deepEqual(parseSelector('$.items[*].**.token'), [
      { kind: 'key', name: 'items' }, { kind: 'any' }, { kind: 'deep' }, { kind: 'key', name: 'token' }]);
  });

  it('names what is wrong with a bad selector', () => {
    assert.match(selectorError('customers.email') ?? '', /starts with \$ or \*\*/);
    assert.match(selectorError('$.a.') ?? '', /member name is missing/);
    assert.match(selectorError('$.*b') ?? '', /stands alone/);
    assert.match(selectorError("$['open") ?? '', /unterminated/);
    assert.match(selectorError('$[x]') ?? '', /takes \*, an index or a quoted name/);
    assert.match(selectorError('$.a.**') ?? '', /ends with \*\*/);
    assert.equal(selectorError('$'), null);
  });

  it('matches paths step by step', () => {
    assert.equal(selectedAt(['$.customers[*].email'], ['customers', 4, 'email']), 0);
    assert.equal(selectedAt(['$.customers[*].email'], ['customers', 4, 'name']), -1);
    assert.equal(selectedAt(['$.customers[*].email'], ['customers', 'x', 'email']), 0, '[*] is any one step');
    assert.equal(selectedAt(['$.customers[*].email'], ['email']), -1);
    assert.equal(selectedAt(['$.a.b'], ['a', 'b']), 0);
    assert.equal(selectedAt(['$.a.b'], ['x', 'a', 'b']), -1, '$ anchors at the root');
    assert.equal(selectedAt(['$.list[1]'], ['list', 1]), 0);
    assert.equal(selectedAt(['$.list[1]'], ['list', 2]), -1);
    assert.equal(selectedAt(["$['odd key']"], ['odd key']), 0);
    assert.equal(selectedAt(['$.*.email'], ['anything', 'email']), 0);
  });

  it('matches ** at any depth, zero steps included', () => {
    assert.equal(selectedAt(['**.ssn'], ['ssn']), 0);
    assert.equal(selectedAt(['**.ssn'], ['a', 3, 'b', 'ssn']), 0);
    assert.equal(selectedAt(['**.ssn'], ['a', 'ssn', 'b']), -1);
    assert.equal(selectedAt(['$.items[*].**.token'], ['items', 0, 'token']), 0);
    assert.equal(selectedAt(['$.items[*].**.token'], ['items', 0, 'a', 2, 'token']), 0);
    assert.equal(selectedAt(['$.items[*].**.token'], ['other', 0, 'token']), -1);
  });

  it('matches names without regard to case; the smallest tag wins', () => {
    assert.equal(selectedAt(['**.email'], ['Customer', 'EMAIL']), 0);
    assert.equal(selectedAt(['$.x', '**.email', '$.a.email'], ['a', 'email']), 1);
  });

  it('is refused in a policy with a clear message', () => {
    installPolicyProtocols(builtinProtocols());
    const yaml = (field: string) => `kind: Policy\nname: p\nrules:\n  - name: m\n    mask:\n      - fields: ["${field}"]\n        strategy: redact\n`;
    assert.throws(() => parsePolicyDocuments(yaml('customers.email')), /fields\[0\].*not a valid field selector.*starts with \$ or \*\*/s);
    assert.equal(parsePolicyDocuments(yaml('**.ssn'))[0].rules[0].mask?.[0].fields?.[0], '**.ssn');
  });
});
