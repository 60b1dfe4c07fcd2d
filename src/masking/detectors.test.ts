import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MASK_DETECTORS } from '../policy/schema.js';
import { findMatches, isDetectorName, type DetectorName } from './detectors.js';
import { ibanChecksumValid, luhnValid } from './scan.js';

/** The matched substrings, which read better in failures than offsets. */
function found(detector: DetectorName, text: string): string[] {
  return findMatches(detector, text).map(([start, end]) => text.slice(start, end));
}

function detects(detector: DetectorName, hits: Record<string, string[]>): void {
  for (const [text, expected] of Object.entries(hits)) assert.deepEqual(found(detector, text), expected, text);
}

const JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';

describe('registry', () => {
  test('every detector the policy schema admits is implemented, and nothing else', () => {
    for (const name of MASK_DETECTORS) assert.equal(isDetectorName(name), true, name);
    assert.equal(isDetectorName('credit_card'), false);
    assert.equal(isDetectorName('toString'), false, 'no prototype keys');
  });

  test('results are fresh arrays the caller may keep', () => {
    const a = findMatches('email', 'nothing here');
    a.push([0, 1]);
    assert.deepEqual(findMatches('email', 'nothing here'), []);
  });
});

describe('card', () => {
  test('Luhn-valid numbers of 13-19 digits, plain or grouped by spaces or dashes', () => {
    detects('card', {
      '4111 1111 1111 1111': ['4111 1111 1111 1111'],
      'pay with 4111-1111-1111-1111 today': ['4111-1111-1111-1111'],
      '{"card":"5555555555554444"}': ['5555555555554444'],
      'amex 3782 822463 10005': ['3782 822463 10005'],
      '4222222222222': ['4222222222222'],
      '4111 1111 1111 1111 2024': ['4111 1111 1111 1111'],
      '4111 1111 1111 1111 5555 5555 5555 4444': ['4111 1111 1111 1111', '5555 5555 5555 4444'],
      'note\\n4111111111111111': ['4111111111111111'],
    });
    assert.equal(luhnValid('4111111111111111'), true);
  });

  test('no Luhn, wrong length, decimals and identifiers are not cards', () => {
    detects('card', {
      '4111-1111-1111-1112': [],
      '4111 1111 1111 1112': [],
      '411111111111': [],
      '41111111111111111111111': [],
      '0.4111111111111111': [],
      'order ORD4111111111111111': [],
      '4111111111111111abc': [],
      '2024-01-15 10:30:00': [],
    });
  });
});

describe('iban', () => {
  test('country code, country length and mod-97 checksum', () => {
    detects('iban', {
      'GB82 WEST 1234 5698 7654 32': ['GB82 WEST 1234 5698 7654 32'],
      'iban: GB82WEST12345698765432.': ['GB82WEST12345698765432'],
      'gb82 west 1234 5698 7654 32': ['gb82 west 1234 5698 7654 32'],
      'DE89 3704 0044 0532 0130 00 and NL91ABNA0417164300': ['DE89 3704 0044 0532 0130 00', 'NL91ABNA0417164300'],
      'GB82 WEST 1234 5698 7654 32 THANKS': ['GB82 WEST 1234 5698 7654 32'],
    });
    assert.equal(ibanChecksumValid('GB82WEST12345698765432'), true);
  });

  test('a changed digit, a wrong length or trailing characters fail', () => {
    detects('iban', {
      'GB82 WEST 1234 5698 7654 33': [],
      'GB83 WEST 1234 5698 7654 32': [],
      'GB82 WEST 1234 5698 7654 3': [],
      'GB82WEST12345698765432X': [],
      'AB12 3456 7890 1234 5678': [],
    });
  });
});

describe('ssn', () => {
  test('ddd-dd-dddd outside the never-issued areas, groups and serials', () => {
    detects('ssn', { 'ssn 123-45-6789.': ['123-45-6789'], '078-05-1120': ['078-05-1120'] });
    detects('ssn', {
      '000-45-6789': [], '666-45-6789': [], '900-45-6789': [], '999-45-6789': [], '123-00-6789': [],
      '123-45-0000': [], '123456789': [], '1123-45-6789': [], '123-45-67890': [], '2024-01-15': [],
    });
  });
});

describe('email', () => {
  test('local@domain.tld in prose, lists, JSON and escaped JSON text', () => {
    detects('email', {
      'alice.smith@example.com': ['alice.smith@example.com'],
      'a@b.com, c@d.org': ['a@b.com', 'c@d.org'],
      '{"email":"a@b.com"}': ['a@b.com'],
      '"line\\nbob+tag@mail.example.co.uk"': ['bob+tag@mail.example.co.uk'],
      'ALICE@EXAMPLE.COM': ['ALICE@EXAMPLE.COM'],
      'grüße an zoë@exämple.de!': ['zoë@exämple.de'],
    });
  });

  test('no domain, no TLD or a bare @ are not addresses', () => {
    detects('email', { 'user@localhost': [], '@example.com': [], 'a@b': [], 'a@b.c': [], 'price @ 5.00': [] });
  });
});

describe('phone', () => {
  test('E.164 and formatted national numbers with at least 10 digits', () => {
    detects('phone', {
      'call +1 (555) 123-4567 now': ['+1 (555) 123-4567'],
      '+14155552671': ['+14155552671'],
      '+44 20 7946 0958': ['+44 20 7946 0958'],
      '555-123-4567': ['555-123-4567'],
      '(555) 123-4567': ['(555) 123-4567'],
      '1-800-555-0199': ['1-800-555-0199'],
      '0044 20 7946 0958': ['0044 20 7946 0958'],
      '020 7946 0958': ['020 7946 0958'],
    });
  });

  test('plain long numbers, short numbers, cards, dates and IBANs are not phones', () => {
    detects('phone', {
      '5551234567': [], '123-4567': [], '+1 555 12': [], '4111 1111 1111 1111': [], '2024-01-15 10:30:00': [],
      'DE89 3704 0044 0532 0130 00': [], '123-45-6789': [], 'id 100200300400': [],
    });
  });
});

describe('ipv4 and ipv6', () => {
  test('dotted quads with octets up to 255', () => {
    detects('ipv4', {
      'from 10.0.0.1 and 192.168.1.255.': ['10.0.0.1', '192.168.1.255'],
      '256.1.1.1': [], '1.2.3': [], '1.2.3.4.5': [], '10.0.0.300': [],
    });
  });

  test('full, compressed and IPv4-mapped IPv6 addresses; node:net decides', () => {
    detects('ipv6', {
      '2001:0db8:85a3:0000:0000:8a2e:0370:7334': ['2001:0db8:85a3:0000:0000:8a2e:0370:7334'],
      'via 2001:db8::1, then fe80::1': ['2001:db8::1', 'fe80::1'],
      '::1': ['::1'],
      '::ffff:192.168.1.1': ['::ffff:192.168.1.1'],
      '12:34:56': [], 'std::vector': [], ' :: ': [], '00:1a:2b:3c:4d:5e': [], '2001:db8:::1': [],
    });
  });
});

describe('credentials', () => {
  test('JWT: three base64url parts whose header is JSON with alg', () => {
    detects('jwt', { [`Bearer ${JWT}`]: [JWT], [`{"t":"${JWT}"}`]: [JWT] });
    const noAlg = `${Buffer.from('{"typ":"JWT"}').toString('base64url')}.eyJzdWIiOiIxIn0.c2ln`;
    detects('jwt', { [noAlg]: [], 'eyJhbGciOi.not.json': [], 'eyJhbGciOiJIUzI1NiJ9': [] });
  });

  test('PEM private keys through END, or to the end of a truncated value', () => {
    const pem = '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----';
    detects('private_key', {
      [`key: ${pem} done`]: [pem],
      '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA': ['-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA'],
      '{"k":"-----BEGIN PRIVATE KEY-----\\nMIIE","n":1}': ['-----BEGIN PRIVATE KEY-----\\nMIIE'],
      '-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----': [],
      '-----BEGIN CERTIFICATE-----': [],
    });
  });

  test('AWS access key ids, upper case or lower-cased with a digit', () => {
    detects('aws_access_key', {
      'aws AKIAIOSFODNN7EXAMPLE key': ['AKIAIOSFODNN7EXAMPLE'],
      'ASIAY34FZKBOKMUTVV7A': ['ASIAY34FZKBOKMUTVV7A'],
      'akiaiosfodnn7example': ['akiaiosfodnn7example'],
      'AKIAIOSFODNN7EXAMPL': [], 'XAKIAIOSFODNN7EXAMPLE': [], 'AKIAIOSFODNN7EXAMPLEX': [], 'asiapacificregionabc': [],
    });
  });

  test('GitHub, Slack and vendor-prefixed tokens', () => {
    const ghp = `ghp_${'A1b2C3d4E5'.repeat(4)}`;
    const pat = `github_pat_11ABCDEFG0123456789_${'x'.repeat(30)}`;
    detects('github_token', { [`token ${ghp}`]: [ghp], [pat]: [pat], 'ghp_short': [], ['ghx_' + 'a'.repeat(40)]: [] });
    detects('slack_token', { 'xoxb-1234567890-0987654321-AbCdEf': ['xoxb-1234567890-0987654321-AbCdEf'], 'xoxb-123': [], 'xoxz-1234567890abc': [] });
    const stripe = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc';
    const google = 'AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6q';
    detects('generic_api_key', {
      [`STRIPE=${stripe}`]: [stripe],
      'rk_live_51Habcdefghij': ['rk_live_51Habcdefghij'],
      [google]: [google],
      'glpat-abcdefghij1234567890': ['glpat-abcdefghij1234567890'],
      [`npm_${'a1'.repeat(18)}`]: [`npm_${'a1'.repeat(18)}`],
      'api_key=abcd1234efgh5678ijkl9012': ['abcd1234efgh5678ijkl9012'],
      '{"token": "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5"}': ['Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5'],
    });
    detects('generic_api_key', {
      'sk_live_short': [], 'token=short1': [], 'token=abcdefghijklmnopqrstuvwxyz': [], 'monkey=abc': [],
    });
  });
});
