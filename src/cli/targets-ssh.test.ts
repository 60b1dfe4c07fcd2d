/**
 * Tests of `warden targets add|list|show|update|test --type ssh` and `warden policy test` on an ssh target, against
 * a real control API (real store, vault and policy engine) on a loopback port: secrets are read from stdin or a key
 * file only, never echoed, stored encrypted and bound to their target; an encrypted key's passphrase is read from
 * stdin (and only then); flags of the other protocol are refused; the policy test explains an SSH decision.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateEd25519 } from '../protocols/ssh/keygen.js';
import { createControlFixture, type ControlFixture } from '../control/test-fixture.js';
import { targetFieldContext, targetSecretContext } from '../control/routes/target-records.js';
import type { Io } from './common.js';
import { main } from './main.js';

const PASSWORD = 'Ssh-S3cret-pw-XYZ';
const PASSPHRASE = 'key-passphrase-42';
const FINGERPRINT = `SHA256:${'A'.repeat(43)}`;

let fx: ControlFixture;
let url: string;
let cwd: string;
let plainKey: string;
let encryptedKey: string;

before(async () => {
  fx = await createControlFixture();
  url = await fx.app.listen({ port: 0, host: '127.0.0.1' });
  cwd = await mkdtemp(join(tmpdir(), 'warden-cli-ssh-'));
  plainKey = generateEd25519().private;
  encryptedKey = generateEd25519(PASSPHRASE).private;
  await writeFile(join(cwd, 'id_plain'), plainKey, { mode: 0o600 });
  await writeFile(join(cwd, 'id_enc'), encryptedKey, { mode: 0o600 });
  await writeFile(join(cwd, 'id_plain.pub'), generateEd25519().public);
});
after(async () => {
  await fx?.close();
  await rm(cwd, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  stdinRead: boolean;
}

/** Runs `main` in this process with a captured terminal; records whether stdin was read. */
async function cli(args: string[], stdin?: string): Promise<Run> {
  let stdout = '';
  let stderr = '';
  let stdinRead = false;
  const io: Io = {
    stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t),
    readStdin: async () => {
      stdinRead = true;
      return stdin ?? '';
    },
    env: { WARDEN_URL: url, WARDEN_TOKEN: fx.adminToken }, cwd, stdinIsTTY: false,
  };
  return { code: await main(args, io), stdout, stderr, stdinRead };
}

function assertNoSecret(r: Run, ...secrets: string[]): void {
  for (const secret of secrets) {
    for (const line of secret.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'))) {
      assert.ok(!r.stdout.includes(line) && !r.stderr.includes(line), 'a secret was echoed');
    }
    assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret), 'a secret was echoed');
  }
}

describe('warden targets add --type ssh', () => {
  test('with --password-stdin: stored encrypted, bound to the target, never shown', async () => {
    const r = await cli(['targets', 'add', 'web-pw', '--type', 'ssh', '--host', 'web.internal', '--user', 'deploy',
      '--password-stdin', '--label', 'env=prod'], `${PASSWORD}\n`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'target web-pw added (deploy@web.internal:22, ssh, host key recorded at first connection, '
      + 'password stored encrypted)\n');
    assertNoSecret(r, PASSWORD);
    const stored = await fx.store.targets.get('web-pw');
    assert.ok(stored && stored.type === 'ssh');
    assert.deepEqual([stored.host, stored.port, stored.user, stored.hostKeyFingerprint, stored.labels],
      ['web.internal', 22, 'deploy', null, { env: 'prod' }]);
    assert.ok(stored.passwordEnc !== null && !stored.passwordEnc.includes(PASSWORD));
    assert.equal(fx.vault.decrypt(stored.passwordEnc, targetSecretContext('web-pw')), PASSWORD);
    assert.throws(() => fx.vault.decrypt(stored.passwordEnc!, targetSecretContext('other')), 'bound to its target');
  });

  test('with an unencrypted --private-key-file: stdin is not read, the key is vaulted', async () => {
    const r = await cli(['targets', 'add', 'web-key', '--type', 'ssh', '--host', '10.0.0.5', '--port', '2200',
      '--user', 'deploy', '--private-key-file', join(cwd, 'id_plain'), '--host-key-fingerprint', FINGERPRINT, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdinRead, false, 'no passphrase asked for an unencrypted key');
    assertNoSecret(r, plainKey);
    const view = JSON.parse(r.stdout);
    assert.deepEqual([view.type, view.port, view.hasPrivateKey, view.hasPassword, view.hostKeyFingerprint],
      ['ssh', 2200, true, false, FINGERPRINT]);
    assert.equal(view.privateKey, undefined);
    const stored = await fx.store.targets.get('web-key');
    const enc = stored?.secretsEnc?.privateKey;
    assert.ok(enc !== undefined && !enc.includes('OPENSSH'));
    assert.equal(fx.vault.decrypt(enc, targetFieldContext('web-key', 'privateKey')), plainKey);
    assert.equal(stored?.secretsEnc?.passphrase, undefined);
  });

  test('with an encrypted key: the passphrase comes from stdin and is vaulted too', async () => {
    const r = await cli(['targets', 'add', 'web-enc', '--type', 'ssh', '--host', 'h', '--user', 'deploy',
      '--private-key-file', join(cwd, 'id_enc')], `${PASSPHRASE}\n`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdinRead, true);
    assertNoSecret(r, encryptedKey, PASSPHRASE);
    assert.match(r.stdout, /private key stored encrypted/);
    const stored = await fx.store.targets.get('web-enc');
    assert.equal(fx.vault.decrypt(stored!.secretsEnc!.passphrase, targetFieldContext('web-enc', 'passphrase')), PASSPHRASE);
    const wrong = await cli(['targets', 'add', 'web-enc2', '--type', 'ssh', '--host', 'h', '--user', 'deploy',
      '--private-key-file', join(cwd, 'id_enc')], 'not-the-passphrase\n');
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /privateKey: the passphrase does not open the key/);
    assertNoSecret(wrong, encryptedKey);
    assert.equal(await fx.store.targets.get('web-enc2'), undefined);
  });

  test('usage errors: flags of postgres targets, both secrets, a public key, a bad fingerprint', async () => {
    const base = ['targets', 'add', 'bad', '--type', 'ssh', '--host', 'h', '--user', 'u'];
    const usage = await cli([...base, '--database', 'd']);
    assert.deepEqual([usage.code, usage.stderr.split('\n')[0]], [2, 'warden: --database is not for ssh targets']);
    const both = await cli([...base, '--password-stdin', '--private-key-file', join(cwd, 'id_plain')], 'x');
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--password-stdin and --private-key-file exclude each other/);
    const pub = await cli([...base, '--private-key-file', join(cwd, 'id_plain.pub')]);
    assert.equal(pub.code, 1);
    assert.match(pub.stderr, /privateKey: this is a public key: give the private key/);
    const fp = await cli([...base, '--host-key-fingerprint', 'MD5:aa:bb']);
    assert.equal(fp.code, 1);
    assert.match(fp.stderr, /hostKeyFingerprint: must look like SHA256:/);
    const pgFlag = await cli(['targets', 'add', 'bad', '--type', 'postgres', '--host', 'h', '--port', '5432', '--database', 'd',
      '--user', 'u', '--private-key-file', join(cwd, 'id_plain')]);
    assert.deepEqual([pgFlag.code, pgFlag.stderr.split('\n')[0]], [2, 'warden: --private-key-file is not for postgres targets']);
    assert.equal(await fx.store.targets.get('bad'), undefined);
  });
});

describe('warden targets list|show|update|test with ssh targets', () => {
  test('list and show name the secrets only as present', async () => {
    const list = await cli(['targets', 'list']);
    assert.equal(list.code, 0, list.stderr);
    const line = list.stdout.split('\n').find((l) => l.startsWith('web-key '));
    assert.ok(line, list.stdout);
    assert.match(line, /ssh\s+10\.0\.0\.5:2200\s+-\s+deploy\s+-\s+key/);
    const show = await cli(['targets', 'show', 'web-enc']);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^key {6} set \(encrypted\)$/m);
    assert.match(show.stdout, /^host key  not pinned yet/m);
    assertNoSecret(show, encryptedKey, PASSPHRASE);
  });

  test('update: moving the host needs the secrets again; a new key replaces the old one', async () => {
    const moved = await cli(['targets', 'update', 'web-key', '--host', 'elsewhere']);
    assert.equal(moved.code, 1);
    assert.match(moved.stderr, /changing host of target web-key would send its stored secrets to another server/);
    const r = await cli(['targets', 'update', 'web-key', '--host', 'elsewhere', '--private-key-file', join(cwd, 'id_enc')],
      `${PASSPHRASE}\n`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^updated target web-key \(deploy@elsewhere:2200, ssh, host key SHA256:A+, new private key stored encrypted\)\n$/);
    const stored = await fx.store.targets.get('web-key');
    assert.equal(fx.vault.decrypt(stored!.secretsEnc!.privateKey, targetFieldContext('web-key', 'privateKey')), encryptedKey);
    const wrongType = await cli(['targets', 'update', 'web-key', '--database', 'x']);
    assert.equal(wrongType.code, 1);
    assert.match(wrongType.stderr, /database not a field of ssh targets/);
  });

  test('test checks DNS and TCP of an ssh target', async () => {
    const server: Server = createServer((s) => s.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      assert.equal((await cli(['targets', 'add', 'ssh-local', '--type', 'ssh', '--host', '127.0.0.1', '--port', String(port),
        '--user', 'u'])).code, 0);
      const r = await cli(['targets', 'test', 'ssh-local']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^target ssh-local: ok\n {2}dns {4}ok {7}127\.0\.0\.1 is an IP address/);
      assert.match(r.stdout, new RegExp(`tcp {4}ok {7}connected to 127\\.0\\.0\\.1:${port}`));
    } finally {
      server.close();
    }
    const closed = await cli(['targets', 'test', 'ssh-local']);
    assert.equal(closed.code, 1);
    assert.match(closed.stdout, /tcp {4}failed {3}connection refused by 127\.0\.0\.1:/);
  });
});

describe('warden policy test on an ssh target', () => {
  test('explains an SSH decision: the rule, the message and each analysed command', async () => {
    const policy = join(cwd, 'ssh.yaml');
    await writeFile(policy, `kind: Policy
name: ssh-guardrails
rules:
  - name: no-destructive
    targets: ["web-*"]
    match: { classes: [destructive, unknown] }
    effect: deny
    message: destructive commands are blocked on production
  - name: no-shell-for-agents
    targets: ["web-*"]
    subjects: { groups: [agents] }
    match: { classes: [shell] }
    effect: deny
  - name: sql-rule
    targets: ["web-*"]
    match: { tables: [secrets] }
    effect: deny
  - name: admins-reads-approved
    targets: ["web-*"]
    subjects: { groups: [warden-admins] }
    match: { classes: [read] }
    effect: require_approval
    approvers: { groups: [dba] }
`);
    const applied = await cli(['apply', '-f', policy]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stderr, /^warning: rule ssh-guardrails\/sql-rule matches on tables \(postgres\), but the targets it names are ssh targets: it never applies to them$/m);
    // The shell analyser judges it destructive (rm -r outside a temp dir), which the rule denies.
    const r = await cli(['policy', 'test', '--user', 'alice', '--target', 'web-pw', 'rm -rf /var/lib/postgresql']);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    const lines = r.stdout.split('\n');
    assert.match(lines[0], /^deny {2}\(ssh-guardrails\/no-destructive\) {2}classes: destructive,write$/);
    assert.equal(lines[1], '  message: destructive commands are blocked on production');
    assert.ok(lines.some((l) => /^ {2}1\. \S+ {2}exec\b.* {2}rm -rf \/var\/lib\/postgresql$/.test(l)), r.stdout);
    assert.ok(lines.some((l) => l.startsWith('  warning: rule ssh-guardrails/sql-rule matches on tables')), r.stdout);
    const json = JSON.parse((await cli(['policy', 'test', '--user', 'alice', '--target', 'web-pw', 'rm -rf /', '--json'])).stdout);
    assert.deepEqual([json.protocol, json.effect, json.rule], ['ssh', 'deny', 'ssh-guardrails/no-destructive']);
    assert.equal(json.statements[0].kind, 'exec');
    // Without --user the caller is the token's holder (here the admin, in group warden-admins), as the issue's example reads.
    const self = await cli(['policy', 'test', '--target', 'web-pw', 'ls /tmp']);
    assert.equal(self.code, 4, self.stdout + self.stderr);
    assert.match(self.stdout.split('\n')[0], /^require_approval {2}\(ssh-guardrails\/admins-reads-approved\) {2}classes: read$/);
    const asAlice = await cli(['policy', 'test', '--user', 'alice', '--target', 'web-pw', 'ls /tmp']);
    assert.equal(asAlice.code, 3, 'alice is not in group warden-admins: no rule allows it, the default denies');
    const issueExample = await cli(['policy', 'test', '--target', 'web-pw', 'rm -rf /var/lib/postgresql']);
    assert.match(issueExample.stdout.split('\n')[0], /^deny {2}\(ssh-guardrails\/no-destructive\) {2}classes: destructive,write$/);
    // Text that does not parse is unknown, and the parse error is shown.
    const bad = await cli(['policy', 'test', '--user', 'alice', '--target', 'web-pw', 'ls "']);
    assert.ok(bad.stdout.split('\n').some((l) => l.startsWith('  parse error: syntax error')), bad.stdout);
  });
});
