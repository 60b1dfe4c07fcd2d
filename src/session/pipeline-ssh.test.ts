/**
 * SessionPipeline with a second protocol, against a real SQLite store, real tokens, vault, policies, approvals and
 * recorder (no engine): an ssh session opens on an ssh target only; its commands are judged by the ssh protocol
 * (policy rules, the token's class narrowing, a command of another protocol); the vaulted SSH credentials come back
 * in the ssh shape; the result hook hands a byte-stream engine the content rules; and a public-key credential is
 * refused clearly when no authenticator is configured, mapped to its subject when one is.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { ApprovalService } from '../approvals/service.js';
import { Notifier } from '../approvals/notifier.js';
import { WardenError } from '../errors.js';
import { TokenService } from '../identity/tokens.js';
import { parsePolicyDocuments } from '../policy/load.js';
import { postgresProtocol } from '../protocols/postgres/definition.js';
import { createSshProtocol } from '../protocols/ssh/definition.js';
import '../protocols/test-install.js';
import { Recorder } from '../recording/recorder.js';
import { openStore } from '../store/index.js';
import type { Store } from '../store/types.js';
import { Vault } from '../vault/vault.js';
import { SessionPipeline, type PipelineDeps } from './pipeline.js';
import { PolicyCatalog } from './policy-catalog.js';
import { ProtocolRegistry } from './protocol-registry.js';
import type { OpenRequest, Session } from './session.js';
import type { Command, CommandContext, PublicKeyAuthenticator, Subject, Verdict } from './types.js';

const logger = pino({ level: 'silent' });
const context: CommandContext = { notify: () => {} };
const KEY = Buffer.from('ssh-ed25519 public key blob of alice');
const POLICY = `kind: Policy
name: ssh
rules:
  - name: agents-exec-only
    targets: ["web-*"]
    subjects: { groups: [agents] }
    match: { classes: [shell] }
    effect: deny
    message: agents get exec only
  - name: shells-and-reads
    targets: ["web-*"]
    match: { classes: [shell, read] }
    effect: allow
  - name: mask-cards
    targets: ["web-*"]
    mask: [{ detectors: [card], strategy: redact }, { columns: [ssn], strategy: redact }]
`;

let dir: string;
let store: Store;
let tokens: TokenService;
let vault: Vault;
let approvals: ApprovalService;
let deps: PipelineDeps;
let pipeline: SessionPipeline;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'warden-pipeline-ssh-'));
  store = await openStore({ kind: 'sqlite', path: path.join(dir, 'warden.db') });
  // The ssh protocol without a shell analyser: exec text is `unknown` whatever src/analysis/shell says, so these
  // tests pin the pipeline's plumbing, not a parser.
  const protocols = new ProtocolRegistry([postgresProtocol, createSshProtocol()]);
  tokens = await TokenService.create({ store, dataDir: dir, classes: protocols.classes() });
  vault = Vault.fromKey(Buffer.alloc(32, 9));
  const now = new Date().toISOString();
  await store.targets.insert({ name: 'web-1', type: 'ssh', host: '127.0.0.1', port: 22, user: 'deploy', hostKeyFingerprint: null,
    labels: {}, passwordEnc: null, createdAt: now, updatedAt: now,
    secretsEnc: { privateKey: vault.encrypt('-----BEGIN OPENSSH PRIVATE KEY-----\nk\n', 'target:web-1:privateKey') } });
  await store.targets.insert({ name: 'web-pg', type: 'postgres', host: '127.0.0.1', port: 5432, database: 'app', user: 'app',
    passwordEnc: null, tls: 'disable', ca: null, labels: {}, createdAt: now, updatedAt: now });
  const policies = await PolicyCatalog.load(store);
  await policies.apply(parsePolicyDocuments(POLICY));
  approvals = await ApprovalService.create({ store, logger, notifier: new Notifier({ webhookUrls: [], slackWebhookUrls: [], publicUrl: 'http://x', logger }) });
  deps = { store, tokens, vault, recorder: new Recorder({ sessions: store.sessions, logger }), policies, approvals,
    defaultEffect: 'deny', logger, protocols };
  pipeline = new SessionPipeline(deps);
});
after(async () => {
  await approvals?.shutdown('test over');
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

function request(user: string, credential: OpenRequest['credential'], targetName = 'web-1'): OpenRequest {
  return { protocol: 'ssh', credential, user, targetName, clientAddress: '127.0.0.1:2' };
}

async function open(user: string, groups: string[]): Promise<Session> {
  const { token } = await tokens.issue({ subject: user, groups, ttlSeconds: 600, kind: groups.includes('agents') ? 'agent' : 'user' });
  return pipeline.open(request(user, { kind: 'token', token }));
}

const ssh = (kind: string, text: string): Command => ({ protocol: 'ssh', kind, text });
const decide = (session: Session, command: Command) => pipeline.onCommand(session, command, context) as Verdict;

describe('SessionPipeline: an ssh session', () => {
  test('opens on an ssh target only; the session carries the validated ssh target', async () => {
    const session = await open('alice', []);
    assert.deepEqual(session.target, { name: 'web-1', type: 'ssh', host: '127.0.0.1', port: 22, user: 'deploy',
      hostKeyFingerprint: null, labels: {} });
    assert.equal(session.protocol, 'ssh');
    const { token } = await tokens.issue({ subject: 'alice', ttlSeconds: 600 });
    await assert.rejects(pipeline.open(request('alice', { kind: 'token', token }, 'web-pg')),
      (err: unknown) => err instanceof WardenError && err.code === 'WARDEN_ERR_TARGET_NOT_FOUND');
  });

  test('commands are judged by the ssh protocol and the policies', async () => {
    const alice = await open('alice', []);
    assert.deepEqual([decide(alice, ssh('shell', '')).effect, decide(alice, ssh('shell', '')).note.rule], ['allow', 'ssh/shells-and-reads']);
    const agent = await open('bot-1', ['agents']);
    const refused = decide(agent, ssh('shell', ''));
    assert.deepEqual([refused.effect, refused.effect === 'deny' && refused.message], ['deny', 'agents get exec only']);
    // Without a shell analyser exec text is unknown, which no rule allows.
    const exec = decide(alice, ssh('exec', 'uptime'));
    assert.deepEqual([exec.effect, exec.note.classes], ['deny', ['unknown']]);
    const forward = decide(alice, ssh('forward', 'direct-tcpip'));
    assert.equal(forward.effect === 'deny' && forward.message, 'no policy allows forward commands for alice on target "web-1"');
    const foreign = decide(alice, { protocol: 'postgres', kind: 'sql', text: 'SELECT 1' });
    assert.equal(foreign.effect === 'deny' && foreign.message, 'this session speaks ssh, not postgres');
  });

  test('a token narrowed to some classes refuses the others on ssh too', async () => {
    const { token } = await tokens.issue({ subject: 'alice', ttlSeconds: 600 });
    const parent = await tokens.verify(token);
    const { token: child } = await tokens.delegate(parent, { to: 'helper-ssh', classes: ['read'] });
    const session = await pipeline.open(request('helper-ssh', { kind: 'token', token: child }));
    const v = decide(session, ssh('shell', ''));
    assert.equal(v.effect === 'deny' && v.message, 'this token may only run read commands (this one is shell)');
    await assert.rejects(tokens.delegate(parent, { to: 'helper-2', classes: ['teleport'] }), /unknown statement class "teleport"/);
  });

  test('credentials come back in the ssh shape; masking gives stream engines the content rules', async () => {
    const session = await open('alice', []);
    assert.deepEqual(await pipeline.credentials(session),
      { user: 'deploy', password: null, privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nk\n', passphrase: null });
    const masking = pipeline.masking(session);
    assert.deepEqual(masking.rules.map((r) => r.rule), ['ssh/mask-cards']);
    assert.deepEqual(masking.contentItems, [{ detectors: ['card'], strategy: 'redact' }]);
  });
});

describe('SessionPipeline: public-key callers', () => {
  test('refused clearly when no authenticator is configured, and recorded', async () => {
    await assert.rejects(pipeline.open(request('alice', { kind: 'publicKey', algorithm: 'ssh-ed25519', key: KEY })),
      (err: unknown) => err instanceof WardenError && err.code === 'WARDEN_ERR_UNAUTHENTICATED'
        && err.message === 'public key authentication is not enabled on this Warden: use a Warden token as the password');
    const refused = (await store.sessions.list({})).find((s) => s.endReason?.includes('WARDEN_ERR_UNAUTHENTICATED'));
    assert.ok(refused, 'the refusal is recorded');
  });

  test('mapped to its subject by the authenticator; a key for another user is refused', async () => {
    const alice: Subject = { id: 'alice', kind: 'user', groups: [], chain: [], tokenId: 'key:alice', targets: ['*'],
      expiresAt: Math.floor(Date.now() / 1000) + 600 };
    const calls: string[] = [];
    const publicKeys: PublicKeyAuthenticator = {
      async authenticate(user, algorithm, key) {
        calls.push(`${user} ${algorithm}`);
        if (!key.equals(KEY)) throw new WardenError('WARDEN_ERR_UNAUTHENTICATED', 'unknown public key');
        return alice;
      },
    };
    const withKeys = new SessionPipeline({ ...deps, publicKeys });
    const session = await withKeys.open(request('alice', { kind: 'publicKey', algorithm: 'ssh-ed25519', key: KEY }));
    assert.equal(session.subject, alice);
    await assert.rejects(withKeys.open(request('mallory', { kind: 'publicKey', algorithm: 'ssh-ed25519', key: KEY })),
      (err: unknown) => err instanceof WardenError && err.message === 'the public key is not issued to user "mallory"');
    await assert.rejects(withKeys.open(request('alice', { kind: 'publicKey', algorithm: 'ssh-ed25519', key: Buffer.from('other') })),
      /unknown public key/);
    assert.deepEqual(calls, ['alice ssh-ed25519', 'mallory ssh-ed25519', 'alice ssh-ed25519']);
  });
});
