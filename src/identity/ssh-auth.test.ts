/**
 * Warden's PublicKeyAuthenticator (ssh-keys.ts for registered keys, ssh-ca.ts for certificates) against a real
 * SQLite store, the real token service and keys made by the real ssh-keygen. Each refusal has its own code and
 * message: a key not registered to the user, an expired key, a disabled owner; a certificate that is expired, for
 * another principal, from another CA, forged, a host certificate, with critical options, whose token was revoked (or
 * a token it was delegated from), whose owner is disabled. A delegated token's certificate yields exactly the
 * subject the token itself yields (targets, classes, groups and chain), so delegation only narrows through SSH too.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateKey, type KeyPair } from '../../test/harness/ssh-keygen.js';
import { WardenError } from '../errors.js';
import { openStore } from '../store/index.js';
import type { Store } from '../store/types.js';
import { SSH_CA_KEY_FILE, SshCertificateAuthority } from './ssh-ca.js';
import { FOREVER, SSH_CERT_TYPE_HOST, SSH_CERT_TYPE_USER, encodeCertificate, type CertificateFields } from './ssh-cert.js';
import { NEVER_EXPIRES_AT, SshKeys, SshPublicKeys } from './ssh-keys.js';
import { parsePublicKeyText, sshString } from './ssh-wire.js';
import { TokenService } from './tokens.js';

const refusedWith = (code: string, message?: RegExp) => (err: unknown) => {
  assert.ok(err instanceof WardenError, String(err));
  assert.equal(err.code, code, err.message);
  // Every login refusal is of kind `unauthenticated`, so each protocol renders it as a failed authentication.
  if (/^WARDEN_ERR_(SSH_|TOKEN_|PRINCIPAL_)/.test(code)) assert.equal(err.kind, 'unauthenticated');
  if (message) assert.match(err.message, message);
  return true;
};

let dir: string;
let store: Store;
let tokens: TokenService;
let ca: SshCertificateAuthority;
let sshKeys: SshKeys;
const key: Record<string, KeyPair> = {};
const blobOf = (text: string) => Buffer.from(text.trim().split(/\s+/)[1], 'base64');
const at = new Date().toISOString();

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'warden-sshauth-'));
  store = await openStore({ kind: 'sqlite', path: path.join(dir, 'warden.db') });
  tokens = await TokenService.create({ store, dataDir: dir });
  ca = await SshCertificateAuthority.loadOrCreate(dir, { store, tokens });
  sshKeys = new SshKeys({ store });
  for (const name of ['a', 'b', 'c', 'd', 'e']) key[name] = await generateKey(dir, `id_${name}`, 'ed25519');
  key.rsa = await generateKey(dir, 'id_rsa', 'rsa-2048');
  key.dsa = await generateKey(dir, 'id_dsa', 'dsa');
  for (const name of ['alice', 'dora', 'erin']) {
    await store.users.recordLogin({ name, email: null, displayName: null, groups: ['dev', 'oncall'], provider: 'corp', at });
  }
  await store.serviceAccounts.insert({ name: 'deployer', kind: 'agent', description: null, groups: ['ci'], targets: ['web-*'],
    disabledAt: null, createdAt: at, updatedAt: at });
});
after(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('registered SSH keys', () => {
  it('log a user in with the subject a token login has: store groups, every target, a stable sshkey: token id', async () => {
    const record = await sshKeys.add({ owner: { kind: 'user', name: 'alice' }, publicKey: key.a.publicText, by: 'root' });
    assert.equal(record.name, 'id_a@test', 'the key comment names it by default');
    const subject = await sshKeys.authenticate('alice', 'ssh-ed25519', blobOf(key.a.publicText));
    assert.deepEqual(subject, {
      id: 'alice', kind: 'user', groups: ['dev', 'oncall'], chain: [], tokenId: `sshkey:${record.id}`, targets: ['*'],
      expiresAt: NEVER_EXPIRES_AT,
    });
    assert.notEqual((await store.sshKeys.get(record.id))?.lastUsedAt, null, 'last use recorded');
  });

  it('refuse a key registered to someone else, or to no one, with one message', async () => {
    await assert.rejects(sshKeys.authenticate('dora', 'ssh-ed25519', blobOf(key.a.publicText)),
      refusedWith('WARDEN_ERR_SSH_KEY_REJECTED', /is not registered to "dora"/));
    await assert.rejects(sshKeys.authenticate('alice', 'ssh-ed25519', blobOf(key.e.publicText)),
      refusedWith('WARDEN_ERR_SSH_KEY_REJECTED', /is not registered to "alice"/));
    await assert.rejects(sshKeys.authenticate('alice', 'ecdsa-sha2-nistp256', blobOf(key.a.publicText)),
      refusedWith('WARDEN_ERR_SSH_KEY_REJECTED', /does not match/));
  });

  it('give a service account its kind, groups and target limits; RSA keys log in with rsa-sha2-512', async () => {
    const record = await sshKeys.add({ owner: { kind: 'service', name: 'deployer' }, publicKey: key.rsa.publicText, ttlSeconds: 3600 });
    const subject = await sshKeys.authenticate('deployer', 'rsa-sha2-512', blobOf(key.rsa.publicText));
    assert.equal(subject.kind, 'agent');
    assert.deepEqual(subject.groups, ['ci']);
    assert.deepEqual(subject.targets, ['web-*']);
    assert.equal(subject.expiresAt, Math.floor(Date.parse(record.expiresAt!) / 1000), 'the session ends with the key');
  });

  it('refuse an expired key and a disabled owner, and checkStanding refuses them for live sessions too', async () => {
    const record = await sshKeys.add({ owner: { kind: 'user', name: 'dora' }, publicKey: key.b.publicText, ttlSeconds: 60 });
    const subject = await sshKeys.authenticate('dora', 'ssh-ed25519', blobOf(key.b.publicText));
    await sshKeys.checkStanding(subject);
    const later = new SshKeys({ store, now: () => Date.now() + 61_000 });
    await assert.rejects(later.authenticate('dora', 'ssh-ed25519', blobOf(key.b.publicText)),
      refusedWith('WARDEN_ERR_SSH_KEY_REJECTED', /expired at/));
    await assert.rejects(later.checkStanding(subject), refusedWith('WARDEN_ERR_SSH_KEY_REJECTED', /expired/));
    await store.users.setDisabled('dora', at, at);
    await assert.rejects(sshKeys.authenticate('dora', 'ssh-ed25519', blobOf(key.b.publicText)),
      refusedWith('WARDEN_ERR_PRINCIPAL_DISABLED', /user "dora" is disabled/));
    await assert.rejects(sshKeys.checkStanding(subject), refusedWith('WARDEN_ERR_PRINCIPAL_DISABLED'));
    await store.users.setDisabled('dora', null, at);
    await sshKeys.checkStanding(subject);
    assert.equal(await store.sshKeys.remove(record.id), true);
    await assert.rejects(sshKeys.checkStanding(subject), refusedWith('WARDEN_ERR_SSH_KEY_REJECTED', /was removed/));
  });

  it('refuse to register unknown owners, refused key types and a key twice', async () => {
    await assert.rejects(sshKeys.add({ owner: { kind: 'user', name: 'nobody' }, publicKey: key.c.publicText }),
      refusedWith('WARDEN_ERR_NOT_FOUND', /Warden does not know them yet/));
    await assert.rejects(sshKeys.add({ owner: { kind: 'service', name: 'nobody' }, publicKey: key.c.publicText }),
      refusedWith('WARDEN_ERR_NOT_FOUND', /service account "nobody" not found/));
    await assert.rejects(sshKeys.add({ owner: { kind: 'user', name: 'alice' }, publicKey: key.dsa.publicText }),
      refusedWith('WARDEN_ERR_BAD_REQUEST', /ssh-dss/));
    await assert.rejects(sshKeys.add({ owner: { kind: 'user', name: 'erin' }, publicKey: key.a.publicText }),
      refusedWith('WARDEN_ERR_CONFLICT', /already registered/));
  });
});

describe('certificates signed by Warden\'s CA', () => {
  async function certFor(user: string, keyText: string, ttlSeconds = 600) {
    const issued = await tokens.issue({ subject: user, kind: 'user', groups: ['dev'], targets: ['pg-*', 'web-*'], ttlSeconds });
    const subject = await tokens.verify(issued.token);
    const cert = await ca.issue(subject, keyText);
    return { issued, subject, cert, blob: blobOf(cert.certificate) };
  }
  const ED_CERT = 'ssh-ed25519-cert-v01@openssh.com';

  it('log the holder in as the token\'s subject, through SshPublicKeys as well', async () => {
    const { subject, blob } = await certFor('erin', key.c.publicText);
    assert.deepEqual(await ca.authenticate('erin', ED_CERT, blob), subject);
    assert.deepEqual(await new SshPublicKeys(sshKeys, ca).authenticate('erin', ED_CERT, blob), subject);
  });

  it('refuse an expired certificate, another principal and a mismatched algorithm', async () => {
    const { blob } = await certFor('erin', key.c.publicText, 120);
    const later = await SshCertificateAuthority.loadOrCreate(dir, { store, tokens, now: () => Date.now() + 130_000 });
    await assert.rejects(later.authenticate('erin', ED_CERT, blob), refusedWith('WARDEN_ERR_SSH_CERT_EXPIRED', /warden ssh-cert/));
    await assert.rejects(ca.authenticate('alice', ED_CERT, blob), refusedWith('WARDEN_ERR_SSH_CERT_INVALID', /not valid for "alice"/));
    await assert.rejects(ca.authenticate('erin', 'ssh-rsa-cert-v01@openssh.com', blob), refusedWith('WARDEN_ERR_SSH_CERT_INVALID', /does not match/));
  });

  it('refuse a certificate of another CA, and one forged in the name of Warden\'s CA', async () => {
    const otherDir = await mkdtemp(path.join(tmpdir(), 'warden-otherca-'));
    try {
      const other = await SshCertificateAuthority.loadOrCreate(otherDir, { store, tokens });
      const subject = await tokens.verify((await tokens.issue({ subject: 'erin', ttlSeconds: 600 })).token);
      const foreign = blobOf((await other.issue(subject, key.c.publicText)).certificate);
      await assert.rejects(ca.authenticate('erin', ED_CERT, foreign), refusedWith('WARDEN_ERR_SSH_CERT_INVALID', /not signed by Warden's CA/));
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
    const { subject } = await certFor('erin', key.c.publicText);
    const forger = generateKeyPairSync('ed25519').privateKey;
    const forged = signed(fields(subject.tokenId, 'erin'), forger);
    await assert.rejects(ca.authenticate('erin', ED_CERT, forged), refusedWith('WARDEN_ERR_SSH_CERT_INVALID', /signature does not verify/));
    const tampered = Buffer.from(blobOf((await ca.issue(subject, key.c.publicText)).certificate));
    tampered[tampered.indexOf(Buffer.from('erin')) + 1] ^= 1; // the principal, inside the signed part
    await assert.rejects(ca.authenticate('erin', ED_CERT, tampered), refusedWith('WARDEN_ERR_SSH_CERT_INVALID'));
  });

  it('refuse host certificates, critical options and certificates that never end, even signed by Warden\'s CA', async () => {
    const caKey = createPrivateKey(await readFile(path.join(dir, SSH_CA_KEY_FILE), 'utf8'));
    const { subject } = await certFor('erin', key.c.publicText);
    const base = fields(subject.tokenId, 'erin');
    assert.deepEqual(await ca.authenticate('erin', ED_CERT, signed(base, caKey)), subject, 'the control case passes');
    await assert.rejects(ca.authenticate('erin', ED_CERT, signed({ ...base, type: SSH_CERT_TYPE_HOST }, caKey)),
      refusedWith('WARDEN_ERR_SSH_CERT_INVALID', /host certificate/));
    const forced = { ...base, criticalOptions: new Map([['force-command', sshString('true')]]) };
    await assert.rejects(ca.authenticate('erin', ED_CERT, signed(forced, caKey)),
      refusedWith('WARDEN_ERR_SSH_CERT_INVALID', /critical options are not supported: force-command/));
    await assert.rejects(ca.authenticate('erin', ED_CERT, signed({ ...base, validBefore: FOREVER }, caKey)),
      refusedWith('WARDEN_ERR_SSH_CERT_INVALID', /must end/));
    await assert.rejects(ca.authenticate('erin', ED_CERT, signed({ ...base, keyId: 'someone else' }, caKey)),
      refusedWith('WARDEN_ERR_SSH_CERT_INVALID', /names no Warden token/));
    await assert.rejects(ca.authenticate('erin', ED_CERT, signed({ ...base, keyId: 'warden tok_unknown erin' }, caKey)),
      refusedWith('WARDEN_ERR_SSH_CERT_INVALID', /token of this certificate is unknown/));
  });

  it('stop working when the token is revoked, or a token it was delegated from, or the owner is disabled', async () => {
    const { issued, blob } = await certFor('alice', key.d.publicText);
    await tokens.revoke(issued.id);
    await assert.rejects(ca.authenticate('alice', ED_CERT, blob), refusedWith('WARDEN_ERR_TOKEN_REVOKED'));

    const parent = await certFor('erin', key.c.publicText);
    const helper = await tokens.delegate(parent.subject, { to: 'helper-e', classes: ['read'] });
    const helperCert = blobOf((await ca.issue(await tokens.verify(helper.token), key.d.publicText)).certificate);
    await ca.authenticate('helper-e', ED_CERT, helperCert);
    // Only the parent's row (revoke() would mark the helper's too): the chain walk must find the revoked link itself.
    await store.tokens.revoke(parent.issued.id, at);
    await assert.rejects(ca.authenticate('helper-e', ED_CERT, helperCert), refusedWith('WARDEN_ERR_TOKEN_REVOKED', /delegated from/));

    const fresh = await certFor('alice', key.d.publicText);
    await store.users.setDisabled('alice', at, at);
    try {
      await assert.rejects(ca.authenticate('alice', ED_CERT, fresh.blob), refusedWith('WARDEN_ERR_PRINCIPAL_DISABLED'));
    } finally {
      await store.users.setDisabled('alice', null, at);
    }
  });

  it('keep a delegated token\'s narrowing: the certificate yields the very subject of the delegated token', async () => {
    const person = await tokens.verify((await tokens.issue({ subject: 'erin', groups: ['dev', 'dba'], targets: ['pg-*', 'web-*'],
      ttlSeconds: 900 })).token);
    const planner = await tokens.verify((await tokens.delegate(person, { to: 'planner-n', targets: ['web-*'], groups: ['dev'] })).token);
    const worker = await tokens.delegate(planner, { to: 'worker-n', targets: ['web-1'], classes: ['read'] });
    const workerSubject = await tokens.verify(worker.token);
    const cert = await ca.issue(workerSubject, key.d.publicText);
    assert.deepEqual(cert.principals, ['worker-n']);
    const viaCert = await ca.authenticate('worker-n', ED_CERT, blobOf(cert.certificate));
    assert.deepEqual(viaCert, workerSubject);
    assert.deepEqual(viaCert.targets, ['web-1']);
    assert.deepEqual(viaCert.classes, ['read']);
    assert.deepEqual(viaCert.chain.map((a) => a.id), ['erin', 'planner-n']);
    assert.deepEqual(viaCert.chainGroups, ['dba', 'dev'], 'restrictions still match every group of the chain');
    assert.equal(viaCert.expiresAt, workerSubject.expiresAt);
  });
});

/** The fields of a plain user certificate of key c for `user`, naming token `jti`, valid for ten minutes. */
function fields(jti: string, user: string): CertificateFields {
  const now = BigInt(Math.floor(Date.now() / 1000));
  return {
    publicKey: parsePublicKeyText(key.c.publicText).blob, serial: 7n, type: SSH_CERT_TYPE_USER, keyId: `warden ${jti} ${user}`,
    principals: [user], validAfter: now - 60n, validBefore: now + 600n, criticalOptions: new Map(),
    extensions: new Map([['permit-pty', Buffer.alloc(0)]]), signatureKey: ca.publicKeyBlob,
  };
}

/** Encodes `f` signed by `signer` (Ed25519), whatever key the certificate names as its CA. */
function signed(f: CertificateFields, signer: ReturnType<typeof createPrivateKey>): Buffer {
  return encodeCertificate(f, (data) => Buffer.concat([sshString('ssh-ed25519'), sshString(sign(null, data, signer))]));
}
