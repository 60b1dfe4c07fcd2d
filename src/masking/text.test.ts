import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { MaskItem } from '../policy/schema.js';
import { compilePlan, type ContentAction } from './plan.js';
import { maskContent, maskFreeText } from './text.js';

type Rules = Array<{ rule: string; items: MaskItem[] }>;

const KEY = Buffer.from('test-key-for-masking-0123456789');
const EMAIL = 'alice.smith@example.com';
const CARD = '4111 1111 1111 1111';
const JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';
const AWS = 'AKIAIOSFODNN7EXAMPLE';

const ISSUE: Rules = [{
  rule: 'pii-masking/mask-pii',
  items: [
    { columns: ['*.email'], strategy: 'partial' },
    { columns: ['public.customers.card_number'], strategy: 'redact' },
    { detectors: ['card', 'email', 'jwt', 'aws_access_key'], strategy: 'redact' },
  ],
}];

/** The content action a plan gives a computed text column under `rules`. */
function contentOf(rules: Rules): ContentAction {
  const action = compilePlan(rules, [{ name: '?column?', typeName: 'text', format: 0 }]).columns[0];
  assert.ok(action?.kind === 'content');
  return action;
}

const SCAN = contentOf(ISSUE);
const mask = (value: string, action = SCAN) => maskContent(value, action, KEY);

describe('maskContent', () => {
  test('returns the very same string when nothing matches', () => {
    const value = 'nothing to see: order 12345, 2024-01-15, token abc';
    assert.equal(mask(value), value);
    assert.equal(mask(''), '');
  });

  test('replaces each match in place and keeps the text around it', () => {
    assert.equal(mask(`card ${CARD}, mail ${EMAIL}, key ${AWS}.`), 'card [REDACTED], mail [REDACTED], key [REDACTED].');
  });

  test('each detector uses its own strategy; null inside a text becomes [REDACTED]', () => {
    const action = contentOf([{ rule: 'p/r', items: [
      { detectors: ['email'], strategy: 'partial' }, { detectors: ['card'], strategy: 'partial' },
      { detectors: ['ssn'], strategy: 'null' }, { detectors: ['ipv4'], strategy: 'hash' },
    ] }]);
    const out = mask(`${EMAIL} ${CARD} 123-45-6789 10.1.2.3`, action);
    assert.match(out, /^\*\*\*@example\.com \*\*\*\*1111 \[REDACTED\] h_[A-Za-z0-9_-]{16}$/);
    assert.equal(mask('10.1.2.3', action), mask('10.1.2.3', action), 'hash tokens are stable');
  });

  test('overlapping matches: the earliest wins, then the longest', () => {
    const action = contentOf([{ rule: 'p/r', items: [
      { patterns: ['1111 1111'], strategy: 'hash' }, { detectors: ['card'], strategy: 'partial' },
      { patterns: ['example'], strategy: 'redact' }, { detectors: ['email'], strategy: 'partial' },
    ] }]);
    assert.equal(mask(`${CARD} ${EMAIL}`, action), '****1111 ***@example.com');
    const overlapLater = contentOf([{ rule: 'p/r', items: [{ patterns: ['bc', 'abc'], strategy: 'redact' }] }]);
    assert.equal(mask('xabcx', overlapLater), 'x[REDACTED]x');
  });

  test('operator patterns: every match, zero-length matches ignored', () => {
    const action = contentOf([{ rule: 'p/r', items: [{ patterns: ['ACCT-\\d{6}', 'x*'], strategy: 'redact' }] }]);
    assert.equal(mask('ACCT-123456 and ACCT-654321', action), '[REDACTED] and [REDACTED]');
    assert.equal(mask('ACCT-123456 and ACCT-654321', action), '[REDACTED] and [REDACTED]', 'the shared RegExp restarts');
  });
});

describe('evasion: values that left their column are still scanned', () => {
  test('lower() and upper() outputs', () => {
    assert.equal(mask(EMAIL.toLowerCase()), '[REDACTED]');
    assert.equal(mask(EMAIL.toUpperCase()), '[REDACTED]');
    assert.equal(mask(AWS.toLowerCase()), '[REDACTED]');
  });

  test('concatenations', () => {
    assert.equal(mask(`${EMAIL}`.concat('')), '[REDACTED]');
    assert.equal(mask(`Alice <${EMAIL}>`), 'Alice <[REDACTED]>');
    assert.equal(mask(`${EMAIL} ${CARD}`), '[REDACTED] [REDACTED]');
    assert.equal(mask(`${CARD} 1`), '[REDACTED] 1', 'digits appended after a space do not hide the card');
  });

  test('row_to_json and json_agg output stays valid JSON with the values masked inside', () => {
    const json = JSON.stringify({ id: 1, email: 'a@b.com', card_number: CARD, notes: `line one\n${EMAIL} token ${JWT} key ${AWS}` });
    const out = mask(json);
    assert.deepEqual(JSON.parse(out), { id: 1, email: '[REDACTED]', card_number: '[REDACTED]', notes: 'line one\n[REDACTED] token [REDACTED] key [REDACTED]' });
    const agg = JSON.stringify([{ email: 'a@b.com' }, { email: 'c@d.org' }]);
    assert.deepEqual(JSON.parse(mask(agg)), [{ email: '[REDACTED]' }, { email: '[REDACTED]' }]);
    assert.equal(mask('{"email":"a@b.com"}'), '{"email":"[REDACTED]"}');
  });

  test('array literals and string_agg lists', () => {
    assert.equal(mask('{a@b.com,c@d.org}'), '{[REDACTED],[REDACTED]}');
    assert.equal(mask('{"4111 1111 1111 1111","5555 5555 5555 4444"}'), '{"[REDACTED]","[REDACTED]"}');
    assert.equal(mask('a@b.com, c@d.org'), '[REDACTED], [REDACTED]');
    assert.equal(mask(`${EMAIL} ${CARD},bob@x.io 5555-5555-5555-4444`), '[REDACTED] [REDACTED],[REDACTED] [REDACTED]');
  });

  test('escaped newlines before a secret do not let it through or break the escape', () => {
    const out = mask(JSON.stringify(`x\nbob@example.org\n${AWS}\n${CARD}`));
    assert.equal(JSON.parse(out), 'x\n[REDACTED]\n[REDACTED]\n[REDACTED]');
  });
});

describe('maskFreeText', () => {
  test('NOTIFY payloads and messages get every content rule', () => {
    assert.equal(maskFreeText(`customer ${EMAIL} paid`, ISSUE, KEY), 'customer [REDACTED] paid');
    const text = 'nothing sensitive';
    assert.equal(maskFreeText(text, ISSUE, KEY), text);
    assert.equal(maskFreeText(`a ${EMAIL}`, [], KEY), `a ${EMAIL}`);
  });

  test('detectors scoped to columns still apply to free text', () => {
    const rules: Rules = [{ rule: 'p/r', items: [{ columns: ['*.notes'], detectors: ['card'], strategy: 'redact' }] }];
    assert.equal(maskFreeText(`Key (notes)=(${CARD}) already exists.`, rules, KEY), 'Key (notes)=([REDACTED]) already exists.');
  });

  test('values echoed with a column name a column rule covers are masked even without a detector', () => {
    const rules: Rules = [{ rule: 'p/r', items: [{ columns: ['*.email', 'public.customers.card_number'], strategy: 'partial' }] }];
    const mask = (text: string) => maskFreeText(text, rules, KEY);
    assert.equal(mask('Key (email)=(alice) already exists.'), 'Key (email)=([REDACTED]) already exists.');
    assert.equal(mask('Key (lower(email::text))=(alice) already exists.'), 'Key (lower(email::text))=([REDACTED]) already exists.');
    assert.equal(mask('Key (card_number)=(4111) is not present in table "cards".'), 'Key (card_number)=([REDACTED]) is not present in table "cards".');
    assert.equal(mask('Key (id)=(5) is not present in table "customers".'), 'Key (id)=(5) is not present in table "customers".');
    assert.equal(mask('Key (c)=(1) conflicts with existing key (email)=(x@y).'), 'Key (c)=(1) conflicts with existing key (email)=([REDACTED]).');
    assert.equal(mask('Failing row contains (2, Dup, alice, null).'), 'Failing row contains ([REDACTED]).');
  });

  test('without column rules the echoes are left to the detectors', () => {
    const rules: Rules = [{ rule: 'p/r', items: [{ detectors: ['email'], strategy: 'redact' }] }];
    const text = 'Failing row contains (2, Dup, alice, null).';
    assert.equal(maskFreeText(text, rules, KEY), text);
    assert.equal(maskFreeText(`Key (email)=(${EMAIL}) already exists.`, rules, KEY), 'Key (email)=([REDACTED]) already exists.');
  });
});
