/**
 * Policy loading tests: the documented examples parse exactly and normalise as promised, YAML (multi-document,
 * lists) and JSON (object, array) inputs, and every validation error with its exact operator-facing message.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WardenError } from '../errors.js';
import { formatPath, parsePolicyDocuments, validatePolicy } from './load.js';
import { policySchemaFor, policyToDocument } from './schema.js';
import { policyProtocols } from './vocabulary.js';
import { GUARDRAILS_YAML, MASKING_YAML } from './test-fixtures.js';

function badRequest(message: string) {
  return (err: unknown) => {
    assert.ok(err instanceof WardenError, `expected WardenError, got ${String(err)}`);
    assert.equal(err.code, 'WARDEN_ERR_BAD_REQUEST');
    assert.equal(err.message, message);
    return true;
  };
}

describe('parsePolicyDocuments: documented examples', () => {
  it('parses the guardrails example exactly and normalises it', () => {
    assert.deepEqual(parsePolicyDocuments(GUARDRAILS_YAML), [{
      kind: 'Policy',
      name: 'prod-guardrails',
      rules: [
        {
          name: 'block-destructive', targets: ['pg-*'], match: { classes: ['destructive', 'unknown'] }, effect: 'deny',
          message: 'destructive statements are blocked on production',
        },
        {
          name: 'writes-need-approval', targets: ['pg-*'], subjects: { groups: ['agents'] }, match: { classes: ['write'] },
          effect: 'require_approval', approvers: { groups: ['dba'], users: [], count: 1 }, timeout: '2m', timeoutSeconds: 120,
        },
        { name: 'reads-and-writes', targets: ['pg-*'], match: { classes: ['read', 'write'] }, effect: 'allow' },
      ],
    }]);
  });

  it('parses the masking example exactly', () => {
    const [policy] = parsePolicyDocuments(MASKING_YAML);
    assert.equal(policy.name, 'pii-masking');
    assert.deepEqual(policy.rules[1], {
      name: 'mask-pii',
      targets: ['pg-*'],
      mask: [
        { columns: ['*.email'], strategy: 'partial' },
        { columns: ['public.customers.card_number'], strategy: 'redact' },
        { detectors: ['card', 'email', 'jwt', 'aws_access_key'], strategy: 'redact' },
      ],
    });
  });

  it('fills defaults: targets *, approvers count 1 and users [], timeout 5m', () => {
    const [policy] = parsePolicyDocuments(`kind: Policy
name: p
description: defaults
rules:
  - name: r
    description: needs a dba
    effect: require_approval
    approvers: { users: [bob] }
`);
    assert.deepEqual(policy, {
      kind: 'Policy', name: 'p', description: 'defaults',
      rules: [{
        name: 'r', description: 'needs a dba', targets: ['*'], effect: 'require_approval',
        approvers: { groups: [], users: ['bob'], count: 1 }, timeout: '5m', timeoutSeconds: 300,
      }],
    });
  });

  it('round-trips through policyToDocument', () => {
    for (const text of [GUARDRAILS_YAML, MASKING_YAML]) {
      const [policy] = parsePolicyDocuments(text);
      const again = validatePolicy(JSON.parse(JSON.stringify(policyToDocument(policy))));
      assert.deepEqual(again, policy);
      assert.equal(policySchemaFor(policyProtocols()).safeParse(policyToDocument(policy)).success, true);
    }
  });
});

describe('parsePolicyDocuments: formats', () => {
  const json = { kind: 'Policy', name: 'j', rules: [{ name: 'all', effect: 'allow' }] };

  it('reads JSON objects and arrays', () => {
    assert.deepEqual(parsePolicyDocuments(JSON.stringify(json), 'json'), [
      { kind: 'Policy', name: 'j', rules: [{ name: 'all', targets: ['*'], effect: 'allow' }] },
    ]);
    const two = [json, { ...json, name: 'k' }];
    assert.deepEqual(parsePolicyDocuments(JSON.stringify(two), 'json').map((p) => p.name), ['j', 'k']);
    // JSON is YAML too, so the default format accepts it.
    assert.deepEqual(parsePolicyDocuments(JSON.stringify(two)).map((p) => p.name), ['j', 'k']);
  });

  it('reads multi-document YAML, skipping empty documents and flattening lists', () => {
    const text = `---\n${GUARDRAILS_YAML}---\n# only a comment\n---\n${MASKING_YAML}---\n- kind: Policy\n  name: x\n  rules: []\n`;
    assert.deepEqual(parsePolicyDocuments(text).map((p) => p.name), ['prod-guardrails', 'pii-masking', 'x']);
  });

  it('names the failing document by name, else by position', () => {
    const text = `${MASKING_YAML}---\nkind: Policy\nname: 7bad name\nrules: []\n`;
    assert.throws(() => parsePolicyDocuments(text),
      badRequest('policy "7bad name": name: must be 1-63 letters, digits, . _ - starting with a letter or digit'));
    assert.throws(() => parsePolicyDocuments(`${MASKING_YAML}---\nkind: Policy\nrules: []\n`),
      badRequest('policy document 2: name: required'));
    assert.throws(() => parsePolicyDocuments('[1]', 'json'), badRequest('policy: expected object, got number'));
  });

  it('rejects unparseable text, empty input and duplicate policy names', () => {
    assert.throws(() => parsePolicyDocuments('{', 'json'), (err: unknown) =>
      err instanceof WardenError && err.code === 'WARDEN_ERR_BAD_REQUEST' && err.message.startsWith('policy JSON does not parse: '));
    assert.throws(() => parsePolicyDocuments('kind: Policy\n  name: [x\n'), (err: unknown) =>
      err instanceof WardenError && err.message.startsWith('policy YAML document 1 does not parse: '));
    assert.throws(() => parsePolicyDocuments('# nothing\n'), badRequest('no policy documents found'));
    assert.throws(() => parsePolicyDocuments(`${MASKING_YAML}---\n${MASKING_YAML}`),
      badRequest('policy "pii-masking": defined more than once'));
  });

  it('formats paths the way operators write them', () => {
    assert.equal(formatPath([]), '');
    assert.equal(formatPath(['rules', 1, 'mask', 0, 'patterns', 2]), 'rules[1].mask[0].patterns[2]');
  });
});

describe('validatePolicy: every validation error', () => {
  const policy = (...rules: object[]) => ({ kind: 'Policy', name: 'p', rules });
  const cases: Array<[string, unknown, string]> = [
    ['unknown top-level field', { ...policy(), spec: {} }, 'spec: unknown field'],
    ['unknown rule field', policy({ name: 'r', effect: 'allow', effects: 'deny' }), 'rules[0].effects: unknown field'],
    ['unknown match field', policy({ name: 'r', effect: 'allow', match: { table: ['x'] } }), 'rules[0].match.table: unknown field'],
    ['wrong kind', { ...policy(), kind: 'Target' }, 'kind: must be "Policy"'],
    ['missing kind', { name: 'p', rules: [] }, 'kind: required'],
    ['missing rules', { kind: 'Policy', name: 'p' }, 'rules: required'],
    ['bad class', policy({ name: 'r', effect: 'deny', match: { classes: ['delete'] } }),
      'rules[0].match.classes[0]: must be one of read, write, ddl, destructive, privilege, admin, unknown, network, shell, forward, exec, secrets'],
    ['bad effect', policy({ name: 'r', effect: 'block' }), 'rules[0].effect: must be one of allow, deny, require_approval'],
    ['bad rule name', policy({ name: '-r', effect: 'allow' }),
      'rules[0].name: must start with a letter or digit and hold only letters, digits, . _ -'],
    ['duplicate rule names', policy({ name: 'r', effect: 'allow' }, { name: 's', effect: 'allow' }, { name: 'r', effect: 'deny' }),
      'rules[2].name: duplicate rule name "r" (also rules[0])'],
    ['neither effect nor mask', policy({ name: 'r', targets: ['pg-*'] }), 'rules[0]: needs an effect, a mask or session settings'],
    ['approvers without require_approval', policy({ name: 'r', effect: 'allow', approvers: { groups: ['dba'] } }),
      'rules[0].approvers: allowed only when effect is require_approval'],
    ['timeout without require_approval', policy({ name: 'r', effect: 'deny', timeout: '2m' }),
      'rules[0].timeout: allowed only when effect is require_approval'],
    ['message without deny', policy({ name: 'r', effect: 'allow', message: 'hi' }), 'rules[0].message: allowed only when effect is deny'],
    ['require_approval without approvers', policy({ name: 'r', effect: 'allow' }, { name: 's', effect: 'require_approval' }),
      'rules[1].approvers: required when effect is require_approval'],
    ['approvers with nobody', policy({ name: 'r', effect: 'require_approval', approvers: { groups: [], count: 1 } }),
      'rules[0].approvers: needs at least one group or user'],
    ['count above the named users', policy({ name: 'r', effect: 'require_approval', approvers: { users: ['a', 'b'], count: 3 } }),
      'rules[0].approvers.count: 3 approvals needed but only 2 user(s) listed'],
    ['count out of range', policy({ name: 'r', effect: 'require_approval', approvers: { groups: ['dba'], count: 11 } }),
      'rules[0].approvers.count: must be at most 10'],
    ['count zero', policy({ name: 'r', effect: 'require_approval', approvers: { groups: ['dba'], count: 0 } }),
      'rules[0].approvers.count: must be at least 1'],
    ['bad timeout', policy({ name: 'r', effect: 'require_approval', approvers: { groups: ['dba'] }, timeout: 'soon' }),
      'rules[0].timeout: invalid duration "soon": use a positive amount like 90s, 15m or 1h'],
    ['timeout over 24h', policy({ name: 'r', effect: 'require_approval', approvers: { groups: ['dba'] }, timeout: '1d1s' }),
      'rules[0].timeout: "1d1s" is longer than the maximum of 24h'],
    ['bad regex', policy({ name: 'r', mask: [{ patterns: ['ok', '(unclosed'], strategy: 'redact' }] }),
      'rules[0].mask[0].patterns[1]: not a valid regular expression (Invalid regular expression: /(unclosed/: Unterminated group)'],
    ['bad detector', policy({ name: 'r', mask: [{ detectors: ['passport'], strategy: 'hash' }] }),
      'rules[0].mask[0].detectors[0]: must be one of card, email, phone, iban, ssn, ipv4, ipv6, jwt, private_key, aws_access_key, github_token, slack_token, generic_api_key'],
    ['bad strategy', policy({ name: 'r', mask: [{ columns: ['*.email'], strategy: 'shuffle' }] }),
      'rules[0].mask[0].strategy: must be one of redact, partial, hash, null'],
    ['mask item selecting nothing', policy({ name: 'r', mask: [{ strategy: 'null' }] }),
      'rules[0].mask[0]: needs columns, types, fields, detectors or patterns'],
    ['empty targets', policy({ name: 'r', effect: 'allow', targets: [] }), 'rules[0].targets: must not be empty'],
    ['empty subjects', policy({ name: 'r', effect: 'allow', subjects: {} }),
      'rules[0].subjects: needs users, groups, services, agents or chain'],
    ['empty chain', policy({ name: 'r', effect: 'allow', subjects: { chain: {} } }), 'rules[0].subjects.chain: needs actors or longerThan'],
    ['negative longerThan', policy({ name: 'r', effect: 'allow', subjects: { chain: { longerThan: -1 } } }),
      'rules[0].subjects.chain.longerThan: must be at least 0'],
    ['wrong type', policy({ name: 'r', effect: 'allow', targets: 'pg-*' }), 'rules[0].targets: expected array, got string'],
    ['label value not a string', policy({ name: 'r', effect: 'allow', targetLabels: { env: 1 } }),
      'rules[0].targetLabels.env: expected string, got number'],
    ['unbounded not boolean', policy({ name: 'r', effect: 'deny', match: { unbounded: 'yes' } }),
      'rules[0].match.unbounded: expected boolean, got string'],
  ];
  for (const [title, value, problem] of cases) {
    it(title, () => assert.throws(() => validatePolicy(value), badRequest(`policy "p": ${problem}`)));
  }

  it('reports several problems at once, capped at five', () => {
    const rules = Array.from({ length: 7 }, (_, i) => ({ name: `r${i}`, effect: 'nope' }));
    assert.throws(() => validatePolicy(policy(...rules)), (err: unknown) => {
      assert.ok(err instanceof WardenError);
      assert.match(err.message, /^policy "p": rules\[0\]\.effect: .*; rules\[4\]\.effect: [^;]*; and 2 more problem\(s\)$/);
      return true;
    });
  });

  it('names the example path from the brief for a JSON-decoded body', () => {
    const body = { kind: 'Policy', name: 'prod-guardrails', rules: [{ name: 'a', effect: 'allow' }, { name: 'b', effect: 'require_approval' }] };
    assert.throws(() => validatePolicy(body),
      badRequest('policy "prod-guardrails": rules[1].approvers: required when effect is require_approval'));
  });
});
