/**
 * The kill switch with SSH logins (kill-switch.ts with ssh-keys.ts and ssh-ca.ts), on a real SQLite store and real
 * keys: removing a registered key ends the live sessions opened with it (and only those), the sweep ends a key's
 * sessions when its owner is disabled or the key is deleted behind Warden's back, leaves healthy ones alone, and
 * without the key service wired in ends them anyway (fail closed). A certificate session ends with its token.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { generateKey, type KeyPair } from '../../test/harness/ssh-keygen.js';
import { SshCertificateAuthority } from '../identity/ssh-ca.js';
import { SshKeys } from '../identity/ssh-keys.js';
import { TokenService } from '../identity/tokens.js';
import { openStore } from '../store/index.js';
import type { Store } from '../store/types.js';
import { KillSwitch } from './kill-switch.js';
import { SessionRegistry, type LiveSession } from './registry.js';
import type { Subject, Target } from './types.js';

const TARGET = { name: 'web-1', type: 'postgres', host: '127.0.0.1', port: 22, database: '', user: 'deploy', tls: 'disable',
  ca: null, labels: {} } as Target;
const at = new Date().toISOString();
const blobOf = (text: string) => Buffer.from(text.trim().split(/\s+/)[1], 'base64');

let dir: string;
let store: Store;
let tokens: TokenService;
let sshKeys: SshKeys;
let ca: SshCertificateAuthority;
const keys: KeyPair[] = [];
let n = 0;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'warden-kill-ssh-'));
  store = await openStore({ kind: 'sqlite', path: path.join(dir, 'warden.db') });
  tokens = await TokenService.create({ store, dataDir: dir });
  sshKeys = new SshKeys({ store });
  ca = await SshCertificateAuthority.loadOrCreate(dir, { store, tokens });
  for (let i = 0; i < 6; i++) keys.push(await generateKey(dir, `id_${i}`, 'ed25519'));
  for (const name of ['kim', 'lee', 'max']) {
    await store.users.recordLogin({ name, email: null, displayName: null, groups: ['dev'], provider: 'corp', at });
  }
});
after(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

function setup(wired = true) {
  const registry = new SessionRegistry();
  const reasons = new Map<string, string>();
  const logger = pino({ level: 'silent' }, new Writable({ write(_c, _e, done) { done(); } }));
  const killSwitch = new KillSwitch({ registry, tokens, store, logger, record: () => undefined, ...(wired ? { sshKeys } : {}) });
  const add = (subject: Subject): string => {
    const id = `ssh-${++n}`;
    const live: LiveSession & { ending: boolean } = {
      session: { id, protocol: 'postgres', subject, target: TARGET, database: '', clientAddress: '127.0.0.1:1', startedAt: Date.now() },
      ending: false,
      async terminate(reason: string) {
        reasons.set(id, reason);
        live.ending = true;
      },
    } as LiveSession & { ending: boolean };
    registry.add(live);
    return id;
  };
  return { killSwitch, add, reasons };
}

/** Registers key `i` to `user` and logs in with it. */
async function keyLogin(user: string, i: number) {
  const record = await sshKeys.add({ owner: { kind: 'user', name: user }, publicKey: keys[i].publicText });
  return { record, subject: await sshKeys.authenticate(user, 'ssh-ed25519', blobOf(keys[i].publicText)) };
}

describe('the kill switch and SSH logins', () => {
  it('removing a key ends the sessions opened with it, and only those', async () => {
    const { killSwitch, add, reasons } = setup();
    const one = await keyLogin('kim', 0);
    const two = await keyLogin('kim', 1);
    const s1 = add(one.subject);
    const s2 = add(one.subject);
    const s3 = add(two.subject);
    const result = await killSwitch.removeSshKey(one.record.id);
    assert.deepEqual(result.sessions.sort(), [s1, s2].sort());
    assert.equal(reasons.get(s1), 'the SSH key this session was opened with was removed');
    assert.equal(reasons.has(s3), false);
    assert.equal(await store.sshKeys.get(one.record.id), undefined);
    await assert.rejects(killSwitch.removeSshKey(one.record.id), /not found/);
  });

  it('the sweep keeps healthy key sessions, and ends them once the owner is disabled or the key deleted in the store', async () => {
    const { killSwitch, add, reasons } = setup();
    const lee = await keyLogin('lee', 2);
    const max = await keyLogin('max', 3);
    const sLee = add(lee.subject);
    const sMax = add(max.subject);
    await killSwitch.sweep();
    assert.deepEqual([...reasons.keys()], [], 'nothing ends while key and owner are in good standing');
    await store.users.setDisabled('lee', at, at);
    await store.sshKeys.remove(max.record.id);
    await killSwitch.sweep();
    assert.equal(reasons.get(sLee), 'user "lee" is disabled');
    assert.equal(reasons.get(sMax), 'the SSH key of this session was removed');
    await store.users.setDisabled('lee', null, at);
  });

  it('without the key service the sweep ends key sessions rather than trusting them (fail closed)', async () => {
    const { killSwitch, add, reasons } = setup(false);
    const s = add((await keyLogin('kim', 4)).subject);
    await killSwitch.sweep();
    assert.ok(reasons.has(s));
  });

  it('a certificate session ends when its token is revoked', async () => {
    const { killSwitch, add, reasons } = setup();
    const issued = await tokens.issue({ subject: 'kim', ttlSeconds: 600 });
    const cert = await ca.issue(await tokens.verify(issued.token), keys[5].publicText);
    const s = add(await ca.authenticate('kim', 'ssh-ed25519-cert-v01@openssh.com', blobOf(cert.certificate)));
    await killSwitch.sweep();
    assert.equal(reasons.has(s), false);
    const { sessions } = await killSwitch.revokeToken(issued.id);
    assert.deepEqual(sessions, [s]);
    assert.equal(reasons.get(s), 'Warden token revoked');
  });
});
