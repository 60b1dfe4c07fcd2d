/**
 * Recording redaction (redact.ts over analysis/sql/literals.ts): which literals and parameters are redacted for a
 * caller without masking rules (detector hits only) and for one with rules (their detectors and patterns, masked
 * columns by name, everything when a rule masks by type or the text cannot be parsed), for every spelling of a
 * literal the lexer knows. The input is never changed.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { initSqlAnalysis } from '../analysis/sql/analyze.js';
import type { MaskItem } from '../policy/schema.js';
import { createHash } from 'node:crypto';
import { prng } from '../masking/test-random.js';
import { REDACTED, recordingRedactor } from './redact.js';

const R = `'${REDACTED}'`;
const CARD = '4111111111111111';
const everyone = recordingRedactor([]);
const masked = (...items: MaskItem[]) => recordingRedactor([{ rule: 'p/r', items }]);
const text = (redact: ReturnType<typeof recordingRedactor>, sql: string) => redact({ text: sql }).text;

before(() => initSqlAnalysis());

describe('recording redaction for every caller', () => {
  it('redacts literals a detector flags, in every spelling the lexer knows, and keeps the rest', () => {
    const rows: [string, string][] = [
      ["INSERT INTO t VALUES (1, 'alice@example.com', 'ok')", `INSERT INTO t VALUES (1, ${R}, 'ok')`],
      ["select E'alice\\x40example.com'", `select ${R}`], // the decoded value is checked, not only the token
      ["select U&'alice\\0040example.com'", `select ${R}`],
      ['select $q$ alice@example.com $q$, $$x$$', `select ${R}, $$x$$`],
      [`select ${CARD}, 42`, `select ${REDACTED}, 42`],
      [`select '4111 1111 1111 1111'`, `select ${R}`],
      ["select 'alice@' \n 'example.com'", `select ${R}`], // one constant on two lines: one token
      ["select 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc'", `select ${R}`],
      ["select 'AKIAIOSFODNN7EXAMPLE' /* alice@example.com */ -- 4111 1111 1111 1111\n, 1 -- fine",
        `select ${R} /* ${REDACTED} */ -- ${REDACTED}\n, 1 -- fine`],
      ["select '4111111111111112'", "select '4111111111111112'"], // no valid Luhn sum: not a card
      ["select '+1 415 555 0100', '10.0.0.1'", "select '+1 415 555 0100', '10.0.0.1'"],
    ];
    for (const [sql, expected] of rows) assert.equal(text(everyone, sql), expected, sql);
  });

  it('redacts flagged parameters only, and leaves nulls and binary placeholders alone', () => {
    const data = { text: 'select $1, $2, $3, $4', params: [CARD, 'bob', null, '<binary 4 bytes>'] };
    assert.deepEqual(everyone(data), { text: data.text, params: [REDACTED, 'bob', null, '<binary 4 bytes>'] });
    assert.deepEqual(data.params, [CARD, 'bob', null, '<binary 4 bytes>'], 'the input is not changed');
  });

  it('returns the same object when nothing is sensitive, and leaves other fields alone', () => {
    const data = { text: "select 'x' where id = $1", params: ['7'], decision: { effect: 'allow' } };
    assert.equal(everyone(data), data);
    const event = { reason: 'client closed' };
    assert.equal(everyone(event), event);
    assert.deepEqual(everyone({ text: "select 'a@example.com'", rule: 'x' }), { text: `select ${R}`, rule: 'x' });
  });

  it('redacts detector matches in recorded messages, which echo values', () => {
    const failed = { text: "select 'alice@example.com'::int", error: { code: '22P02', message: 'invalid input syntax for type integer: "alice@example.com"' } };
    assert.deepEqual(everyone(failed), { text: `select ${R}::int`, error: { code: '22P02', message: `invalid input syntax for type integer: "${REDACTED}"` } });
    const upstream = { severity: 'ERROR', code: '22P02', message: `bad card ${CARD} and ${CARD}.` };
    assert.deepEqual(everyone(upstream), { severity: 'ERROR', code: '22P02', message: `bad card ${REDACTED} and ${REDACTED}.` });
  });

  it('does not record text it cannot lex when a detector finds something in it', () => {
    const out = text(everyone, "select 'unterminated alice@example.com");
    assert.match(String(out), /^\[not recorded/);
    assert.equal(text(everyone, "select 'unterminated"), "select 'unterminated");
  });
});

describe('recording redaction for a caller with masking rules', () => {
  const codes = masked({ columns: ['public.members.code', '*.pin'], strategy: 'redact' });

  it('redacts values written to or compared with a masked column, by column name', () => {
    const rows: [string, string][] = [
      ["INSERT INTO members (id, code) VALUES (1, 'c1'), (2, 'c2')", `INSERT INTO members (id, code) VALUES (1, ${R}), (2, ${R})`],
      ["insert into s.t (code, x) select 'c1', 'x'", `insert into s.t (code, x) select ${R}, 'x'`],
      ["UPDATE members SET code = upper('c1'), note = 'n' WHERE id = 1", `UPDATE members SET code = upper(${R}), note = 'n' WHERE id = 1`],
      ["UPDATE m SET (code, note) = ('c1', 'n')", `UPDATE m SET (code, note) = (${R}, ${R})`],
      ["DELETE FROM members WHERE m.code = 'c1' OR 'p' = pin OR name = 'n'", `DELETE FROM members WHERE m.code = ${R} OR ${R} = pin OR name = 'n'`],
      ["select * from members where code in ('a', 'b') and id = 3", `select * from members where code in (${R}, ${R}) and id = 3`],
      ["select * from members where \"CODE\" = 'a'", `select * from members where \"CODE\" = ${R}`], // as masking: any case
      ["select * from members where codes = 'a' and x.pin2 = 'b'", "select * from members where codes = 'a' and x.pin2 = 'b'"],
    ];
    for (const [sql, expected] of rows) assert.equal(text(codes, sql), expected, sql);
  });

  it('redacts parameters bound to a masked column', () => {
    const out = codes({ text: 'UPDATE members SET code = $1, note = $2 WHERE id = $3', params: ['c1', 'n', '5'] });
    assert.deepEqual(out.params, [REDACTED, 'n', '5']);
  });

  it('fails closed: an INSERT without a column list, or text that does not parse, loses every value', () => {
    assert.equal(text(codes, "INSERT INTO members VALUES (1, 'c1')"), `INSERT INTO members VALUES (${REDACTED}, ${R})`);
    assert.equal(text(codes, "SELEC 'a', 1"), `SELEC ${R}, ${REDACTED}`);
    assert.deepEqual(codes({ text: 'SELEC $1', params: ['x'] }).params, [REDACTED]);
    assert.equal(text(codes, "EXECUTE ins(1, 'c1')"), `EXECUTE ins(${REDACTED}, ${R})`);
    assert.equal(text(everyone, "EXECUTE ins(1, 'c1')"), "EXECUTE ins(1, 'c1')");
  });

  it('applies the rules\' own detectors and patterns, and redacts everything when a rule masks by type', () => {
    const phones = masked({ detectors: ['phone'], strategy: 'redact' }, { patterns: ['^EMP-[0-9]+$'], strategy: 'redact' });
    assert.equal(text(phones, "select '+1 415 555 0100', 'EMP-123', 'EMP-x'"), `select ${R}, ${R}, 'EMP-x'`);
    const byType = masked({ types: ['date'], strategy: 'null' });
    assert.equal(text(byType, "select 'x', 1 from t where id = $1"), `select ${R}, ${REDACTED} from t where id = $1`);
    assert.deepEqual(byType({ text: 'select $1', params: ['x', null] }).params, [REDACTED, null]);
  });
});

describe('recording redaction: generated spellings', () => {
  /** Ways to write `value` as one SQL literal that the server decodes back to `value`. */
  const spellings: Array<(value: string, pick: () => number) => string> = [
    (v) => `'${v}'`,
    (v) => `E'${[...v].map((c) => (c === '@' || c === '1' ? `\\x${c.charCodeAt(0).toString(16)}` : c)).join('')}'`,
    (v) => `U&'${[...v].map((c) => (c === '@' || c === '4' ? `\\${c.charCodeAt(0).toString(16).padStart(4, '0')}` : c)).join('')}'`,
    (v) => `U&'${[...v].map((c) => (c === '@' ? '!0040' : c)).join('')}' UESCAPE '!'`,
    (v, pick) => {
      const tag = pick() < 0.5 ? '' : 'tag';
      return `$${tag}$${v}$${tag}$`;
    },
    (v) => `'${v.slice(0, 5)}'\n  '${v.slice(5)}'`,
    (v) => `'${v}'::text`,
  ];
  const shapes = [
    (lit: string) => `SELECT ${lit}`,
    (lit: string) => `INSERT INTO t (a, b) VALUES (1, ${lit}), (2, 'x')`,
    (lit: string) => `UPDATE t SET note = lower(${lit}) WHERE id = 7`,
    (lit: string) => `SELECT * FROM t WHERE x IN ('a', ${lit}) /* c */`,
    (lit: string) => `WITH v AS (SELECT ${lit} AS s) SELECT s FROM v`,
    (lit: string) => `SELECT coalesce(NULL, ${lit}); SELECT 2`,
  ];
  const secrets = ['alice@example.com', '4111111111111111', '4111 1111 1111 1111'];

  it('never records a flagged value, in 2,000 generated statements of every literal spelling', () => {
    const random = prng(20261203);
    const pick = <T>(list: T[]) => list[Math.floor(random() * list.length)];
    for (let i = 0; i < 2000; i++) {
      const secret = pick(secrets);
      const spelled = pick(spellings)(secret, random);
      const sql = pick(shapes)(spelled);
      const out = String(everyone({ text: sql }).text);
      for (const part of [secret, secret.replace(/ /g, ''), '@example', '41111111']) {
        assert.equal(out.includes(part), false, `${sql}\n-> ${out}`);
      }
      assert.ok(out.includes(REDACTED), `${sql}\n-> ${out}`);
    }
  });
});

describe('recording redaction of long values (redacted first, then cut)', () => {
  const MIB = 1024 * 1024;
  const secrets = ['alice@example.com', CARD];
  const leaks = (out: unknown) => {
    const json = JSON.stringify(out);
    return ['alice@example', '41111111', 'EMP-'].filter((s) => json.includes(s));
  };

  it('redacts every literal of a statement over 1 MiB before keeping its prefix', () => {
    // The secrets sit inside the first 64 KiB, the part a summary keeps; the statement is longer than 1 MiB.
    const sql = `INSERT INTO t (a, b, pad) VALUES ('${secrets[0]}', ${CARD}, '${'x'.repeat(2 * MIB)}')`;
    const out = everyone({ text: sql });
    assert.equal(typeof out.text, 'object', 'a long text is recorded as a summary');
    const summary = out.text as { prefix: string; bytes: number; sha256: string };
    assert.deepEqual(leaks(out), []);
    assert.ok(summary.prefix.startsWith(`INSERT INTO t (a, b, pad) VALUES (${R}, ${REDACTED}, 'xxx`), summary.prefix);
    // Length and hash are the redacted text's, so the hash is no oracle for the redacted values.
    const redacted = `INSERT INTO t (a, b, pad) VALUES (${R}, ${REDACTED}, '${'x'.repeat(2 * MIB)}')`;
    assert.equal(summary.bytes, Buffer.byteLength(redacted));
    assert.equal(summary.sha256, createHash('sha256').update(redacted).digest('hex'));
  });

  it('also for a caller whose rules redact every literal, and keeps short texts as they were', () => {
    const byType = masked({ types: ['text'], strategy: 'null' });
    // Long by its layout, not its literals (which shrink to the placeholder): still long once redacted.
    const out = byType({ text: `select 'EMP-1'${' '.repeat(2 * MIB)}, 'EMP-2'` });
    assert.deepEqual(leaks(out), []);
    assert.equal((out.text as { prefix: string }).prefix.trimEnd(), `select ${R}`);
    assert.equal(everyone({ text: 'select 1' }).text, 'select 1');
  });

  it('judges an already summarised value by its prefix and never keeps a token the cut may have split', () => {
    const long = (prefix: string) => ({ prefix, bytes: 5000, sha256: 'ab'.repeat(32) });
    // A card number cut after 12 digits is no detector match, yet its digits must not be kept.
    const cut = everyone({ text: 'select $1', params: [long(`${'a '.repeat(122)}411111111111`)] });
    assert.deepEqual(leaks(cut), []);
    assert.equal((cut.params as Array<{ prefix: string }>)[0].prefix, 'a '.repeat(122));
    assert.deepEqual(everyone({ text: 'select $1', params: [long(`note ${CARD} and more`)] }).params, [REDACTED]);
    const codes = masked({ columns: ['*.code'], strategy: 'redact' });
    assert.deepEqual(codes({ text: 'update m set code = $1', params: [long('harmless words ')] }).params, [REDACTED]);
    const summarisedText = everyone({ text: long(`select '${secrets[0]}', 'rest `) });
    assert.equal(summarisedText.text, REDACTED);
  });
});
