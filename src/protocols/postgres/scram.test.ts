/**
 * SCRAM-SHA-256 client: the RFC 7677 test vector, strict validation of what a (possibly hostile) server sends,
 * and SASLprep as PostgreSQL applies it. Real-server logins with non-ASCII passwords live in upstream.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WardenError } from '../../errors.js';
import { chooseMechanism, parseServerFirst, saslPrep, ScramClient } from './scram.js';

const RFC = {
  clientNonce: 'rOprNGfwEbeRWgbNEkqO',
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,' +
    'p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

function rfcClient(password = 'pencil'): ScramClient {
  return new ScramClient(password, { nonce: RFC.clientNonce, username: 'user' });
}

/** Asserts a WardenError with the code, and that the password leaks into neither message nor detail. */
function isWarden(code: string, password = 'pencil') {
  return (err: unknown): boolean => {
    assert.ok(err instanceof WardenError, `expected WardenError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.ok(!err.message.includes(password) && !(err.detail ?? '').includes(password), 'password leaked');
    return true;
  };
}

describe('ScramClient', () => {
  it('reproduces the RFC 7677 SCRAM-SHA-256 test vector', async () => {
    const client = rfcClient();
    assert.equal(client.clientFirstMessage(), RFC.clientFirst);
    assert.equal(await client.handleServerFirst(RFC.serverFirst), RFC.clientFinal);
    assert.equal(client.completed, false);
    client.verifyServerFinal(RFC.serverFinal);
    assert.equal(client.completed, true);
  });

  it('sends an empty user name and a fresh 24-character nonce by default, as libpq', () => {
    const a = new ScramClient('x').clientFirstMessage();
    const b = new ScramClient('x').clientFirstMessage();
    assert.match(a, /^n,,n=,r=[A-Za-z0-9+/]{24}$/);
    assert.notEqual(a, b);
  });

  it('escapes = and , in the user name', () => {
    const first = new ScramClient('x', { nonce: 'abc', username: 'a=b,c' }).clientFirstMessage();
    assert.equal(first, 'n,,n=a=3Db=2Cc,r=abc');
  });

  it('rejects a server signature that does not prove the password', async () => {
    const client = rfcClient();
    client.clientFirstMessage();
    await client.handleServerFirst(RFC.serverFirst);
    assert.throws(() => client.verifyServerFinal('v=AAAAZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ='),
      isWarden('WARDEN_ERR_UPSTREAM_AUTH'));
    assert.equal(client.completed, false);
  });

  it('rejects a right signature computed for another password', async () => {
    const client = rfcClient('not-pencil');
    client.clientFirstMessage();
    await client.handleServerFirst(RFC.serverFirst);
    assert.throws(() => client.verifyServerFinal(RFC.serverFinal), isWarden('WARDEN_ERR_UPSTREAM_AUTH', 'not-pencil'));
  });

  it('reports a server-error attribute and malformed server-final messages', async () => {
    const client = rfcClient();
    client.clientFirstMessage();
    await client.handleServerFirst(RFC.serverFirst);
    assert.throws(() => client.verifyServerFinal('e=invalid-proof'), isWarden('WARDEN_ERR_UPSTREAM_AUTH'));
    assert.throws(() => client.verifyServerFinal('x=nonsense'), isWarden('WARDEN_ERR_UPSTREAM_PROTOCOL'));
  });

  it('refuses calls out of order', async () => {
    const client = rfcClient();
    await assert.rejects(client.handleServerFirst(RFC.serverFirst), isWarden('WARDEN_ERR_UPSTREAM_PROTOCOL'));
    assert.throws(() => client.verifyServerFinal(RFC.serverFinal), isWarden('WARDEN_ERR_UPSTREAM_PROTOCOL'));
    client.clientFirstMessage();
    assert.throws(() => client.clientFirstMessage(), isWarden('WARDEN_ERR_UPSTREAM_PROTOCOL'));
  });

  it('rejects an invalid client nonce option', () => {
    assert.throws(() => new ScramClient('x', { nonce: 'a,b' }), TypeError);
    assert.throws(() => new ScramClient('x', { nonce: '' }), TypeError);
  });
});

describe('server-first validation', () => {
  const nonce = RFC.clientNonce;
  const first = (r: string, i: string, s = 'W22ZaJ0SNY7soEsUEjb6gQ=='): string => `r=${r},s=${s},i=${i}`;

  it('accepts the RFC message and optional trailing extensions', () => {
    const parsed = parseServerFirst(RFC.serverFirst, nonce);
    assert.equal(parsed.iterations, 4096);
    assert.equal(parsed.salt.length, 16);
    assert.equal(parseServerFirst(`${RFC.serverFirst},x=ext`, nonce).iterations, 4096);
  });

  it('requires the server nonce to extend the client nonce', () => {
    const err = isWarden('WARDEN_ERR_UPSTREAM_PROTOCOL');
    assert.throws(() => parseServerFirst(first('XOprNGfwEbeRWgbNEkqO%hvYD', '4096'), nonce), err);
    assert.throws(() => parseServerFirst(first(nonce, '4096'), nonce), err); // no server part
    assert.throws(() => parseServerFirst(first('rOprNG', '4096'), nonce), err); // a prefix of ours
  });

  it('requires a sane iteration count', () => {
    const err = isWarden('WARDEN_ERR_UPSTREAM_PROTOCOL');
    for (const i of ['0', '-1', 'abc', '', '1.5', '99999999999999999999', '1000001']) {
      assert.throws(() => parseServerFirst(first(`${nonce}xyz`, i), nonce), err, `i=${i}`);
    }
    assert.equal(parseServerFirst(first(`${nonce}xyz`, '1'), nonce).iterations, 1);
    assert.throws(() => parseServerFirst(first(`${nonce}xyz`, '5000'), nonce, 4096), err);
  });

  it('requires a salt and refuses mandatory extensions and reordered attributes', () => {
    const err = isWarden('WARDEN_ERR_UPSTREAM_PROTOCOL');
    assert.throws(() => parseServerFirst(`r=${nonce}x,s=,i=4096`, nonce), err);
    assert.throws(() => parseServerFirst(`m=ext,r=${nonce}x,s=AAAA,i=4096`, nonce), err);
    assert.throws(() => parseServerFirst(`s=AAAA,r=${nonce}x,i=4096`, nonce), err);
    assert.throws(() => parseServerFirst('garbage', nonce), err);
  });
});

describe('chooseMechanism', () => {
  it('picks SCRAM-SHA-256 even when the channel-binding variant is listed first', () => {
    assert.equal(chooseMechanism(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']), 'SCRAM-SHA-256');
  });

  it('fails clearly when only SCRAM-SHA-256-PLUS is offered', () => {
    assert.throws(() => chooseMechanism(['SCRAM-SHA-256-PLUS']), (err: unknown) =>
      err instanceof WardenError && err.code === 'WARDEN_ERR_UPSTREAM_AUTH' && /PLUS/.test(err.message));
  });

  it('fails for unknown mechanisms', () => {
    assert.throws(() => chooseMechanism(['OAUTHBEARER']), isWarden('WARDEN_ERR_UPSTREAM_AUTH'));
    assert.throws(() => chooseMechanism([]), isWarden('WARDEN_ERR_UPSTREAM_AUTH'));
  });
});

describe('saslPrep (as PostgreSQL applies it)', () => {
  it('leaves ASCII alone, control characters included (pg_saslprep fast path)', () => {
    assert.equal(saslPrep('user'), 'user');
    assert.equal(saslPrep('USER'), 'USER');
    assert.equal(saslPrep('a\u0007b'), 'a\u0007b');
    assert.equal(saslPrep(''), '');
  });

  it('maps, removes and normalises (RFC 4013 examples)', () => {
    assert.equal(saslPrep('I\u00ADX'), 'IX');
    assert.equal(saslPrep('\u00AA'), 'a');
    assert.equal(saslPrep('\u2168'), 'IX');
    assert.equal(saslPrep('pass\u00A0word'), 'pass word');
    assert.equal(saslPrep('\uFF50\uFF41\uFF53\uFF53'), 'pass');
    assert.equal(saslPrep('pa\u0308ss'), 'p\u00E4ss');
    assert.equal(saslPrep('\u00E9t\u00E9'), '\u00E9t\u00E9');
  });

  it('falls back to the raw password where PostgreSQL does', () => {
    assert.equal(saslPrep('\u0627\u0031'), '\u0627\u0031'); // RandALCat not at the end (RFC 4013 example)
    assert.equal(saslPrep('a\u05D0'), 'a\u05D0'); // L and RandALCat mixed
    assert.equal(saslPrep('\u00AD'), '\u00AD'); // empty after mapping
    assert.equal(saslPrep('\u00E4\u200E\uFF41'), '\u00E4\u200E\uFF41'); // U+200E prohibited (C.8)
    assert.equal(saslPrep('\uFF41\u{1F600}'), '\uFF41\u{1F600}'); // emoji unassigned in Unicode 3.2
    assert.equal(saslPrep('\uFF41\u0221'), '\uFF41\u0221'); // U+0221 unassigned in 3.2
    assert.equal(saslPrep('\u05D0\uFB2A\u05D1'), '\u05D0\u05E9\u05C1\u05D1'); // valid RTL string is normalised
  });
});
