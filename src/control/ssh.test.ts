/**
 * `warden ssh-keys add|list|rm` and `warden ssh-cert` against a real control API (real store, tokens, CA) on a
 * loopback port, with keys made by the real ssh-keygen and certificates read back by `ssh-keygen -L`. Covers who may
 * do what (administrators everything; a user their own keys with an undelegated token; delegated tokens get
 * certificates but cannot register keys), each refusal's status and message, and removal ending live sessions.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { describeCertificate, generateKey, type KeyPair } from '../../test/harness/ssh-keygen.js';
import type { Io } from '../cli/common.js';
import { main } from '../cli/main.js';
import { parsePublicKeyText } from '../identity/ssh-wire.js';
import type { SessionRegistry } from '../session/registry.js';
import type { Subject } from '../session/types.js';
import type { SshKeyRecord } from '../store/types.js';
import { createControlFixture, type ControlFixture } from './test-fixture.js';

let fx: ControlFixture;
let url: string;
let dir: string;
let aliceToken: string;
const keys: Record<string, KeyPair> = {};
const at = new Date().toISOString();

before(async () => {
  fx = await createControlFixture();
  url = await fx.app.listen({ port: 0, host: '127.0.0.1' });
  dir = await mkdtemp(path.join(tmpdir(), 'warden-ssh-api-'));
  for (const name of ['a1', 'a2', 'b1', 'sa', 'x']) keys[name] = await generateKey(dir, `id_${name}`, 'ed25519');
  keys.dsa = await generateKey(dir, 'id_dsa', 'dsa');
  for (const name of ['alice', 'bob']) {
    await fx.store.users.recordLogin({ name, email: null, displayName: null, groups: ['dev'], provider: 'corp', at });
  }
  await fx.deps.serviceAccounts.create({ name: 'deployer', kind: 'service', groups: ['ci'], targets: ['web-*'] });
  aliceToken = (await fx.tokens.issue({ subject: 'alice', groups: ['dev'], ttlSeconds: 1200 })).token;
});
after(async () => {
  await fx.close();
  await rm(dir, { recursive: true, force: true });
});

/** Runs `warden ...` in this process with the admin token unless `token` says otherwise. */
async function cli(args: string[], token: string | undefined = fx.adminToken) {
  let stdout = '';
  let stderr = '';
  const io: Io = {
    stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), readStdin: async () => '',
    env: { WARDEN_URL: url, ...(token === undefined ? {} : { WARDEN_TOKEN: token }) }, cwd: dir, stdinIsTTY: false,
  };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

/** A live session in the kill switch's registry for `subject`, recording why it was ended. */
function liveSession(registry: SessionRegistry, id: string, subject: Subject) {
  const state = { reason: undefined as string | undefined, ending: false };
  registry.add({
    session: { id, protocol: 'postgres', subject, target: { name: 'web-1' } as never, database: '', clientAddress: '127.0.0.1:1', startedAt: Date.now() },
    get ending() { return state.ending; },
    async terminate(reason: string) { state.reason = reason; state.ending = true; },
  });
  return state;
}

describe('warden ssh-keys', () => {
  it('an administrator adds keys to users and service accounts, lists them and removes one, ending its sessions', async () => {
    const added = await cli(['ssh-keys', 'add', 'alice', '--key', keys.a1.publicPath, '--name', 'laptop', '--ttl', '90d']);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /^SSH key sshk_\S+ \(SHA256:\S+\) added to user alice, expires \d{4}-/);
    const sa = await cli(['ssh-keys', 'add', '--service', 'deployer', '--key', keys.sa.publicPath, '--json']);
    assert.equal(sa.code, 0, sa.stderr);
    const saKey = JSON.parse(sa.stdout) as SshKeyRecord;
    assert.equal(saKey.ownerKind, 'service');
    assert.equal(saKey.name, 'id_sa@test');
    assert.equal(saKey.expiresAt, null);

    const listed = JSON.parse((await cli(['ssh-keys', 'list', '-o', 'json'])).stdout) as SshKeyRecord[];
    assert.deepEqual(listed.map((k) => `${k.ownerKind}:${k.owner}:${k.name}`), ['user:alice:laptop', 'service:deployer:id_sa@test']);
    const table = await cli(['ssh-keys', 'list', '--service', 'deployer']);
    assert.match(table.stdout, /sa:deployer\s+ssh-ed25519\s+SHA256:/);
    assert.doesNotMatch(table.stdout, /alice/);

    const subject = await fx.deps.sshKeys.authenticate('deployer', 'ssh-ed25519', Buffer.from(keys.sa.publicText.split(' ')[1], 'base64'));
    const live = liveSession(fx.registry, 'sess-sa', subject);
    const removed = await cli(['ssh-keys', 'rm', saKey.id]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal(removed.stdout, `SSH key ${saKey.id} of service account deployer removed (1 live session(s) ended)\n`);
    assert.equal(live.reason, 'the SSH key this session was opened with was removed');
    const again = await cli(['ssh-keys', 'rm', saKey.id]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /not found \(WARDEN_ERR_NOT_FOUND\)/);
  });

  it('refuses private keys (before sending them), refused key types, unknown owners and a key twice', async () => {
    const priv = await cli(['ssh-keys', 'add', 'alice', '--key', keys.b1.privatePath]);
    assert.equal(priv.code, 1);
    assert.match(priv.stderr, /is a private key; give the public key/);
    const dsa = await cli(['ssh-keys', 'add', 'alice', '--key', keys.dsa.publicPath]);
    assert.equal(dsa.code, 1);
    assert.match(dsa.stderr, /"ssh-dss" is not accepted.*\(WARDEN_ERR_BAD_REQUEST\)/);
    const nobody = await cli(['ssh-keys', 'add', 'nobody', '--key', keys.b1.publicPath]);
    assert.match(nobody.stderr, /Warden does not know them yet.*\(WARDEN_ERR_NOT_FOUND\)/);
    const twice = await cli(['ssh-keys', 'add', 'bob', '--key', keys.a1.publicPath]);
    assert.match(twice.stderr, /already registered.*\(WARDEN_ERR_CONFLICT\)/);
    const usage = await cli(['ssh-keys', 'add', 'alice', '--service', 'deployer', '--key', keys.b1.publicPath]);
    assert.equal(usage.code, 2);
  });

  it('a user manages their own keys only, and never with a delegated token', async () => {
    const own = await cli(['ssh-keys', 'add', '--key', keys.a2.publicPath, '--json'], aliceToken);
    assert.equal(own.code, 0, own.stderr);
    assert.equal((JSON.parse(own.stdout) as SshKeyRecord).owner, 'alice');
    const bobKey = JSON.parse((await cli(['ssh-keys', 'add', 'bob', '--key', keys.b1.publicPath, '--json'])).stdout) as SshKeyRecord;

    const forBob = await cli(['ssh-keys', 'add', 'bob', '--key', keys.x.publicPath], aliceToken);
    assert.match(forBob.stderr, /only an administrator may manage SSH keys of user "bob" \(WARDEN_ERR_FORBIDDEN\)/);
    const mine = JSON.parse((await cli(['ssh-keys', 'list', '-o', 'json'], aliceToken)).stdout) as SshKeyRecord[];
    assert.ok(mine.length >= 2 && mine.every((k) => k.owner === 'alice'), JSON.stringify(mine));
    assert.match((await cli(['ssh-keys', 'list', '--user', 'bob'], aliceToken)).stderr, /WARDEN_ERR_FORBIDDEN/);
    assert.match((await cli(['ssh-keys', 'rm', bobKey.id], aliceToken)).stderr, /WARDEN_ERR_FORBIDDEN/);
    assert.notEqual(await fx.store.sshKeys.get(bobKey.id), undefined, 'bob\'s key is still there');

    const helper = await fx.tokens.delegate(await fx.tokens.verify(aliceToken), { to: 'alice-helper' });
    const delegated = await cli(['ssh-keys', 'add', '--key', keys.x.publicPath], helper.token);
    assert.match(delegated.stderr, /WARDEN_ERR_FORBIDDEN/);
    const narrowed = (await fx.tokens.issue({ subject: 'alice', targets: ['web-1'], ttlSeconds: 600 })).token;
    assert.match((await cli(['ssh-keys', 'add', '--key', keys.x.publicPath], narrowed)).stderr, /delegated or narrowed token/);
    assert.equal(await fx.store.sshKeys.byFingerprint(parsePublicKeyText(keys.x.publicText).fingerprint), undefined, 'nothing was registered');
  });
});

describe('warden ssh-cert', () => {
  it('writes <key>-cert.pub beside the key for the caller\'s token, read by ssh-keygen -L', async () => {
    const issued = await fx.tokens.issue({ subject: 'bob', groups: ['dev'], ttlSeconds: 900 });
    const result = await cli(['ssh-cert', '--key', keys.b1.publicPath], issued.token);
    assert.equal(result.code, 0, result.stderr);
    const certFile = `${keys.b1.privatePath}-cert.pub`;
    assert.equal(result.stdout, `certificate for bob written to ${certFile}, valid until ${issued.expiresAt.replace(/\.\d+Z$/, '.000Z')}\n`);
    assert.equal((await stat(certFile)).mode & 0o777, 0o644);
    const shown = await describeCertificate(certFile);
    assert.match(shown, /Principals: \n\s+bob\n/);
    assert.match(shown, new RegExp(`Key ID: "warden ${issued.id} bob"`));
    assert.match(shown, new RegExp(`to ${issued.expiresAt.slice(0, 19)}`));
  });

  it('gives a delegated token a certificate for the sub-agent, and refuses callers without a valid token', async () => {
    const helper = await fx.tokens.delegate(await fx.tokens.verify(aliceToken), { to: 'alice-cert-helper', classes: ['read'] });
    const out = path.join(dir, 'helper-cert.pub');
    const result = await cli(['ssh-cert', '--key', keys.x.publicPath, '--out', out], helper.token);
    assert.equal(result.code, 0, result.stderr);
    const cert = Buffer.from((await readFile(out, 'utf8')).split(' ')[1], 'base64');
    const subject = await fx.deps.sshCa.authenticate('alice-cert-helper', 'ssh-ed25519-cert-v01@openssh.com', cert);
    assert.deepEqual(subject.classes, ['read']);
    assert.deepEqual(subject.chain.map((a) => a.id), ['alice']);

    const anonymous = await fx.app.inject({ method: 'POST', url: '/api/ssh/certificates', payload: { publicKey: keys.x.publicText } });
    assert.equal(anonymous.statusCode, 401);
    await fx.tokens.revoke(helper.id);
    const revoked = await cli(['ssh-cert', '--key', keys.x.publicPath, '--out', out], helper.token);
    assert.match(revoked.stderr, /WARDEN_ERR_TOKEN_REVOKED/);
  });

  it('--print-ca prints the CA public key without a token', async () => {
    const result = await cli(['ssh-cert', '--print-ca'], undefined);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `${fx.deps.sshCa.publicKeyLine}\n`);
    assert.match(result.stdout, /^ssh-ed25519 AAAA\S+ warden-user-ca\n$/);
  });
});
