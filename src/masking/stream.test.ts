/**
 * StreamMasker tests: matches split at every byte, escapes inside matches, byte-exact output where nothing matches,
 * the bound on held text (a private key or a token longer than it never leaks in part), operator patterns, and a
 * fuzz test: any split of a random stream gives what the unsplit stream gives, and that equals masking the whole
 * text at once.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import type { MaskItem } from '../policy/schema.js';
import { compileRules } from './rules.js';
import { StreamMasker } from './stream.js';
import { prng } from './test-random.js';
import { maskContent } from './text.js';

const KEY = Buffer.from('stream-masking-test-key');
const CARD = '4111 1111 1111 1111';
const JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';
const ALL: MaskItem = { detectors: ['card', 'email', 'jwt', 'private_key', 'aws_access_key', 'iban', 'ssn', 'generic_api_key'], strategy: 'redact' };

function rules(...items: MaskItem[]) {
  return [{ rule: 'p/r', items }];
}

function masker(items: MaskItem[] = [ALL], maxHold?: number): StreamMasker {
  const m = StreamMasker.forRules(rules(...items), KEY, { maxHold });
  assert.ok(m);
  return m;
}

/** Pushes the chunks and flushes at the end; the whole output. */
function stream(chunks: Buffer[], items: MaskItem[] = [ALL], maxHold?: number): Buffer {
  const m = masker(items, maxHold);
  const out = chunks.map((c) => m.push(c));
  out.push(m.flush());
  return Buffer.concat(out);
}

function everySplit(input: Buffer, items: MaskItem[] = [ALL]): Buffer {
  const whole = stream([input], items);
  for (let cut = 0; cut <= input.length; cut++) {
    assert.deepEqual(stream([input.subarray(0, cut), input.subarray(cut)], items).toString('latin1'), whole.toString('latin1'), `cut ${cut}`);
  }
  assert.deepEqual(stream([...input].map((b) => Buffer.from([b])), items), whole, 'byte by byte');
  return whole;
}

describe('StreamMasker', () => {
  it('masks a card number split at any byte', () => {
    const out = everySplit(Buffer.from(`card: ${CARD} ok\r\n$ `));
    assert.equal(out.toString(), 'card: [REDACTED] ok\r\n$ ');
  });

  it('masks e-mails, JWTs, AWS keys and IBANs in terminal lines at any split', () => {
    const input = `alice@example.com\r\ntoken=${JWT}\r\nAKIAIOSFODNN7EXAMPLE GB82WEST12345698765432\r\n`;
    const out = everySplit(Buffer.from(input)).toString();
    assert.equal(out, 'token=[REDACTED]\r\n'.replace('token=', '[REDACTED]\r\ntoken=') + '[REDACTED] [REDACTED]\r\n');
  });

  it('sees a card number through colour escapes (grep --color) and keeps the escapes after the replacement', () => {
    const input = Buffer.from('x \x1b[01;31m\x1b[K4111\x1b[m\x1b[K 1111 1111 1111\x1b(B\r\n');
    const out = everySplit(input).toString('latin1');
    assert.equal(out, 'x \x1b[01;31m\x1b[K[REDACTED]\x1b[m\x1b[K\x1b(B\r\n');
  });

  it('does not glue a window title (OSC) to the screen text, but masks inside it', () => {
    const out = everySplit(Buffer.from('4111 1111\x1b]0;1111 1111\x07 bob@example.com\x1b]2;carol@example.com\x1b\\\r\n')).toString('latin1');
    assert.equal(out, '4111 1111\x1b]0;1111 1111\x07 [REDACTED]\x1b]2;[REDACTED]\x1b\\\r\n');
  });

  it('passes bytes through exactly when nothing matches (invalid UTF-8, escapes, controls)', () => {
    const input = Buffer.concat([Buffer.from('héllo 😀 \x1b[1;2H\x07\x08 '), Buffer.from([0xff, 0xc3, 0x28, 0xe2, 0x82]), Buffer.from(' end')]);
    assert.deepEqual(everySplit(input), input);
  });

  it('emits what no later byte can change at once, and holds the rest until more comes or flush', () => {
    const m = masker();
    assert.equal(m.push(Buffer.from('total 4\r\n$ ')).toString(), 'total 4\r\n$ ');
    assert.equal(m.push(Buffer.from('4111 1111')).toString(), '');
    assert.equal(m.push(Buffer.from(' 1111 1111\r\n')).toString(), '[REDACTED]\r\n');
    assert.equal(m.push(Buffer.from('ls')).toString(), '');
    assert.equal(m.flush().toString(), 'ls');
    assert.equal(m.pending, 0);
  });

  it('applies partial and hash like SQL masking', () => {
    assert.equal(stream([Buffer.from(`${CARD}\r\n`)], [{ detectors: ['card'], strategy: 'partial' }]).toString(), '****1111\r\n');
    const hashed = stream([Buffer.from('bob@example.com\n')], [{ detectors: ['email'], strategy: 'hash' }]).toString();
    assert.equal(hashed, `${maskContent('bob@example.com', compileRules(rules({ detectors: ['email'], strategy: 'hash' })).freeText!, KEY)}\n`);
    assert.match(hashed, /^h_[A-Za-z0-9_-]{16}\n$/);
  });

  it('applies operator patterns across chunks, within a line', () => {
    const out = everySplit(Buffer.from('id: cust-000123 and $cust-42!\r\n'), [{ patterns: ['cust-\\d+'], strategy: 'redact' }]);
    assert.equal(out.toString(), 'id: [REDACTED] and $[REDACTED]!\r\n');
  });

  it('masks a whole private key block, however it is split', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString().replace(/\n/g, '\r\n');
    const out = everySplit(Buffer.from(`$ cat key\r\n${pem}$ `)).toString();
    assert.equal(out, '$ cat key\r\n[REDACTED]\r\n$ ');
  });

  it('never lets part of a key longer than the bound out, and goes on after its END line', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 4096 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString().replace(/\n/g, '\r\n');
    assert.ok(pem.length > 3000);
    const input = Buffer.from(`before\r\n${pem}after 4111111111111111\r\n`);
    for (const size of [1, 7, 100, 1000]) {
      const chunks: Buffer[] = [];
      for (let at = 0; at < input.length; at += size) chunks.push(input.subarray(at, at + size));
      const out = stream(chunks, [ALL], 256).toString();
      assert.equal(out, 'before\r\n[REDACTED]\r\nafter [REDACTED]\r\n', `chunks of ${size}`);
    }
  });

  it('never lets the rest of a token longer than the bound out, once it is recognised', () => {
    // Recognised within the bound (header, payload, the start of the signature); the signature runs on past it.
    const long = `eyJhbGciOiJIUzI1NiJ9.${'a'.repeat(100)}.${'b'.repeat(900)}`;
    const input = Buffer.from(`t ${long} next\r\n`);
    const chunks: Buffer[] = [];
    for (let at = 0; at < input.length; at += 50) chunks.push(input.subarray(at, at + 50));
    const out = stream(chunks, [ALL], 256).toString();
    assert.equal(out, 't [REDACTED] next\r\n');
  });

  it('counts replaced matches by rule', () => {
    const m = masker();
    m.push(Buffer.from(`${CARD} and ${CARD}\n`));
    assert.equal(m.hits.get('p/r'), 2);
  });

  it('is not built for rules without detectors or patterns (columns and types do not apply to streams)', () => {
    assert.equal(StreamMasker.forRules(rules({ columns: ['*.email'], strategy: 'redact' }), KEY), null);
    assert.equal(StreamMasker.forRules([], KEY), null);
  });
});

describe('StreamMasker: early release fails closed', () => {
  /** Pushes each chunk, then releases as a quiet terminal would; the whole output (with a final flush). */
  function quietly(chunks: string[], items: MaskItem[] = [ALL]): string {
    const m = masker(items);
    let out = '';
    for (const chunk of chunks) out += m.push(Buffer.from(chunk)).toString() + m.release().toString();
    return out + m.flush().toString();
  }

  it('never shows a digit of a card number printed one digit at a time', () => {
    const out = quietly(['card: ', ...'4111111111111111', '\r\n$ ']);
    assert.equal(out, 'card: ****************\r\n$ ');
  });

  it('masks each group of a spaced card number released between groups', () => {
    assert.equal(quietly(['4111', ' 1111', ' 1111', ' 1111', '\r\n']), '**** **** **** ****\r\n');
  });

  it('masks a value paused anywhere, whatever the split (no digit ever leaves)', () => {
    const line = `id ${CARD} ssn 078-05-1120 key AKIAIOSFODNN7EXAMPLE\r\n`;
    for (let cut = 1; cut < line.length; cut++) {
      const out = quietly([line.slice(0, cut), line.slice(cut)]);
      assert.doesNotMatch(out, /\d/, `cut ${cut}: ${JSON.stringify(out)}`);
      assert.doesNotMatch(out, /IOSFODNN/, `cut ${cut}`);
      assert.equal(out.length >= 'id  ssn  key \r\n'.length, true);
    }
  });

  it('releases prompts and typed words in clear', () => {
    assert.equal(quietly(['$ ', 'l', 's', ' -', 'la']), '$ ls -la');
    assert.equal(quietly(['Password: ']), 'Password: ');
  });

  it('masks an e-mail paused after its @, and the rest of one paused before it', () => {
    assert.equal(quietly(['mail bob@', 'example.com\n']), `mail ${'*'.repeat('bob@example.com'.length)}\n`);
    assert.equal(quietly(['mail alice', '@example.com\n']), 'mail alice[REDACTED]\n');
  });

  it('replaces a key block released unfinished and drops the rest of it up to its END line', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString().replace(/\n/g, '\r\n');
    const at = pem.indexOf('\r\n') + 10;
    assert.equal(quietly(['$ cat key\r\n', pem.slice(0, at), pem.slice(at), '$ ']), '$ cat key\r\n[REDACTED]\r\n$ ');
  });

  it('keeps escapes and multibyte characters around the stars', () => {
    assert.equal(quietly(['\x1b[31m41', '\x1b[0m11 é\r\n']), '\x1b[31m**\x1b[0m** é\r\n');
  });
});

describe('StreamMasker: fuzz', () => {
  const PARTS = [CARD, '4111111111111111', 'alice@example.com', JWT, 'AKIAIOSFODNN7EXAMPLE', 'GB82 WEST 1234 5698 7654 32',
    '078-05-1120', 'password=Sup3rS3cretValue123456', 'hello', 'world', ' ', ' ', '\r\n', '\n', '\t', '1234', '-', '.', '@',
    'é', '日本', '😀', '\x1b[31m', '\x1b[0m', '\x1b[K', '\x1b(B', '$ ', ':', '"', "'", '=', 'x', '0', '9'];

  it('gives for every random split what the unsplit stream gives, which is the whole text masked at once', () => {
    const action = compileRules(rules(ALL)).freeText!;
    for (let seed = 1; seed <= 400; seed++) {
      const rand = prng(seed);
      let text = '';
      const n = 1 + Math.floor(rand() * 30);
      for (let k = 0; k < n; k++) text += PARTS[Math.floor(rand() * PARTS.length)];
      const input = Buffer.from(text, 'utf8');
      const whole = stream([input]);
      if (!text.includes('\x1b')) assert.equal(whole.toString(), maskContent(text, action, KEY), `seed ${seed}: ${JSON.stringify(text)}`);
      const chunks: Buffer[] = [];
      for (let at = 0; at < input.length; ) {
        const len = 1 + Math.floor(rand() * 12);
        chunks.push(input.subarray(at, at + len));
        at += len;
      }
      assert.equal(stream(chunks).toString(), whole.toString(), `seed ${seed}: ${JSON.stringify(text)}`);
    }
  });
});

describe('StreamMasker: fuzz with operator patterns', () => {
  it('gives the same output for every random split when patterns hold lines back', () => {
    const items: MaskItem[] = [{ detectors: ['card', 'email'], strategy: 'partial' }, { patterns: ['cust-\\d+', 'secret: \\S+'], strategy: 'hash' }];
    const parts = ['cust-', '12', '34', 'secret: ', 'abc', ' ', '\r\n', '4111 1111 1111 1111', 'bob@example.com', 'x', '\x1b[1m', '\x1b[0m', '$'];
    for (let seed = 1; seed <= 300; seed++) {
      const rand = prng(seed);
      let text = '';
      for (let k = 0, n = 1 + Math.floor(rand() * 25); k < n; k++) text += parts[Math.floor(rand() * parts.length)];
      const input = Buffer.from(text);
      const whole = stream([input], items).toString();
      const chunks: Buffer[] = [];
      for (let at = 0; at < input.length; ) {
        const len = 1 + Math.floor(rand() * 9);
        chunks.push(input.subarray(at, at + len));
        at += len;
      }
      assert.equal(stream(chunks, items).toString(), whole, `seed ${seed}: ${JSON.stringify(text)}`);
    }
  });
});
