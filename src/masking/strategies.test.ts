import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { REDACTED, maskValue } from './strategies.js';

const KEY = Buffer.from('0123456789abcdef0123456789abcdef');
const OTHER_KEY = Buffer.from('fedcba9876543210fedcba9876543210');

describe('redact and null', () => {
  test('redact is one fixed token whatever the value or kind', () => {
    assert.equal(maskValue('redact', 'alice@example.com', 'email', KEY), '[REDACTED]');
    assert.equal(maskValue('redact', '', 'column', KEY), REDACTED);
  });

  test('null is SQL NULL', () => {
    assert.equal(maskValue('null', '4111 1111 1111 1111', 'card', KEY), null);
    assert.equal(maskValue('null', 'x', 'column', KEY), null);
  });
});

describe('partial', () => {
  test('an e-mail keeps its domain only, found by a detector or as a whole column value', () => {
    assert.equal(maskValue('partial', 'alice.smith@example.com', 'email', KEY), '***@example.com');
    assert.equal(maskValue('partial', 'bob@mail.example.co.uk', 'column', KEY), '***@mail.example.co.uk');
  });

  test('a card keeps its last four digits and nothing else of its layout', () => {
    assert.equal(maskValue('partial', '4111 1111 1111 1111', 'card', KEY), '****1111');
    assert.equal(maskValue('partial', '4111-1111-1111-1234', 'column', KEY), '****1234');
    assert.equal(maskValue('partial', '123-45-6789', 'ssn', KEY), '****6789');
    assert.equal(maskValue('partial', '+1 (555) 123-4567', 'phone', KEY), '****4567');
  });

  test('short values show nothing: at least half must stay hidden', () => {
    assert.equal(maskValue('partial', '1234', 'column', KEY), '****');
    assert.equal(maskValue('partial', 'ab', 'column', KEY), '****');
    assert.equal(maskValue('partial', '123456', 'column', KEY), '****', 'a six-digit PIN');
    assert.equal(maskValue('partial', '', 'column', KEY), '****');
    assert.equal(maskValue('partial', '12345678', 'column', KEY), '****5678');
  });

  test('a value that is not an e-mail under an email-ish kind falls back to the last four', () => {
    assert.equal(maskValue('partial', 'user@localhost-box1', 'column', KEY), '****box1');
    assert.equal(maskValue('partial', 'GB82 WEST 1234 5698 7654 32', 'iban', KEY), '****5432');
  });

  test('letters and digits beyond ASCII count, surrogate pairs stay whole', () => {
    assert.equal(maskValue('partial', 'Jürgen Müller-Lüdenscheid', 'column', KEY), '****heid');
    assert.equal(maskValue('partial', '𝟘𝟙𝟚𝟛𝟜𝟝𝟞𝟟𝟠𝟡', 'column', KEY), '****𝟞𝟟𝟠𝟡');
  });
});

describe('hash', () => {
  test('h_ and 16 base64url characters of the keyed HMAC', () => {
    const token = maskValue('hash', 'alice@example.com', 'email', KEY);
    assert.match(token ?? '', /^h_[A-Za-z0-9_-]{16}$/);
  });

  test('deterministic: equal values give equal tokens, so joins and GROUP BY survive', () => {
    const a = maskValue('hash', 'alice@example.com', 'email', KEY);
    assert.equal(maskValue('hash', 'alice@example.com', 'column', KEY), a, 'the kind does not change the token');
    assert.notEqual(maskValue('hash', 'bob@example.com', 'email', KEY), a);
  });

  test('depends on the key: another deployment cannot match tokens', () => {
    assert.notEqual(maskValue('hash', 'alice@example.com', 'email', OTHER_KEY), maskValue('hash', 'alice@example.com', 'email', KEY));
  });
});
