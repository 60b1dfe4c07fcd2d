/**
 * `warden targets add --type kubernetes` without a server: the body built from flags and from kubeconfig files
 * (inline data, files relative to the kubeconfig, token files), and the refusals (credential plugins,
 * auth-providers, skipped TLS verification, two credentials, none).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { stringify } from 'yaml';
import type { Io } from './common.js';
import { fromKubeconfig, kubeAddBody, kubeUpdateBody } from './targets-kubernetes.js';

/** An Io whose stdin holds `stdin`. */
function testIo(o: { stdin?: string } = {}): { io: Io } {
  return { io: { stdout: () => {}, stderr: () => {}, readStdin: async () => o.stdin ?? '', env: {}, cwd: process.cwd(), stdinIsTTY: false } };
}

const dir = mkdtempSync(path.join(tmpdir(), 'warden-kubeconfig-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function kubeconfig(name: string, user: object, cluster: object = { server: 'https://k8s:6443', 'certificate-authority-data': Buffer.from('CA PEM').toString('base64') }): string {
  const file = path.join(dir, name);
  writeFileSync(file, stringify({ apiVersion: 'v1', kind: 'Config', 'current-context': 'main',
    clusters: [{ name: 'c', cluster }], users: [{ name: 'u', user }],
    contexts: [{ name: 'main', context: { cluster: 'c', user: 'u' } }, { name: 'other', context: { cluster: 'c', user: 'u' } }] }));
  return file;
}

describe('kubeconfig import', () => {
  it('reads the server, CA and a token, inline or from a token file', () => {
    assert.deepEqual(fromKubeconfig(kubeconfig('a.yaml', { token: 'sa-token' }), undefined),
      { server: 'https://k8s:6443', caCert: 'CA PEM', token: 'sa-token' });
    writeFileSync(path.join(dir, 'token.txt'), 'file-token\n');
    assert.equal(fromKubeconfig(kubeconfig('b.yaml', { tokenFile: 'token.txt' }), 'other').token, 'file-token');
  });

  it('reads a client certificate and key from data or files, and the TLS server name', () => {
    writeFileSync(path.join(dir, 'client.crt'), 'CERT PEM');
    writeFileSync(path.join(dir, 'client.key'), 'KEY PEM');
    writeFileSync(path.join(dir, 'ca.crt'), 'FILE CA');
    const body = fromKubeconfig(kubeconfig('c.yaml', { 'client-certificate': 'client.crt', 'client-key-data': Buffer.from('KEY2').toString('base64') },
      { server: 'https://10.0.0.1:6443', 'certificate-authority': 'ca.crt', 'tls-server-name': 'kubernetes' }), undefined);
    assert.deepEqual(body, { server: 'https://10.0.0.1:6443', caCert: 'FILE CA', tlsServerName: 'kubernetes', clientCert: 'CERT PEM', clientKey: 'KEY2' });
  });

  it('refuses credential plugins, auth-providers, skipped TLS verification and users without a credential', () => {
    assert.throws(() => fromKubeconfig(kubeconfig('d.yaml', { exec: { command: 'aws' } }), undefined), /credential plugin \(exec\).*--token-stdin/);
    assert.throws(() => fromKubeconfig(kubeconfig('e.yaml', { 'auth-provider': { name: 'oidc' } }), undefined), /auth-provider/);
    assert.throws(() => fromKubeconfig(kubeconfig('f.yaml', { token: 't' }, { server: 'https://k', 'insecure-skip-tls-verify': true }), undefined),
      /skips TLS verification/);
    assert.throws(() => fromKubeconfig(kubeconfig('g.yaml', { username: 'admin' }), undefined), /no token and no client certificate/);
    assert.throws(() => fromKubeconfig(kubeconfig('h.yaml', { token: 't' }), 'missing'), /no context named "missing"/);
  });
});

describe('kubeAddBody', () => {
  it('takes the token from stdin and the flags over the kubeconfig', async () => {
    const { io } = testIo({ stdin: '  sa-token\n' });
    assert.deepEqual(await kubeAddBody('prod', { server: 'https://k8s:6443', 'token-stdin': true, impersonate: true, label: ['env=prod'] }, io),
      { name: 'prod', type: 'kubernetes', server: 'https://k8s:6443', impersonate: true, labels: { env: 'prod' }, token: 'sa-token' });
    const file = kubeconfig('i.yaml', { token: 'from-file' });
    const body = await kubeAddBody('dev', { kubeconfig: file, server: 'https://elsewhere:6443' }, testIo().io);
    assert.equal(body.server, 'https://elsewhere:6443');
    assert.equal(body.token, 'from-file');
  });

  it('needs exactly one credential and a server', async () => {
    await assert.rejects(kubeAddBody('x', { server: 'https://k' }, testIo().io), /give the credential Warden uses/);
    await assert.rejects(kubeAddBody('x', { 'token-stdin': true }, testIo({ stdin: 't' }).io), /missing --server/);
    await assert.rejects(kubeAddBody('x', { server: 'https://k', 'token-stdin': true, kubeconfig: 'k' }, testIo().io), /exclude each other/);
    await assert.rejects(kubeAddBody('x', { server: 'https://k', 'client-cert': 'c' }, testIo().io), /--client-cert needs --client-key/);
  });
});

describe('kubeUpdateBody', () => {
  it('changes only what is given, by the API\'s field names', async () => {
    assert.deepEqual(await kubeUpdateBody({ server: 'https://new:6443', 'no-ca': true, 'no-impersonate': true }, testIo().io),
      { server: 'https://new:6443', caCert: null, impersonate: false });
    assert.deepEqual(await kubeUpdateBody({ 'token-stdin': true }, testIo({ stdin: 'new-token\n' }).io), { token: 'new-token' });
    await assert.rejects(kubeUpdateBody({}, testIo().io), /nothing to change/);
    await assert.rejects(kubeUpdateBody({ 'token-stdin': true, 'no-token': true }, testIo().io), /exclude each other/);
    await assert.rejects(kubeUpdateBody({ kubeconfig: 'k' }, testIo().io), /--kubeconfig is for targets add/);
  });
});
