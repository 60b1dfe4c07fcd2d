import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MASK_DETECTORS } from '../policy/schema.js';
import { maskDataRow } from './datarow.js';
import { findMatches, type DetectorName } from './detectors.js';
import { compilePlan, type ContentAction } from './plan.js';
import { DETECTOR_BITS, actionScreen, screen } from './screen.js';
import { maskContent } from './text.js';
import { prng } from './test-random.js';

const KEY = Buffer.from('screen-test-key-0123456789abcdef');
const JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';

/** Values each detector must find (and the screen must therefore let through). */
const POSITIVES: Record<DetectorName, string[]> = {
  card: ['4111 1111 1111 1111', 'x 4111-1111-1111-1111 y', '5555555555554444', '3782 822463 10005', '"\\n4222222222222"'],
  email: ['a@b.com', 'contact zoë@exämple.de now', '{"e":"x.y+z@mail.example.co.uk"}', 'ALICE@EXAMPLE.COM'],
  phone: ['+1 (555) 123-4567', '+14155552671', '555-123-4567', '(555) 123-4567', '0044 20 7946 0958', '020 7946 0958', '+44 (0) 20 7946 0958'],
  iban: ['GB82 WEST 1234 5698 7654 32', 'gb82west12345698765432', 'x NL91ABNA0417164300.'],
  ssn: ['123-45-6789', 'ssn:078-05-1120'],
  ipv4: ['10.0.0.1', 'from 192.168.1.255.'],
  ipv6: ['::1', '2001:db8::1', '::ffff:192.168.1.1', '2001:0db8:85a3:0000:0000:8a2e:0370:7334'],
  jwt: [JWT, `Bearer ${JWT}`],
  private_key: ['-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----', '-----begin private key-----abc'],
  aws_access_key: ['AKIAIOSFODNN7EXAMPLE', 'key=ASIAY34FZKBOKMUTVV7A;', 'akiaiosfodnn7example', '"k":"\\nAKIAIOSFODNN7EXAMPLE"',
    `${'x'.repeat(40)} AKIAIOSFODNN7EXAMPLE`],
  github_token: [`ghp_${'A1b2C3d4E5'.repeat(4)}`, `GHS_${'a'.repeat(36)}`, `github_pat_11ABCDEFG0123456789_${'x'.repeat(30)}`],
  slack_token: ['xoxb-1234567890-0987654321-AbCdEf', 'XOXP-1234567890abc'],
  generic_api_key: ['sk_live_4eC39HqLyjWDarjtT1zdp7dc', 'AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6q', 'glpat-abcdefghij1234567890',
    `npm_${'a1'.repeat(18)}`, 'api_key=abcd1234efgh5678ijkl9012', '{"token": "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5"}'],
};

const ALL: ContentAction = (() => {
  const action = compilePlan([{ rule: 'p/all', items: [{ detectors: [...MASK_DETECTORS], strategy: 'redact' }] }],
    [{ name: 'x', typeName: 'text', format: 0 }]).columns[0];
  assert.ok(action?.kind === 'content');
  return action;
})();

function row(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  const body = Buffer.alloc(6 + bytes.length);
  body.writeInt16BE(1, 0);
  body.writeInt32BE(bytes.length, 2);
  bytes.copy(body, 6);
  return body;
}

/** What the DataRow path (screened on bytes) makes of a value, as text. */
function viaDataRow(value: string, action = ALL): string {
  const plan = { columns: [action], empty: false };
  const out = maskDataRow(row(value), plan, KEY);
  return out === null ? value : out.toString('utf8', 6);
}


describe('byte screen', () => {
  test('never rejects a value its detector finds a match in', () => {
    const all = actionScreen(ALL);
    for (const [detector, samples] of Object.entries(POSITIVES) as Array<[DetectorName, string[]]>) {
      for (const sample of samples) {
        assert.notDeepEqual(findMatches(detector, sample), [], `${detector} finds ${sample}`);
        const bytes = Buffer.from(sample, 'utf8');
        assert.notEqual(screen(bytes, 0, bytes.length, all) & DETECTOR_BITS[detector], 0, `${detector} screen passes ${sample}`);
      }
    }
  });

  test('rejects ordinary values for the cheap detectors', () => {
    const all = actionScreen(ALL);
    for (const value of ['12345', 'User number 123', '0b8efa5a3bf104413a725c6ff0459a6b', 'shipped 2024-01-15 at noon']) {
      const bytes = Buffer.from(value);
      const bits = screen(bytes, 0, bytes.length, all);
      // Not iban: hex like 'bf10' has the shape of an IBAN start, and the checksum decides.
      for (const d of ['card', 'email', 'phone', 'jwt', 'aws_access_key', 'github_token', 'generic_api_key'] as const) {
        assert.equal(bits & DETECTOR_BITS[d], 0, `${d} on ${value}`);
      }
    }
  });

  test('the screened DataRow path and maskContent agree on every sample', () => {
    for (const sample of Object.values(POSITIVES).flat()) {
      for (const value of [sample, `pre ${sample} post`, `${sample}, ${sample}`, JSON.stringify({ v: `ü\n${sample}` })]) {
        assert.equal(viaDataRow(value), maskContent(value, ALL, KEY), value);
      }
    }
  });

  test('fuzz: random mixes of digits, separators, letters and secrets agree on both paths', () => {
    const random = prng(20240611);
    const pieces = [...Object.values(POSITIVES).flat(), '0', '1', '9', ' ', '-', '.', ':', '@', '_', '=', '(', ')', '+', 'a',
      'A', 'x', 'J', 'ey', 'é', '€', '\\n', '"', 'GB', 'AKIA', 'gh', 'xox', '-----', '1234', '555', 'example.com'];
    for (let i = 0; i < 3000; i++) {
      let value = '';
      const n = 1 + Math.floor(random() * 12);
      for (let j = 0; j < n; j++) value += pieces[Math.floor(random() * pieces.length)];
      assert.equal(viaDataRow(value), maskContent(value, ALL, KEY), JSON.stringify(value));
    }
  });
});
