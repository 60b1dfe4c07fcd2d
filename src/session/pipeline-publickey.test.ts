/**
 * SessionPipeline.open with `credential: publicKey` (the SSH engine's path for keys and certificates) against a real
 * store, real tokens, Warden's real CA and SshPublicKeys: a registered key opens a session as its owner; a
 * certificate opens it exactly as its token would (same subject, same refusal for a target the delegated token was
 * narrowed away from); a key for another user, or no authenticator at all, is refused and recorded as refused.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { generateKey, type KeyPair } from '../../test/harness/ssh-keygen.js';
import { ApprovalService } from '../approvals/service.js';
import { Notifier } from '../approvals/notifier.js';
import { SshCertificateAuthority } from '../identity/ssh-ca.js';
import { SshKeys, SshPublicKeys } from '../identity/ssh-keys.js';
import { TokenService } from '../identity/tokens.js';
import { parsePolicyDocuments } from '../policy/load.js';
import { builtinProtocols } from '../protocols/builtin.js';
import '../protocols/test-install.js';
import { Recorder } from '../recording/recorder.js';
import { openStore } from '../store/index.js';
import type { Store } from '../store/types.js';
import { Vault } from '../vault/vault.js';
import { SessionPipeline, type PipelineDeps } from './pipeline.js';
import { PolicyCatalog } from './policy-catalog.js';
import type { OpenRequest } from './session.js';

const logger = pino({ level: 'silent' });
const at = new Date().toISOString();
const ED_CERT = 'ssh-ed25519-cert-v01@openssh.com';
const blobOf = (text: string) => Buffer.from(text.trim().split(/\s+/)[1], 'base64');
let dir: string;
let store: Store;
let tokens: TokenService;
let ca: SshCertificateAuthority;
let sshKeys: SshKeys;
let approvals: ApprovalService;
let deps: PipelineDeps;
let pipeline: SessionPipeline;
const keys: Record<string, KeyPair> = {};

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'warden-pipeline-pk-'));
  store = await openStore({ kind: 'sqlite', path: path.join(dir, 'warden.db') });
  tokens = await TokenService.create({ store, dataDir: dir });
  ca = await SshCertificateAuthority.loadOrCreate(dir, { store, tokens });
  sshKeys = new SshKeys({ store });
  for (const name of ['web-1', 'web-2']) {
    await store.targets.insert({ name, type: 'ssh', host: '127.0.0.1', port: 22, user: 'deploy', hostKeyFingerprint: null,
      passwordEnc: null, labels: {}, createdAt: at, updatedAt: at });
  }
  const policies = await PolicyCatalog.load(store);
  await policies.apply(parsePolicyDocuments(`kind: Policy
name: ssh-dev
rules:
  - name: dev-may-use-ssh
    targets: ["web-*"]
    subjects: { groups: [dev] }
    match: { classes: [shell, read] }
    effect: allow
`));
  approvals = await ApprovalService.create({ store, logger, notifier: new Notifier({ webhookUrls: [], slackWebhookUrls: [], publicUrl: 'http://x', logger }) });
  deps = { store, tokens, vault: Vault.fromKey(Buffer.alloc(32, 7)), recorder: new Recorder({ sessions: store.sessions, logger }),
    policies, approvals, defaultEffect: 'deny', logger, protocols: builtinProtocols(), publicKeys: new SshPublicKeys(sshKeys, ca) };
  pipeline = new SessionPipeline(deps);
  keys.a = await generateKey(dir, 'id_a', 'ed25519');
  keys.b = await generateKey(dir, 'id_b', 'ed25519');
  await store.users.recordLogin({ name: 'alice', email: null, displayName: null, groups: ['dev'], provider: 'corp', at });
});
after(async () => {
  await approvals?.shutdown('test over');
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

const request = (user: string, targetName: string, credential: OpenRequest['credential']): OpenRequest =>
  ({ protocol: 'ssh', credential, user, targetName, clientAddress: '127.0.0.1:1' });

describe('SessionPipeline.open with a public key', () => {
  test('a registered key opens a session as its owner, with the owner\'s groups', async () => {
    const record = await sshKeys.add({ owner: { kind: 'user', name: 'alice' }, publicKey: keys.a.publicText });
    const session = await pipeline.open(request('alice', 'web-1', { kind: 'publicKey', algorithm: 'ssh-ed25519', key: blobOf(keys.a.publicText) }));
    assert.equal(session.subject.id, 'alice');
    assert.equal(session.subject.tokenId, `sshkey:${record.id}`);
    assert.deepEqual(session.subject.groups, ['dev']);
    assert.equal((await store.sessions.get(session.id))?.tokenId, `sshkey:${record.id}`, 'the session row names the key');
  });

  test('a certificate opens a session exactly as its token would, narrowing included', async () => {
    const person = await tokens.issue({ subject: 'alice', groups: ['dev'], targets: ['web-*'], ttlSeconds: 600 });
    const helper = await tokens.delegate(await tokens.verify(person.token), { to: 'alice-bot', targets: ['web-1'] });
    const cert = await ca.issue(await tokens.verify(helper.token), keys.b.publicText);
    const byCert = { kind: 'publicKey', algorithm: ED_CERT, key: blobOf(cert.certificate) } as const;
    const byToken = { kind: 'token', token: helper.token } as const;
    const withCert = await pipeline.open(request('alice-bot', 'web-1', byCert));
    const withToken = await pipeline.open(request('alice-bot', 'web-1', byToken));
    assert.deepEqual(withCert.subject, withToken.subject);
    const refusals = await Promise.all([byCert, byToken].map((credential) =>
      pipeline.open(request('alice-bot', 'web-2', credential)).then(() => 'opened', (err: { code: string; message: string }) => `${err.code}: ${err.message}`)));
    assert.equal(refusals[0], 'WARDEN_ERR_ACCESS_DENIED: user "alice-bot" may not use target "web-2"');
    assert.equal(refusals[1], refusals[0]);
  });

  test('a key for another user is refused, and so is any key when no authenticator is wired', async () => {
    await assert.rejects(pipeline.open(request('bob', 'web-1', { kind: 'publicKey', algorithm: 'ssh-ed25519', key: blobOf(keys.a.publicText) })),
      { code: 'WARDEN_ERR_SSH_KEY_REJECTED' });
    const without = new SessionPipeline({ ...deps, publicKeys: undefined });
    await assert.rejects(without.open(request('alice', 'web-1', { kind: 'publicKey', algorithm: 'ssh-ed25519', key: blobOf(keys.a.publicText) })),
      { code: 'WARDEN_ERR_UNAUTHENTICATED', message: /public key authentication is not enabled/ });
  });
});
