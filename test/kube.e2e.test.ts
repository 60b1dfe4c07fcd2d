/**
 * The Kubernetes engine end to end: the real `kubectl` through a real `warden start` to the test API server of
 * test/harness/kube-apiserver.ts (no real API server can run on these machines). Covers reads, watches, writes,
 * logs, access reviews, Secret masking, denials in kubectl's own words, a request held for approval, revocation of
 * a followed log, caller impersonation, and what reaches the cluster (never the Warden token, never a denied
 * request).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startKubeApiServer, type KubeApiServer } from './harness/kube-apiserver.js';
import { kubectlHome, type KubectlHome } from './harness/kube/kubectl.js';
import { freePort } from './harness/ports.js';
import { startWarden, type WardenProcess } from './harness/warden.js';

const POLICY = `kind: Policy
name: kube
rules:
  - name: keep-namespaces
    targets: [prod-k8s]
    match: { verbs: [delete], resources: [core/namespaces] }
    effect: deny
    message: deleting namespaces is not allowed
  - name: held-deletes
    targets: [prod-k8s]
    match: { verbs: [delete], namespaces: [held] }
    effect: require_approval
    approvers: { users: [olga] }
    timeout: 2m
  - name: no-impersonation
    targets: [prod-k8s]
    match: { classes: [privilege] }
    effect: deny
    message: impersonation needs a rule for class privilege
  - name: sre-reads-secrets
    targets: [prod-k8s]
    subjects: { users: [sam] }
    match: { classes: [secrets] }
    effect: allow
  - name: everything-else
    targets: [prod-k8s]
    effect: allow
  - name: approvers
    subjects: { users: [olga] }
    effect: allow
  - name: mia-sees-no-cards
    subjects: { users: [mia] }
    mask:
      - detectors: [card]
        strategy: redact
`;

let api: KubeApiServer;
let warden: WardenProcess;
let home: KubectlHome;
const tokens: Record<string, string> = {};

async function token(user: string): Promise<string> {
  const r = await warden.cli(['tokens', 'create', '--user', user, '--ttl', '1h']);
  if (r.code !== 0) throw new Error(`tokens create failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** A kubectl home whose kubeconfig points at Warden's listener for `target`, with `userToken` as its bearer token. */
async function throughWarden(userToken: string, target = 'prod-k8s'): Promise<KubectlHome> {
  return kubectlHome({ server: `https://127.0.0.1:${warden.ports.kubernetes}/k8s/${target}`,
    caCert: await fs.readFile(path.join(warden.dataDir, 'tls.crt'), 'utf8'), credential: { token: userToken } });
}

/** One HTTPS request to Warden's Kubernetes listener (what kubectl cannot send: no credential, raw paths). */
function request(pathAndQuery: string, ca: string, headers: Record<string, string> = {}, method = 'GET',
  agent?: https.Agent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: warden.ports.kubernetes, path: pathAndQuery, method, ca, headers, agent }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function kubectl(args: string[], h = home, stdin?: string) {
  return h.run(['--request-timeout=60s', ...args], stdin === undefined ? {} : { stdin });
}

before(async () => {
  api = await startKubeApiServer({ logIntervalMs: 100 });
  warden = await startWarden();
  const added = await warden.cli(['targets', 'add', 'prod-k8s', '--type', 'kubernetes', '--server', api.url,
    '--ca-file', api.caFile, '--token-stdin'], { stdin: `${api.token}\n` });
  assert.equal(added.code, 0, added.stderr);
  await warden.applyPolicy(POLICY);
  for (const user of ['alice', 'sam', 'olga', 'mia']) tokens[user] = await token(user);
  home = await throughWarden(tokens.alice);
});

after(async () => {
  await home?.remove();
  await warden?.stop();
  await api?.stop();
});

describe('kubectl through Warden', () => {
  test('get, describe and auth can-i work as against the cluster, with Warden\'s credential upstream', async () => {
    const pods = await kubectl(['get', 'pods']);
    assert.equal(pods.code, 0, pods.stderr);
    assert.match(pods.stdout, /^NAME\s+READY\s+STATUS/m);
    assert.match(pods.stdout, /^web\s/m);
    const described = await kubectl(['describe', 'pod', 'web']);
    assert.equal(described.code, 0, described.stderr);
    assert.match(described.stdout, /^Name:\s+web$/m);
    const canI = await kubectl(['auth', 'can-i', 'list', 'pods']);
    assert.equal(canI.stdout.trim(), 'yes', canI.stderr);
    const seen = api.requests.filter((r) => r.path.startsWith('/api'));
    assert.ok(seen.length > 0);
    for (const r of api.requests) {
      assert.equal(r.headers.authorization, `Bearer ${api.token}`, `${r.method} ${r.path} carried Warden's credential`);
      for (const t of Object.values(tokens)) assert.ok(!JSON.stringify(r).includes(t), 'a Warden token reached the cluster');
    }
  });

  test('apply -f creates, a second apply changes, delete removes', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kube-apply-'));
    const file = path.join(dir, 'cm.yaml');
    await fs.writeFile(file, `apiVersion: apps/v1
kind: Deployment
metadata: { name: shop, namespace: default }
spec:
  replicas: 2
  selector: { matchLabels: { app: shop } }
  template:
    metadata: { labels: { app: shop } }
    spec: { containers: [{ name: shop, image: nginx }] }
`);
    const applied = await kubectl(['apply', '-f', file]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /deployment.apps\/shop created/);
    assert.equal((api.store.get('deployments', 'default', 'shop')?.obj.spec as { replicas?: number } | undefined)?.replicas, 2);
    const deleted = await kubectl(['delete', 'deployment', 'shop']);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.match(deleted.stdout, /deployment.apps "shop" deleted/);
    assert.equal(api.store.get('deployments', 'default', 'shop'), undefined);
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('get -w relays events as they happen', async () => {
    const watching = home.spawn(['get', 'pods', '-w', '--request-timeout=0']);
    try {
      await watching.waitFor(/^web\s/m);
      api.put('pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'late', namespace: 'default' },
        spec: { containers: [{ name: 'app', image: 'busybox' }] } });
      await watching.waitFor(/^late\s/m);
    } finally {
      watching.child.kill('SIGTERM');
      await watching.result;
    }
  });

  test('logs -f streams lines as they are written', async () => {
    const following = home.spawn(['logs', '-f', 'web']);
    try {
      const first = await following.waitFor(/line (\d+)/);
      const n = Number(first[1]);
      await following.waitFor(new RegExp(`line ${n + 2}\\b`));
    } finally {
      following.child.kill('SIGTERM');
      await following.result;
    }
  });
});

describe('Secrets', () => {
  before(() => {
    api.put('secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'default' }, type: 'Opaque',
      data: { password: Buffer.from('hunter2-very-secret').toString('base64') } });
  });

  test('get secret -o yaml, -o json, jsonpath and a list show masked values', async () => {
    const secretB64 = Buffer.from('hunter2-very-secret').toString('base64');
    for (const args of [['get', 'secret', 'db', '-o', 'yaml'], ['get', 'secrets', '-o', 'json'],
      ['get', 'secret', 'db', '-o', 'jsonpath={.data.password}'], ['get', 'secrets', '-w', '--request-timeout=1s', '-o', 'json']]) {
      const r = await kubectl(args);
      assert.ok(!r.stdout.includes(secretB64) && !r.stdout.includes('hunter2'), `${args.join(' ')} showed the value`);
      if (!args.includes('-w')) assert.equal(r.code, 0, r.stderr);
    }
    const jsonpath = await kubectl(['get', 'secret', 'db', '-o', 'jsonpath={.data.password}']);
    assert.notEqual(jsonpath.stdout, '');
    const table = await kubectl(['get', 'secrets']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^db\s+Opaque\s+1\s/m);
  });

  test('a created Secret is masked in the answer and in the recorded body', async () => {
    // kubectl apply sends JSON, which Warden reads (kubectl create secret sends protobuf: an unread body, judged as
    // the worst it could be, class privilege, which this policy denies).
    const value = 'created-secret-value-42';
    const manifest = JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'api', namespace: 'default' },
      data: { key: Buffer.from(value).toString('base64') } });
    const r = await kubectl(['apply', '-f', '-', '-o', 'json'], home, manifest);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).data.key, 'W1JFREFDVEVEXQ==');
    assert.equal(Buffer.from(String((api.store.get('secrets', 'default', 'api')?.obj.data as Record<string, string>).key), 'base64')
      .toString(), value, 'the cluster got the real value');
    const list = await warden.cli(['sessions', 'list', '--subject', 'alice', '--json']);
    const shown = await Promise.all((JSON.parse(list.stdout) as { id: string }[]).map((s) => warden.cli(['sessions', 'show', s.id, '--json'])));
    const recorded = shown.map((s) => s.stdout).join('\n');
    assert.match(recorded, /POST \/api\/v1\/namespaces\/default\/secrets/);
    assert.match(recorded, /W1JFREFDVEVEXQ==/);
    assert.ok(!recorded.includes(Buffer.from(value).toString('base64')) && !recorded.includes(value), 'the recording holds the value');
  });

  test('a rule that names class secrets shows them', async () => {
    const sam = await throughWarden(tokens.sam);
    try {
      const r = await kubectl(['get', 'secret', 'db', '-o', 'jsonpath={.data.password}'], sam);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, Buffer.from('hunter2-very-secret').toString('base64'));
    } finally {
      await sam.remove();
    }
  });
});

describe('decisions', () => {
  test('a denied delete reads like an RBAC error and never reaches the cluster', async () => {
    api.put('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'keep' } });
    const before = api.requests.length;
    const r = await kubectl(['delete', 'namespace', 'keep']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Error from server \(Forbidden\): .*deleting namespaces is not allowed/);
    assert.ok(!api.requests.slice(before).some((q) => q.method === 'DELETE'), 'the denied request reached the cluster');
    assert.ok(api.store.get('namespaces', '', 'keep'));
  });

  test('caller impersonation (--as) is refused unless a rule allows class privilege', async () => {
    const before = api.requests.length;
    const r = await kubectl(['get', 'pods', '--as', 'system:admin']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Forbidden.*impersonation needs a rule for class privilege/);
    assert.ok(!api.requests.slice(before).some((q) => Object.keys(q.impersonation).length > 0));
  });

  test('a held delete waits for approval, runs once, and names the approval', async () => {
    api.put('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'held' } });
    api.put('pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'victim', namespace: 'held' },
      spec: { containers: [{ name: 'app', image: 'busybox' }] } });
    const running = kubectl(['delete', 'pod', 'victim', '-n', 'held', '--wait=false']);
    let id: string | undefined;
    for (let i = 0; i < 300 && id === undefined; i++) {
      const r = await warden.cli(['approvals', 'list', '--json'], { env: { WARDEN_TOKEN: tokens.olga } });
      id = (JSON.parse(r.stdout) as { id: string; statement: string }[]).find((p) => p.statement.includes('/pods/victim'))?.id;
      if (id === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(id, 'no approval request appeared');
    assert.ok(!api.requests.some((q) => q.method === 'DELETE' && q.path.endsWith('/victim')), 'ran before approval');
    const approved = await warden.cli(['approvals', 'approve', id], { env: { WARDEN_TOKEN: tokens.olga } });
    assert.equal(approved.code, 0, approved.stderr);
    const r = await running;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`Warning: warden: run after approval ${id}`));
    assert.equal(api.requests.filter((q) => q.method === 'DELETE' && q.path.endsWith('/victim')).length, 1);
  });
});

describe('revocation and recording', () => {
  test('revoking the token ends a logs -f within a second, and the session lists its requests', async () => {
    const carolToken = await token('carol');
    const carol = await throughWarden(carolToken);
    try {
      const following = carol.spawn(['logs', '-f', 'web']);
      await following.waitFor(/line \d+/);
      const revoked = await warden.cli(['tokens', 'revoke', carolToken]);
      assert.equal(revoked.code, 0, revoked.stderr);
      const ended = await Promise.race([following.result.then(() => true),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 1500))]);
      if (!ended) following.child.kill('SIGKILL');
      assert.ok(ended, 'logs -f still ran after revocation');
      const list = await warden.cli(['sessions', 'list', '--subject', 'carol', '--json']);
      const sessions = JSON.parse(list.stdout) as { id: string; endReason: string | null }[];
      const shown = await Promise.all(sessions.map((s) => warden.cli(['sessions', 'show', s.id])));
      const log = shown.find((s) => /GET \/api\/v1\/namespaces\/default\/pods\/web\/log/.test(s.stdout));
      assert.ok(log, shown.map((s) => s.stdout).join('\n'));
      assert.match(log.stdout, /kube\.request .*verb=log.*resource=core\/pods\/log.*namespace=default.*name=web/);
      assert.match(log.stdout, /Warden token revoked/);
    } finally {
      await carol.remove();
    }
  });

  test('a caller without a Warden token gets a 401 Status, an unknown target a 404 naming it', async () => {
    const ca = await fs.readFile(path.join(warden.dataDir, 'tls.crt'), 'utf8');
    const before = api.requests.length;
    const anonymous = await request(`/k8s/prod-k8s/api/v1/namespaces/default/pods`, ca);
    assert.equal(anonymous.status, 401);
    assert.deepEqual({ ...JSON.parse(anonymous.body), message: undefined },
      { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: undefined, reason: 'Unauthorized', code: 401 });
    assert.equal(api.requests.length, before, 'an unauthenticated request reached the cluster');
    const nowhere = await request('/k8s/nowhere/api/v1/namespaces/default/pods', ca, { authorization: `Bearer ${tokens.alice}` });
    assert.equal(nowhere.status, 404);
    assert.match(JSON.parse(nowhere.body).message, /target "nowhere" does not exist/);
  });
});

describe('hostile callers', () => {
  let ca: string;
  before(async () => { ca = await fs.readFile(path.join(warden.dataDir, 'tls.crt'), 'utf8'); });

  test('connections that never authenticate are capped per source and closed before any TLS handshake', async () => {
    // The listener admits at most 100 connections per source in their login phase (as the other listeners do);
    // without the cap, every one of these would sit until the 30 s handshake timeout.
    const sockets: net.Socket[] = [];
    const closedEarly: number[] = [];
    try {
      for (let i = 0; i < 110; i++) {
        const socket = net.connect({ host: '127.0.0.1', port: warden.ports.kubernetes });
        socket.on('error', () => {});
        socket.once('close', () => closedEarly.push(i));
        await new Promise<void>((resolve) => { socket.once('connect', () => resolve()); socket.once('close', () => resolve()); });
        sockets.push(socket);
      }
      for (let i = 0; i < 100 && closedEarly.length < 10; i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(closedEarly.length >= 10, `only ${closedEarly.length} of 110 idle connections were refused`);
      assert.ok(closedEarly.every((i) => i >= 90), `a connection within the cap was closed: ${closedEarly.join(',')}`);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
    // Once they are gone, callers are served again.
    await new Promise((r) => setTimeout(r, 200));
    const served = await request('/k8s/prod-k8s/api/v1/namespaces/default/pods', ca);
    assert.equal(served.status, 401);
  });

  test('aliasing paths, repeated query keys, method overrides and bodies on reads are refused before any decision', async () => {
    const auth = { authorization: `Bearer ${tokens.alice}` };
    const before = api.requests.length;
    const cases: Array<[string, Record<string, string>, string?]> = [
      ['/k8s/prod-k8s/api/v1/namespaces/default/pods/../secrets', auth],
      ['/k8s/prod-k8s/api/v1/namespaces/default/secrets%2Fdb', auth],
      ['/k8s/prod-k8s/api//v1/namespaces/default/secrets', auth],
      ['/k8s/prod-k8s/api/v1/namespaces/default/pods?watch=false&watch=true', auth],
      ['/k8s/prod-k8s/api/v1/namespaces/default/pods?watch=1;x=2', auth],
      ['/k8s/prod-k8s/api/v1/namespaces/default/pods/web', { ...auth, 'x-http-method-override': 'DELETE' }],
    ];
    for (const [url, headers] of cases) {
      const r = await request(url, ca, headers);
      assert.equal(r.status, 400, `${url}: ${r.body}`);
      assert.equal(JSON.parse(r.body).kind, 'Status');
    }
    const withBody = await new Promise<number>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: warden.ports.kubernetes, method: 'GET', ca,
        path: '/k8s/prod-k8s/api/v1/namespaces/default/pods', headers: { ...auth, 'content-type': 'application/json' } },
      (res) => { res.resume(); resolve(res.statusCode ?? 0); });
      req.on('error', reject);
      req.end('{"spec":{}}');
    });
    assert.equal(withBody, 400);
    assert.equal(api.requests.length, before, 'a refused request reached the cluster');
  });

  test('one connection carries one caller: another token on it is refused', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await request('/k8s/prod-k8s/api/v1/namespaces/default/pods', ca, { authorization: `Bearer ${tokens.alice}` }, 'GET', agent);
      assert.equal(first.status, 200, first.body);
      const second = await request('/k8s/prod-k8s/api/v1/namespaces/default/secrets/db', ca,
        { authorization: `Bearer ${tokens.sam}` }, 'GET', agent);
      assert.equal(second.status, 401);
      assert.match(JSON.parse(second.body).message, /opened with another Warden token/);
    } finally {
      agent.destroy();
    }
  });

  test('content masking rules apply to logs', async () => {
    api.setLogs('default', 'web', 'app', ['paid with 4111 1111 1111 1111 today', 'nothing to see']);
    const mia = await throughWarden(tokens.mia);
    try {
      const r = await kubectl(['logs', 'web'], mia);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /paid with \[REDACTED\] today/);
      assert.match(r.stdout, /nothing to see/);
      const plain = await kubectl(['logs', 'web']);
      assert.match(plain.stdout, /4111 1111 1111 1111/, 'the rule is mia\'s only');
    } finally {
      await mia.remove();
    }
  });
});

describe('a dead, slow or untrusted API server', () => {
  test('is a clear Status, and warden targets test says which step failed', async () => {
    const closed = await freePort();
    for (const [name, args, secret] of [['dead-k8s', ['--server', `https://127.0.0.1:${closed}`, '--ca-file', api.caFile], api.token],
      ['untrusted-k8s', ['--server', api.url], api.token], ['stale-k8s', ['--server', api.url, '--ca-file', api.caFile], 'a-stale-token']] as const) {
      const added = await warden.cli(['targets', 'add', name, '--type', 'kubernetes', ...args, '--token-stdin'], { stdin: secret });
      assert.equal(added.code, 0, added.stderr);
    }
    await warden.applyPolicy(POLICY.replace('name: everything-else\n    targets: [prod-k8s]', 'name: everything-else\n    targets: ["*-k8s"]'));
    const dead = await throughWarden(tokens.alice, 'dead-k8s');
    try {
      // kubectl shows its own words for a 503 during discovery; the Status itself names the cause.
      const d = await kubectl(['get', 'pods'], dead);
      assert.notEqual(d.code, 0);
      assert.match(d.stderr, /the server is currently unable to handle the request/);
      const ca = await fs.readFile(path.join(warden.dataDir, 'tls.crt'), 'utf8');
      const auth = { authorization: `Bearer ${tokens.alice}` };
      const raw = await request('/k8s/dead-k8s/api/v1/namespaces/default/pods', ca, auth);
      assert.equal(raw.status, 503);
      assert.match(JSON.parse(raw.body).message, /the API server of target "dead-k8s" refused the connection/);
      const u = await request('/k8s/untrusted-k8s/api/v1/namespaces/default/pods', ca, auth);
      assert.equal(u.status, 503);
      assert.match(JSON.parse(u.body).message, /target "untrusted-k8s" presented a TLS certificate Warden does not trust/);
      assert.ok(!raw.body.includes(api.token) && !u.body.includes(api.token) && !d.stderr.includes(api.token));
      // The cluster's 401 is about Warden's credential: the caller reads that, not a 401 of its own.
      const stale = await request('/k8s/stale-k8s/api/v1/namespaces/default/pods', ca, auth);
      assert.equal(stale.status, 502);
      assert.match(JSON.parse(stale.body).message, /refused the credential Warden holds for it \(401\)/);
      assert.ok(!stale.body.includes('a-stale-token'));
      // Moving a target elsewhere needs its credential again; a new token fixes it for new connections.
      const moved = await warden.cli(['targets', 'update', 'stale-k8s', '--type', 'kubernetes', '--server', 'https://elsewhere.example:6443']);
      assert.equal(moved.code, 1);
      assert.match(moved.stderr, /changing server of target stale-k8s would send its stored credential to another server/);
      const renewed = await warden.cli(['targets', 'update', 'stale-k8s', '--type', 'kubernetes', '--token-stdin'], { stdin: api.token });
      assert.equal(renewed.code, 0, renewed.stderr);
      const fresh = await request('/k8s/stale-k8s/api/v1/namespaces/default/pods', ca, auth, 'GET', new https.Agent({ keepAlive: false }));
      assert.equal(fresh.status, 200, fresh.body);
      const ok = await warden.cli(['targets', 'test', 'prod-k8s']);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.match(ok.stdout, /login\s+ok\s+GET \/version answered with the stored credential/);
      const bad = await warden.cli(['targets', 'test', 'untrusted-k8s']);
      assert.equal(bad.code, 1);
      assert.match(bad.stdout, /tls\s+failed\s+.*TLS certificate Warden does not trust/);
      assert.ok(!bad.stdout.includes(api.token));
    } finally {
      await dead.remove();
    }
  });
});
