/**
 * The SSH key parser (ssh-wire.ts) and the OpenSSH certificate codec (ssh-cert.ts) with Warden's CA (ssh-ca.ts),
 * judged by the real OpenSSH tools: keys come from `ssh-keygen`, certificates must be read by `ssh-keygen -L` with
 * the right principals, validity and key id, and a signature made with one must pass `ssh-keygen -Y verify` against
 * a `cert-authority` line for Warden's CA (which checks the CA signature, principal and validity as sshd does).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pollUntil } from '../../test/harness/poll.js';
import { runProcess } from '../../test/harness/process.js';
import { describeCertificate, generateKey, type KeyPair } from '../../test/harness/ssh-keygen.js';
import { WardenError } from '../errors.js';
import { openStore } from '../store/index.js';
import type { Store } from '../store/types.js';
import { SSH_CA_KEY_FILE, SshCertificateAuthority } from './ssh-ca.js';
import { FOREVER, SSH_CERT_TYPE_USER, decodeCertificate, encodeCertificate } from './ssh-cert.js';
import { fingerprintOf, parsePublicKeyText, sshString } from './ssh-wire.js';
import { TokenService } from './tokens.js';

const badRequest = (pattern: RegExp) => (err: unknown) => {
  assert.ok(err instanceof WardenError, String(err));
  assert.equal(err.code, 'WARDEN_ERR_BAD_REQUEST');
  assert.match(err.message, pattern);
  return true;
};

let dir: string;
let store: Store;
let tokens: TokenService;
let ca: SshCertificateAuthority;
const keys: Record<string, KeyPair> = {};

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'warden-sshcert-'));
  store = await openStore({ kind: 'sqlite', path: path.join(dir, 'warden.db') });
  tokens = await TokenService.create({ store, dataDir: dir });
  ca = await SshCertificateAuthority.loadOrCreate(dir, { store, tokens });
  for (const spec of ['ed25519', 'ecdsa-256', 'ecdsa-384', 'ecdsa-521', 'rsa-2048', 'rsa-1024', 'dsa'] as const) {
    keys[spec] = await generateKey(dir, `id_${spec}`, spec);
  }
});
after(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('SSH public keys', () => {
  it('accepts ed25519, ecdsa P-256/384/521 and RSA 2048 with the fingerprint ssh-keygen prints', async () => {
    for (const spec of ['ed25519', 'ecdsa-256', 'ecdsa-384', 'ecdsa-521', 'rsa-2048']) {
      const key = parsePublicKeyText(keys[spec].publicText);
      const printed = await runProcess('ssh-keygen', ['-l', '-E', 'sha256', '-f', keys[spec].publicPath]);
      assert.equal(printed.stdout.split(' ')[1], key.fingerprint, spec);
      assert.equal(key.comment, `id_${spec}@test`);
      assert.equal(key.line, keys[spec].publicText.split(' ').slice(0, 2).join(' '));
    }
  });

  it('refuses RSA under 2048 bits, DSA, private keys, certificates, several keys and garbage, saying why', async () => {
    assert.throws(() => parsePublicKeyText(keys['rsa-1024'].publicText), badRequest(/RSA key of 1024 bits refused: at least 2048/));
    assert.throws(() => parsePublicKeyText(keys.dsa.publicText), badRequest(/"ssh-dss" is not accepted/));
    const privateText = await readFile(keys.ed25519.privatePath, 'utf8');
    assert.throws(() => parsePublicKeyText(privateText), badRequest(/private key/));
    assert.throws(() => parsePublicKeyText(`${keys.ed25519.publicText}${keys['ecdsa-256'].publicText}`), badRequest(/exactly one/));
    assert.throws(() => parsePublicKeyText('garbage'), badRequest(/not an SSH public key/));
    const fake = `ssh-ed25519 ${Buffer.concat([sshString('ssh-ed25519'), sshString(Buffer.alloc(31))]).toString('base64')}`;
    assert.throws(() => parsePublicKeyText(fake), badRequest(/malformed/));
    const inner = keys.ed25519.publicText.split(' ')[1];
    assert.throws(() => parsePublicKeyText(`ecdsa-sha2-nistp256 ${inner}`), badRequest(/outside/));
    const subject = await tokens.verify((await tokens.issue({ subject: 'carol', ttlSeconds: 600 })).token);
    const cert = await ca.issue(subject, keys.ed25519.publicText);
    assert.throws(() => parsePublicKeyText(cert.certificate), badRequest(/certificate, not a public key/));
  });
});

describe('the OpenSSH certificate codec', () => {
  it('round-trips every field, and the signature covers exactly what precedes it', () => {
    const key = parsePublicKeyText(keys['ecdsa-384'].publicText);
    const signatureKey = ca.publicKeyBlob;
    let signedBytes: Buffer | undefined;
    const blob = encodeCertificate({
      publicKey: key.blob, serial: 42n, type: SSH_CERT_TYPE_USER, keyId: 'an id', principals: ['a', 'b:c'],
      validAfter: 10n, validBefore: FOREVER - 1n, criticalOptions: new Map([['source-address', sshString('10.0.0.0/8')]]),
      extensions: new Map([['permit-pty', Buffer.alloc(0)], ['permit-X11-forwarding', Buffer.alloc(0)]]), signatureKey,
    }, (data) => {
      signedBytes = data;
      return Buffer.concat([sshString('ssh-ed25519'), sshString(Buffer.alloc(64, 7))]);
    });
    const cert = decodeCertificate(blob);
    assert.equal(cert.certType, 'ecdsa-sha2-nistp384-cert-v01@openssh.com');
    assert.deepEqual(cert.publicKey, key.blob);
    assert.equal(cert.serial, 42n);
    assert.equal(cert.keyId, 'an id');
    assert.deepEqual(cert.principals, ['a', 'b:c']);
    assert.equal(cert.validAfter, 10n);
    assert.equal(cert.validBefore, FOREVER - 1n);
    assert.deepEqual([...cert.criticalOptions.keys()], ['source-address']);
    assert.deepEqual([...cert.extensions.keys()], ['permit-X11-forwarding', 'permit-pty'], 'sorted by name on the wire');
    assert.deepEqual(cert.signatureKey, signatureKey);
    assert.deepEqual(cert.signed, signedBytes);
    assert.equal(cert.nonce.length, 32);
    assert.throws(() => decodeCertificate(Buffer.concat([blob, Buffer.from([0])])), badRequest(/trailing/));
    assert.throws(() => decodeCertificate(blob.subarray(0, blob.length - 3)), badRequest(/ends too early/));
  });

  it('refuses a certificate whose extensions are out of order, as OpenSSH does', () => {
    const key = parsePublicKeyText(keys.ed25519.publicText);
    const blob = encodeCertificate({
      publicKey: key.blob, serial: 1n, type: SSH_CERT_TYPE_USER, keyId: 'x', principals: ['a'], validAfter: 0n,
      validBefore: 1n, criticalOptions: new Map(), extensions: new Map([['ext-b', Buffer.alloc(0)], ['ext-a', Buffer.alloc(0)]]),
      signatureKey: ca.publicKeyBlob,
    }, () => Buffer.alloc(0));
    // encodeCertificate sorts; swap the two extension names in place to make an unsorted one.
    const at = blob.indexOf(sshString('ext-a'));
    const swapped = Buffer.from(blob);
    swapped[at + 8] = 'b'.charCodeAt(0); // last letter of the first name (4 length bytes, then "ext-a")
    swapped[at + 21] = 'a'.charCodeAt(0); // last letter of the second (after the first's empty data, 4 bytes)
    assert.throws(() => decodeCertificate(swapped), badRequest(/not sorted/));
  });
});

describe('certificates of Warden\'s CA, read by OpenSSH', () => {
  it('the CA key is created once, 0600, and the same CA is loaded again from it', async () => {
    assert.equal((await stat(path.join(dir, SSH_CA_KEY_FILE))).mode & 0o777, 0o600);
    const again = await SshCertificateAuthority.loadOrCreate(dir, { store, tokens });
    assert.equal(again.publicKeyLine, ca.publicKeyLine);
    assert.match(ca.publicKeyLine, /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5\S+ warden-user-ca$/);
    await writeFile(path.join(dir, 'ca.pub'), `${ca.publicKeyLine}\n`);
    const printed = await runProcess('ssh-keygen', ['-l', '-E', 'sha256', '-f', path.join(dir, 'ca.pub')]);
    assert.equal(printed.stdout.split(' ')[1], ca.fingerprint);
  });

  it('ssh-keygen -L shows the type, principal, key id with the token jti, validity to the token\'s end and only permit-pty', async () => {
    const issued = await tokens.issue({ subject: 'alice', groups: ['dev'], ttlSeconds: 1800 });
    const subject = await tokens.verify(issued.token);
    for (const spec of ['ed25519', 'ecdsa-256', 'ecdsa-521', 'rsa-2048']) {
      const cert = await ca.issue(subject, keys[spec].publicText);
      const file = path.join(dir, `id_${spec}-cert.pub`);
      await writeFile(file, `${cert.certificate}\n`);
      const shown = await describeCertificate(file);
      const type = parsePublicKeyText(keys[spec].publicText).algorithm;
      assert.match(shown, new RegExp(`Type: ${type}-cert-v01@openssh.com user certificate`), spec);
      assert.match(shown, new RegExp(`Signing CA: ED25519 ${ca.fingerprint.replace(/[+/]/g, '\\$&')}`));
      assert.match(shown, new RegExp(`Key ID: "warden ${issued.id} alice"`));
      assert.match(shown, /Principals: \n\s+alice\n/);
      assert.match(shown, /Critical Options: \(none\)/);
      assert.match(shown, /Extensions: \n\s+permit-pty\n$/);
      // describeCertificate runs ssh-keygen with TZ=UTC, so its times read like ISO ones without the zone.
      const valid = /Valid: from (\S+) to (\S+)/.exec(shown);
      assert.ok(valid, shown);
      assert.equal(valid[2], issued.expiresAt.slice(0, 19), 'valid until the token ends, not a second longer');
      assert.equal(valid[1], cert.validAfter.slice(0, 19));
      assert.ok(Date.parse(cert.validAfter) <= Date.now() - 59_000, 'backdated a minute for hosts with late clocks');
    }
  });

  it('a signature made with the certificate passes ssh-keygen -Y verify for its principal only', async () => {
    const subject = await tokens.verify((await tokens.issue({ subject: 'alice', ttlSeconds: 600 })).token);
    const cert = await ca.issue(subject, keys.ed25519.publicText);
    const certFile = `${keys.ed25519.privatePath}-cert.pub`;
    await writeFile(certFile, `${cert.certificate}\n`);
    const allowed = path.join(dir, 'allowed_signers');
    await writeFile(allowed, `alice,bob cert-authority ${ca.publicKeyLine}\n`);
    const message = path.join(dir, 'message');
    await writeFile(message, 'signed with a Warden certificate\n');
    const agent = await startAgent(path.join(dir, 'agent.sock'));
    try {
      const env = { ...process.env, SSH_AUTH_SOCK: agent.socket };
      const added = await runProcess('ssh-add', [keys.ed25519.privatePath], { env });
      assert.match(added.stderr, /Certificate added/, added.stderr);
      const signed = await runProcess('ssh-keygen', ['-Y', 'sign', '-f', certFile, '-n', 'file', message], { env });
      assert.equal(signed.code, 0, signed.stderr);
      const text = await readFile(message, 'utf8');
      const verify = (identity: string) => runProcess('ssh-keygen',
        ['-Y', 'verify', '-f', allowed, '-I', identity, '-n', 'file', '-s', `${message}.sig`], { stdin: text });
      const good = await verify('alice');
      assert.equal(good.code, 0, good.stderr);
      assert.match(good.stdout, /Good "file" signature for alice with ED25519-CERT key/);
      assert.notEqual((await verify('bob')).code, 0, 'bob is not a principal of alice\'s certificate');
    } finally {
      agent.child.kill();
    }
  });
});

/** A private ssh-agent on its own socket (killed by the caller). */
async function startAgent(socket: string): Promise<{ socket: string; child: ChildProcess }> {
  const child = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
  await pollUntil('ssh-agent socket', async () => {
    const listed = await runProcess('ssh-add', ['-l'], { env: { ...process.env, SSH_AUTH_SOCK: socket } });
    return /no identities|SHA256/.test(listed.stdout + listed.stderr) ? true : undefined;
  });
  return { socket, child };
}
