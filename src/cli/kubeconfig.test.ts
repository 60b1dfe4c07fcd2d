import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { parse } from 'yaml';
import { execCredential } from './login.js';
import { kubeconfigFor, kubeconfigPath, mergeKubeconfig, type KubeconfigEntry } from './kubeconfig.js';
import { runCaptured } from './test-io.js';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const entry = (user: KubeconfigEntry['user']): KubeconfigEntry => ({ name: 'warden-prod', server: 'https://127.0.0.1:8443/k8s/prod', caPem: PEM, user });

test('a kubeconfig has the cluster with Warden\'s CA, a context and the token or exec-plugin user', () => {
  const withToken = kubeconfigFor(entry({ token: 'wdn_t' })) as { clusters: Array<{ cluster: Record<string, string> }>;
    users: Array<{ user: Record<string, unknown> }>; 'current-context': string };
  assert.equal(withToken.clusters[0].cluster.server, 'https://127.0.0.1:8443/k8s/prod');
  assert.equal(Buffer.from(withToken.clusters[0].cluster['certificate-authority-data'], 'base64').toString(), PEM);
  assert.deepEqual(withToken.users[0].user, { token: 'wdn_t' });
  assert.equal(withToken['current-context'], 'warden-prod');
  const withExec = kubeconfigFor(entry({ command: 'warden', args: ['login', 'token', '--kube'] })) as { users: Array<{ user: { exec: Record<string, unknown> } }> };
  assert.deepEqual(withExec.users[0].user.exec, { apiVersion: 'client.authentication.k8s.io/v1', command: 'warden',
    args: ['login', 'token', '--kube'], interactiveMode: 'Never', provideClusterInfo: false });
});

test('merging keeps every other entry and field, replaces the same name and switches context', () => {
  const existing = `apiVersion: v1
kind: Config
preferences: {}
clusters:
- name: other
  cluster: {server: "https://other:6443"}
- name: warden-prod
  cluster: {server: "https://stale:1/k8s/prod"}
contexts:
- name: other
  context: {cluster: other, user: other}
users:
- name: other
  user: {token: keep-me}
current-context: other
`;
  const merged = parse(mergeKubeconfig(existing, entry({ token: 'new' }))) as Record<string, Array<{ name: string; cluster?: { server: string }; user?: unknown }>> & { 'current-context': string; preferences: unknown };
  assert.deepEqual(merged.clusters.map((c) => c.name), ['other', 'warden-prod']);
  assert.equal(merged.clusters[1].cluster?.server, 'https://127.0.0.1:8443/k8s/prod');
  assert.deepEqual(merged.users.map((u) => u.name), ['other', 'warden-prod']);
  assert.deepEqual(merged.users[0].user, { token: 'keep-me' });
  assert.deepEqual(merged.preferences, {});
  assert.equal(merged['current-context'], 'warden-prod');
  assert.equal((parse(mergeKubeconfig('', entry({ token: 'x' }))) as { kind: string }).kind, 'Config');
  assert.throws(() => mergeKubeconfig('clusters: [', entry({ token: 'x' })), /not valid YAML/);
});

test('--merge writes the first existing $KUBECONFIG file (else the last) with mode 0600', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-kubeconfig-'));
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  assert.equal(kubeconfigPath({ env: { KUBECONFIG: `${a}:${b}` }, cwd: dir }), b);
  writeFileSync(a, 'apiVersion: v1\nkind: Config\n');
  assert.equal(kubeconfigPath({ env: { KUBECONFIG: `${a}:${b}` }, cwd: dir }), a);
  assert.equal(kubeconfigPath({ env: { HOME: dir }, cwd: dir }), join(dir, '.kube', 'config'));
  const data = join(dir, 'data');
  mkdirSync(data);
  writeFileSync(join(data, 'tls.crt'), (await generate([{ name: 'commonName', value: 'warden' }], { keyType: 'ec', curve: 'P-256' })).cert);
  const run = await runCaptured(['kubeconfig', 'prod', '--server', 'https://gw.example:9443', '--token', 'wdn_x', '--merge'],
    { env: { HOME: dir, WARDEN_DATA_DIR: data, PATH: '' }, cwd: dir });
  assert.equal(run.code, 0, run.stderr);
  const file = join(dir, '.kube', 'config');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const written = parse(readFileSync(file, 'utf8')) as { clusters: Array<{ cluster: { server: string } }> };
  assert.equal(written.clusters[0].cluster.server, 'https://gw.example:9443/k8s/prod');
});

test('the command refuses a missing CA and a non-https server, never printing the token', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-kubeconfig-'));
  const noCa = await runCaptured(['kubeconfig', 'prod', '--server', 'https://gw:1', '--token', 'wdn_secret'],
    { env: { HOME: dir, WARDEN_DATA_DIR: join(dir, 'none') }, cwd: dir });
  assert.equal(noCa.code, 1);
  assert.match(noCa.stderr, /--ca-file/);
  assert.doesNotMatch(noCa.stderr + noCa.stdout, /wdn_secret/);
  const http = await runCaptured(['kubeconfig', 'prod', '--server', 'http://gw:1'], { env: { HOME: dir }, cwd: dir });
  assert.equal(http.code, 1);
  assert.match(http.stderr, /https/);
});

test('the exec credential expires when the CLI would refresh the token, never in the past of its end', () => {
  const now = Date.parse('2026-12-03T12:00:00Z');
  assert.deepEqual(execCredential('wdn_t', '2026-12-03T13:00:00.000Z', now), { apiVersion: 'client.authentication.k8s.io/v1',
    kind: 'ExecCredential', status: { token: 'wdn_t', expirationTimestamp: '2026-12-03T12:55:00Z' } });
  const soon = execCredential('t', '2026-12-03T12:02:00Z', now) as { status: { expirationTimestamp: string } };
  assert.equal(soon.status.expirationTimestamp, '2026-12-03T12:01:00Z');
});
