/**
 * Token tests: issue and verify against a real SQLite store and a signing key in a temp dir, every rejection
 * path (expired, not yet valid, tampered, foreign key, wrong audience/issuer/type, revoked, unknown id,
 * malformed), revocation by id and by token, fail-closed store errors, and the duration parser.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT, base64url, decodeProtectedHeader, importJWK } from 'jose';
import { WardenError } from '../errors.js';
import { openStore } from '../store/index.js';
import type { Store } from '../store/types.js';
import { formatDuration, parseDuration } from './duration.js';
import { generateSigningKey, SIGNING_KEY_FILE } from './keys.js';
import { ADMIN_GROUP, TOKEN_AUDIENCE, TOKEN_ISSUER, TOKEN_TYPE, TokenService } from './tokens.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);

function rejectsWith(code: string, message?: string) {
  return (err: unknown) => {
    assert.ok(err instanceof WardenError, `expected WardenError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (message !== undefined) assert.equal(err.message, message);
    return true;
  };
}
const INVALID = rejectsWith('WARDEN_ERR_TOKEN_INVALID', 'invalid Warden token');

describe('TokenService', () => {
  let dir: string;
  let store: Store;
  let clock = T0;
  let tokens: TokenService;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'warden-tokens-'));
    store = await openStore({ kind: 'sqlite', path: path.join(dir, 'warden.db') });
    tokens = await TokenService.create({ store, dataDir: dir, now: () => clock });
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('issues a token that verifies to its subject, and records it without the token text', async () => {
    clock = T0;
    const issued = await tokens.issue({ subject: 'alice', ttlSeconds: 3600 });
    assert.match(issued.id, /^tok_[A-Za-z0-9_-]{22}$/);
    assert.equal(issued.expiresAt, '2025-01-01T13:00:00.000Z');
    assert.deepEqual(await tokens.verify(issued.token), {
      id: 'alice', kind: 'user', groups: [], chain: [], tokenId: issued.id, targets: ['*'], expiresAt: T0 / 1000 + 3600,
    });
    const record = await store.tokens.get(issued.id);
    assert.deepEqual(record, issued.record);
    assert.deepEqual(record, {
      id: issued.id, subject: 'alice', subjectKind: 'user', groups: [], targets: ['*'],
      issuedAt: '2025-01-01T12:00:00.000Z', expiresAt: '2025-01-01T13:00:00.000Z', revokedAt: null, parentId: null, chain: [], classes: null,
    });
    assert.ok(!JSON.stringify(record).includes(issued.token.split('.')[2]));
    const header = decodeProtectedHeader(issued.token);
    assert.deepEqual(header, { alg: 'EdDSA', kid: tokens.keyId, typ: TOKEN_TYPE });
  });

  it('round trips kind, groups and targets', async () => {
    const issued = await tokens.issue({
      subject: 'ci-bot', kind: 'agent', groups: [ADMIN_GROUP, 'dba', 'dba'], targets: ['prod-*', 'stage-db'], ttlSeconds: 60,
    });
    const subject = await tokens.verify(issued.token);
    assert.equal(subject.kind, 'agent');
    assert.deepEqual(subject.groups, [ADMIN_GROUP, 'dba']);
    assert.deepEqual(subject.targets, ['prod-*', 'stage-db']);
  });

  it('rejects an expired token, with 5 s tolerance', async () => {
    clock = T0;
    const issued = await tokens.issue({ subject: 'alice', ttlSeconds: 1 });
    clock = T0 + 6_000 - 1;
    await tokens.verify(issued.token);
    clock = T0 + 6_000 + 1000;
    await assert.rejects(tokens.verify(issued.token), rejectsWith('WARDEN_ERR_TOKEN_EXPIRED', 'Warden token expired'));
    clock = T0;
  });

  it('rejects a token used well before its not-before time', async () => {
    clock = T0 + 3600_000;
    const issued = await tokens.issue({ subject: 'alice', ttlSeconds: 7200 });
    clock = T0;
    await assert.rejects(tokens.verify(issued.token), INVALID);
  });

  it('rejects a tampered payload and a tampered signature', async () => {
    const issued = await tokens.issue({ subject: 'alice', groups: ['dev'], ttlSeconds: 60 });
    const [h, p, s] = issued.token.split('.');
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(p)));
    claims.groups = [ADMIN_GROUP];
    const forged = `${h}.${base64url.encode(JSON.stringify(claims))}.${s}`;
    await assert.rejects(tokens.verify(forged), INVALID);
    const flipped = `${h}.${p}.${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`;
    await assert.rejects(tokens.verify(flipped), INVALID);
  });

  /** The service's own private key, read from its key file, to forge tokens that differ only in their claims. */
  async function ourKey() {
    return importJWK(JSON.parse(await readFile(path.join(dir, SIGNING_KEY_FILE), 'utf8')), 'EdDSA');
  }

  /** An unsigned token for a freshly issued (so known) jti, with claim and header overrides. */
  async function forge(o: { claims?: Record<string, unknown>; header?: Record<string, unknown> } = {}) {
    const issued = await tokens.issue({ subject: 'alice', ttlSeconds: 60 });
    const iat = Math.floor(clock / 1000);
    const { aud = TOKEN_AUDIENCE, iss = TOKEN_ISSUER, ...claims } = o.claims ?? {};
    return new SignJWT({ kind: 'user', groups: [ADMIN_GROUP], targets: ['*'], ...claims })
      .setProtectedHeader({ alg: 'EdDSA', kid: tokens.keyId, typ: TOKEN_TYPE, ...o.header })
      .setIssuer(iss as string).setAudience(aud as string).setSubject('alice').setJti(issued.id)
      .setIssuedAt(iat).setNotBefore(iat).setExpirationTime(iat + 60);
  }

  it('rejects a token signed by another key, even under our key id', async () => {
    const other = await generateSigningKey();
    await assert.rejects(tokens.verify(await (await forge()).sign(other.privateKey)), INVALID);
    await assert.rejects(tokens.revoke(await (await forge()).sign(other.privateKey)), INVALID);
  });

  it('rejects tokens from another Warden (its own key and store)', async () => {
    const otherDir = await mkdtemp(path.join(tmpdir(), 'warden-tokens-other-'));
    try {
      const other = await TokenService.create({ store, dataDir: otherDir, now: () => clock });
      assert.notEqual(other.keyId, tokens.keyId);
      const issued = await other.issue({ subject: 'mallory', groups: [ADMIN_GROUP], ttlSeconds: 60 });
      await assert.rejects(tokens.verify(issued.token), INVALID);
      await assert.rejects(tokens.revoke(issued.token), INVALID);
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
  });

  it('rejects wrong audience, wrong issuer, wrong type, wrong algorithm header and malformed claims', async () => {
    const key = await ourKey();
    const cases: Array<Parameters<typeof forge>[0]> = [
      { claims: { aud: 'someone-else' } }, { claims: { iss: 'evil' } }, { header: { typ: 'JWT' } },
      { header: { kid: 'other-kid' } }, { claims: { kind: 'root' } }, { claims: { groups: ADMIN_GROUP } },
      { claims: { targets: [1] } }, { claims: { groups: [''] } },
    ];
    for (const c of cases) {
      await assert.rejects(tokens.verify(await (await forge(c)).sign(key)), INVALID, JSON.stringify(c));
    }
    assert.equal((await tokens.verify(await (await forge()).sign(key))).id, 'alice', 'the control case verifies');
  });

  it('revokes by id and by whole token, keeping the first revocation time', async () => {
    clock = T0;
    const a = await tokens.issue({ subject: 'alice', ttlSeconds: 60 });
    const b = await tokens.issue({ subject: 'bob', ttlSeconds: 60 });
    clock = T0 + 5000;
    const ra = await tokens.revoke(a.id);
    assert.equal(ra.revokedAt, new Date(T0 + 5000).toISOString());
    await assert.rejects(tokens.verify(a.token), rejectsWith('WARDEN_ERR_TOKEN_REVOKED', 'Warden token revoked'));
    const rb = await tokens.revoke(b.token);
    assert.equal(rb.id, b.id);
    await assert.rejects(tokens.verify(b.token), rejectsWith('WARDEN_ERR_TOKEN_REVOKED'));
    clock = T0 + 9000;
    assert.equal((await tokens.revoke(a.id)).revokedAt, ra.revokedAt);
    clock = T0;
  });

  it('revokes an expired token given whole', async () => {
    clock = T0;
    const issued = await tokens.issue({ subject: 'alice', ttlSeconds: 1 });
    clock = T0 + 86_400_000;
    assert.equal((await tokens.revoke(issued.token)).id, issued.id);
    clock = T0;
  });

  it('reports unknown ids and unverifiable tokens on revoke', async () => {
    await assert.rejects(tokens.revoke('tok_nope'), rejectsWith('WARDEN_ERR_NOT_FOUND', 'token "tok_nope" not found'));
    await assert.rejects(tokens.revoke('a.b.c'), INVALID);
    await assert.rejects(tokens.revoke(''), rejectsWith('WARDEN_ERR_BAD_REQUEST'));
  });

  it('treats a correctly signed token whose id is not in the store as invalid', async () => {
    const jwt = (await forge()).setJti('tok_never_issued');
    await assert.rejects(tokens.verify(await jwt.sign(await ourKey())), INVALID);
  });

  it('rejects malformed strings', async () => {
    for (const text of ['', 'abc', 'a.b.c', '..', 'a.b', 'a.b.c.d.e', 'x'.repeat(10_000), `${'a'.repeat(20)}.${'b'.repeat(20)}.`]) {
      await assert.rejects(tokens.verify(text), INVALID, text.slice(0, 20));
    }
    await assert.rejects(tokens.verify(undefined as unknown as string), INVALID);
  });

  it('refuses bad issue requests', async () => {
    const bad: Array<Parameters<TokenService['issue']>[0]> = [
      { subject: '', ttlSeconds: 60 }, { subject: 'a b', ttlSeconds: 60 }, { subject: 'a', ttlSeconds: 0 },
      { subject: 'a', ttlSeconds: -5 }, { subject: 'a', ttlSeconds: 1.5 }, { subject: 'a', ttlSeconds: 31 * 86_400 },
      { subject: 'a', ttlSeconds: 60, targets: [] }, { subject: 'a', ttlSeconds: 60, groups: [''] },
      { subject: 'a', ttlSeconds: 60, kind: 'root' as never },
    ];
    for (const req of bad) await assert.rejects(tokens.issue(req), rejectsWith('WARDEN_ERR_BAD_REQUEST'), JSON.stringify(req));
    const admin = await TokenService.create({ store, dataDir: dir, maxTtlSeconds: 365 * 86_400, now: () => clock });
    assert.equal(admin.keyId, tokens.keyId, 'the same data dir gives the same key');
    await admin.issue({ subject: 'admin', ttlSeconds: 90 * 86_400 });
  });

  it('keeps the signing key in a 0600 file', async () => {
    const file = path.join(dir, SIGNING_KEY_FILE);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const jwk = JSON.parse(await readFile(file, 'utf8'));
    assert.equal(jwk.kty, 'OKP');
    assert.equal(jwk.crv, 'Ed25519');
    assert.equal(jwk.kid, tokens.keyId);
  });

  it('fails closed with WARDEN_ERR_STORE_UNAVAILABLE when the store is down', async () => {
    const own = await openStore({ kind: 'sqlite', path: ':memory:' });
    const service = await TokenService.create({ store: own, dataDir: dir, now: () => clock });
    const issued = await service.issue({ subject: 'alice', ttlSeconds: 60 });
    await own.close();
    await assert.rejects(service.verify(issued.token), rejectsWith('WARDEN_ERR_STORE_UNAVAILABLE'));
    await assert.rejects(service.issue({ subject: 'alice', ttlSeconds: 60 }), rejectsWith('WARDEN_ERR_STORE_UNAVAILABLE'));
    await assert.rejects(service.revoke(issued.id), rejectsWith('WARDEN_ERR_STORE_UNAVAILABLE'));
  });

  it('never puts the token text into an error', async () => {
    const issued = await tokens.issue({ subject: 'alice', ttlSeconds: 60 });
    await tokens.revoke(issued.id);
    const [h, p, s] = issued.token.split('.');
    for (const text of [issued.token, `${h}.${p}.${s.slice(1)}x`]) {
      const err = await tokens.verify(text).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof WardenError);
      assert.ok(!`${err.message} ${err.detail ?? ''}`.includes(s.slice(2)), 'signature leaked into an error');
    }
  });
});

describe('parseDuration', () => {
  const good: Array<[string, number]> = [
    ['90s', 90], ['15m', 900], ['1h', 3600], ['2d', 172_800], ['1h30m', 5400], ['1d2h3m4s', 93_784], [' 5m ', 300],
    ['0h1s', 1], ['100000d', 8_640_000_000],
  ];
  for (const [text, seconds] of good) it(`reads ${JSON.stringify(text)} as ${seconds}s`, () => assert.equal(parseDuration(text), seconds));

  const bad = ['', ' ', '0s', '0h0m', '-5m', '5', '1.5h', '30m1h', '1h1h', '1w', 'h', '5 m', '1H', 'abc', '1h-30m', '9'.repeat(20) + 'd'];
  for (const text of bad) {
    it(`refuses ${JSON.stringify(text)}`, () => assert.throws(() => parseDuration(text), rejectsWith('WARDEN_ERR_BAD_REQUEST')));
  }

  it('formats what it parses', () => {
    for (const seconds of [1, 59, 60, 90, 3600, 5400, 86_400, 93_784, 30 * 86_400]) {
      assert.equal(parseDuration(formatDuration(seconds)), seconds);
    }
    assert.equal(formatDuration(5400), '1h30m');
    assert.equal(formatDuration(0), '0s');
  });
});
