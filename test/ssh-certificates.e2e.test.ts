/**
 * SSH credentials from Warden, judged by real OpenSSH:
 * - a real `sshd` (test/harness/sshd.ts) with `TrustedUserCAKeys` set to Warden's CA public key accepts the real `ssh`
 *   client logging in with a certificate from `warden ssh-cert` (principal mapped with AuthorizedPrincipalsFile),
 *   logs its key id (the token's jti), and refuses a certificate whose principal it does not allow;
 * - the real `ssh` client logs in to an ssh2 server that authenticates the way Warden's SSH engine does
 *   (verifyPublicKeyAttempt, then SshPublicKeys.authenticate) with ed25519, ECDSA and RSA certificates and registered
 *   keys, and is refused with an unregistered key and with the certificate of a revoked token.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import ssh2 from 'ssh2';
import { SshCertificateAuthority } from '../src/identity/ssh-ca.js';
import { SshKeys, SshPublicKeys } from '../src/identity/ssh-keys.js';
import { verifyPublicKeyAttempt } from '../src/identity/ssh-signature.js';
import { TokenService } from '../src/identity/tokens.js';
import { openStore } from '../src/store/index.js';
import type { Store } from '../src/store/types.js';
import { runProcess } from './harness/process.js';
import { startSshd, type SshServer } from './harness/sshd.js';
import { generateKey, type KeyPair } from './harness/ssh-keygen.js';

let dir: string;
let store: Store;
let tokens: TokenService;
let ca: SshCertificateAuthority;
let sshKeys: SshKeys;
const keys: Record<string, KeyPair> = {};
const at = new Date().toISOString();

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'warden-sshcert-e2e-'));
  await chmod(dir, 0o755); // sshd reads the principals file as the test user
  store = await openStore({ kind: 'sqlite', path: path.join(dir, 'warden.db') });
  tokens = await TokenService.create({ store, dataDir: dir });
  ca = await SshCertificateAuthority.loadOrCreate(dir, { store, tokens });
  sshKeys = new SshKeys({ store });
  for (const spec of ['ed25519', 'ecdsa-256', 'rsa-2048'] as const) keys[spec] = await generateKey(dir, `id_${spec}`, spec);
  keys.plain = await generateKey(dir, 'id_plain', 'ed25519');
  keys.rsaplain = await generateKey(dir, 'id_rsaplain', 'rsa-3072');
  keys.stranger = await generateKey(dir, 'id_stranger', 'ed25519');
  await store.users.recordLogin({ name: 'alice', email: null, displayName: null, groups: ['dev'], provider: 'corp', at });
});
after(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

/** Writes a certificate for `user`'s fresh token beside `key` (what `warden ssh-cert` does); returns the token id. */
async function certify(user: string, key: KeyPair, ttlSeconds = 600): Promise<string> {
  const issued = await tokens.issue({ subject: user, groups: ['dev'], ttlSeconds });
  const cert = await ca.issue(await tokens.verify(issued.token), key.publicText);
  await writeFile(`${key.privatePath}-cert.pub`, `${cert.certificate}\n`);
  return issued.id;
}

/** Runs the real ssh client with only `key` (and its certificate, if any) as identity. */
function ssh(port: number, user: string, key: KeyPair, command: string, extra: string[] = []) {
  return runProcess('ssh', [
    '-p', String(port), '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', `IdentityFile=${key.privatePath}`,
    '-o', 'PasswordAuthentication=no', '-o', 'KbdInteractiveAuthentication=no', '-o', 'StrictHostKeyChecking=no',
    '-o', `UserKnownHostsFile=${path.join(dir, 'known_hosts')}`, '-o', 'ConnectTimeout=10', ...extra, `${user}@127.0.0.1`, command,
  ], { env: { ...process.env, SSH_AUTH_SOCK: '' } });
}

describe('a real sshd trusting Warden\'s CA', () => {
  let server: SshServer;
  before(async () => {
    await writeFile(path.join(dir, 'ca.pub'), `${ca.publicKeyLine}\n`, { mode: 0o644 });
    await writeFile(path.join(dir, 'principals'), 'alice\n', { mode: 0o644 });
    server = await startSshd({ extraConfig: [
      `TrustedUserCAKeys ${path.join(dir, 'ca.pub')}`,
      `AuthorizedPrincipalsFile ${path.join(dir, 'principals')}`,
    ] });
  });
  after(async () => { await server?.stop(); });

  it('lets the holder of alice\'s certificate in, and logs the token id from the key id', async () => {
    const jti = await certify('alice', keys.ed25519);
    const result = await ssh(server.port, server.account.user, keys.ed25519, 'echo logged-in-as-$(id -un)');
    assert.equal(result.code, 0, `${result.stderr}\n${server.log()}`);
    assert.equal(result.stdout, `logged-in-as-${server.account.user}\n`);
    assert.match(server.log(), new RegExp(`Accepted publickey for ${server.account.user} .* ID warden ${jti} alice \\(serial \\d+\\) CA ED25519 ${ca.fingerprint.replace(/[+/]/g, '\\$&')}`));
  });

  it('refuses a certificate whose principal the host does not allow', async () => {
    await store.users.recordLogin({ name: 'mallory', email: null, displayName: null, groups: [], provider: 'corp', at });
    await certify('mallory', keys['ecdsa-256']);
    const result = await ssh(server.port, server.account.user, keys['ecdsa-256'], 'true');
    assert.equal(result.code, 255);
    assert.match(result.stderr, /Permission denied \(publickey/);
  });
});

describe('the real ssh client against Warden\'s way of authenticating', () => {
  let server: InstanceType<typeof ssh2.Server>;
  let port: number;
  before(async () => {
    const hostKey = await generateKey(dir, 'host_key', 'ed25519');
    const publicKeys = new SshPublicKeys(sshKeys, ca);
    server = new ssh2.Server({ hostKeys: [await readFile(hostKey.privatePath)] }, (client) => {
      let who = '';
      client.on('authentication', (ctx) => {
        if (ctx.method !== 'publickey') return ctx.reject(['publickey']);
        // As the engine does: a query needs no proof yet; a signed attempt must verify before the key is judged.
        if (ctx.signature !== undefined && !verifyPublicKeyAttempt(ctx)) return ctx.reject(['publickey']);
        publicKeys.authenticate(ctx.username, ctx.key.algo, ctx.key.data).then((subject) => {
          who = `${subject.id} ${subject.tokenId} ${ctx.key.algo}`;
          ctx.accept();
        }, () => ctx.reject(['publickey']));
      });
      client.on('session', (accept) => {
        accept().on('exec', (acceptExec) => {
          const channel = acceptExec();
          channel.write(`${who}\n`);
          channel.exit(0);
          channel.end();
        });
      });
      client.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  after(async () => { await new Promise<void>((resolve) => server.close(() => resolve())); });

  for (const spec of ['ed25519', 'ecdsa-256', 'rsa-2048'] as const) {
    it(`logs in with a Warden certificate on a ${spec} key`, async () => {
      const jti = await certify('alice', keys[spec]);
      const result = await ssh(port, 'alice', keys[spec], 'whoami');
      assert.equal(result.code, 0, result.stderr);
      // RSA must sign with SHA-2 (ssh-rsa SHA-1 signatures are refused with certificates).
      const algo = { ed25519: 'ssh-ed25519', 'ecdsa-256': 'ecdsa-sha2-nistp256', 'rsa-2048': 'rsa-sha2-(256|512)' }[spec];
      assert.match(result.stdout, new RegExp(`^alice ${jti} ${algo}-cert-v01@openssh\\.com\\n$`));
    });
  }

  it('logs in with registered ed25519 and RSA keys, as the key\'s owner', async () => {
    const ed = await sshKeys.add({ owner: { kind: 'user', name: 'alice' }, publicKey: keys.plain.publicText });
    const rsa = await sshKeys.add({ owner: { kind: 'user', name: 'alice' }, publicKey: keys.rsaplain.publicText });
    const one = await ssh(port, 'alice', keys.plain, 'whoami');
    assert.equal(one.code, 0, one.stderr);
    assert.equal(one.stdout, `alice sshkey:${ed.id} ssh-ed25519\n`);
    const two = await ssh(port, 'alice', keys.rsaplain, 'whoami');
    assert.equal(two.code, 0, two.stderr);
    assert.match(two.stdout, new RegExp(`^alice sshkey:${rsa.id} (ssh-rsa|rsa-sha2-512|rsa-sha2-256)\\n$`));
  });

  it('refuses an unregistered key, a registered key for another user, and the certificate of a revoked token', async () => {
    const stranger = await ssh(port, 'alice', keys.stranger, 'whoami');
    assert.equal(stranger.code, 255);
    assert.match(stranger.stderr, /Permission denied/);
    const otherUser = await ssh(port, 'bob', keys.plain, 'whoami');
    assert.equal(otherUser.code, 255);
    const jti = await certify('alice', keys.ed25519);
    assert.equal((await ssh(port, 'alice', keys.ed25519, 'whoami')).code, 0);
    await tokens.revoke(jti);
    const revoked = await ssh(port, 'alice', keys.ed25519, 'whoami');
    assert.equal(revoked.code, 255);
    assert.match(revoked.stderr, /Permission denied/);
  });
});
