/**
 * End to end (issue 13): `kubectl exec` through Warden over WebSocket against the test API server, with the real
 * kubectl and a kubeconfig written by `warden kubeconfig` used as is (token and exec-plugin forms): stdin and exit
 * codes, a terminal with its size and a resize recorded, SPDY refused (and kubectl's SPDY fallback after a denied
 * WebSocket told the denial), an exec held for approval and run once approved, revocation ending a live exec, the
 * cast replay matching what the caller saw, and a card number split over two stdout frames masked.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { startKubeApiServer, type KubeApiServer } from './harness/kube-apiserver.js';
import { startKubectl, KUBECTL } from './harness/kube/kubectl.js';
import { runProcess, type ProcessResult } from './harness/process.js';
import { startWarden, type WardenProcess } from './harness/warden.js';

const POLICY = `kind: Policy
name: kube-exec
rules:
  - name: locked-exec
    targets: [kt]
    match: { verbs: [exec], namespaces: [locked] }
    effect: deny
    message: no exec in the locked namespace
  - name: held-exec
    targets: [kt]
    match: { verbs: [exec], namespaces: [held] }
    effect: require_approval
    approvers: { groups: [ops] }
    timeout: 2m
  - name: everything-else
    targets: [kt]
    match: { classes: [read, write, exec, network, unknown, privilege] }
    effect: allow
  - name: cards
    targets: [kt]
    mask:
      - detectors: [card]
        strategy: redact
`;

let api: KubeApiServer;
let warden: WardenProcess;
let work: string;
const tokens: Record<string, string> = {};
/** The kubeconfig `warden kubeconfig kt --token <alice>` printed. */
let kubeconfig: string;

async function token(user: string, ...extra: string[]): Promise<string> {
  const r = await warden.cli(['tokens', 'create', '--user', user, ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

/** kubectl's environment: its own HOME and cache, the given kubeconfig. */
function kubectlEnv(file: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, KUBECONFIG: file, HOME: work, KUBECACHEDIR: path.join(work, 'cache'), ...extra };
}

function kubectl(args: string[], options: { stdin?: string; file?: string; env?: Record<string, string> } = {}): Promise<ProcessResult> {
  return runProcess(KUBECTL, args, { env: kubectlEnv(options.file ?? kubeconfig, options.env), stdin: options.stdin });
}

before(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'warden-kube-exec-'));
  api = await startKubeApiServer();
  for (const ns of ['held', 'locked']) {
    api.put('namespaces', { metadata: { name: ns } });
    api.put('pods', { metadata: { name: 'web', namespace: ns }, spec: { containers: [{ name: 'app', image: 'app' }] } });
  }
  warden = await startWarden();
  const res = await fetch(`${warden.url}/api/targets`, { method: 'POST',
    headers: { authorization: `Bearer ${warden.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'kt', type: 'kubernetes', server: api.url, caCert: api.caCert, token: api.token }) });
  assert.equal(res.status, 201, await res.text());
  await warden.applyPolicy(POLICY);
  tokens.alice = await token('alice');
  tokens.olga = await token('olga', '--groups', 'ops');
  const printed = await warden.cli(['kubeconfig', 'kt', '--token', tokens.alice], { env: { WARDEN_DATA_DIR: warden.dataDir } });
  assert.equal(printed.code, 0, printed.stderr);
  kubeconfig = path.join(work, 'kubeconfig');
  await fs.writeFile(kubeconfig, printed.stdout, { mode: 0o600 });
});

after(async () => {
  await warden?.stop();
  await api?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

/** The newest session of `user` on kt whose recording has a terminal, as `warden sessions replay` writes it. */
async function replayOf(user: string): Promise<string> {
  const list = await warden.cli(['sessions', 'list', '--target', 'kt', '--subject', user, '-o', 'json']);
  assert.equal(list.code, 0, list.stderr);
  for (const s of JSON.parse(list.stdout) as Array<{ id: string }>) {
    const cast = await warden.cli(['sessions', 'replay', s.id]);
    if (cast.code === 0) return cast.stdout;
  }
  throw new Error(`no terminal recording for ${user}`);
}

/** The output a cast holds, in order. */
function castOutput(cast: string): string {
  return cast.trim().split('\n').slice(1).map((l) => JSON.parse(l) as [number, string, string])
    .filter((e) => e[1] === 'o').map((e) => e[2]).join('');
}

describe('exec over WebSocket', () => {
  test('exec -i: stdin reaches the program, stdout and stderr come back, exit codes pass through', async () => {
    const before = api.execs.length;
    const r = await kubectl(['exec', '-i', 'web', '--', 'sh', '-c', 'cat; echo done; echo oops >&2; exit 3'], { stdin: 'line one\nline two\n' });
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, 'line one\nline two\ndone\n');
    assert.match(r.stderr, /oops/);
    const exec = api.execs[before];
    assert.equal(exec.protocol, 'v5.channel.k8s.io');
    assert.equal(exec.stdin, 'line one\nline two\n');
    const ok = await kubectl(['exec', 'web', '--', 'true']);
    assert.equal(ok.code, 0, ok.stderr);
    // What reached the cluster carried Warden's credential for the target, never the caller's Warden token.
    const upgrade = api.requests.filter((q) => q.upgrade !== undefined).at(-1)!;
    assert.equal(upgrade.headers.authorization, `Bearer ${api.token}`);
  });

  test('attach -i reaches the container\'s process the same way', async () => {
    const before = api.execs.length;
    const r = await kubectl(['attach', '-i', 'web'], { stdin: 'echo attached\nexit 4\n' });
    assert.match(r.stdout, /attached\n/);
    assert.equal(r.code, 4, r.stderr);
    assert.equal(api.execs[before].kind, 'attach');
  });

  test('a card number split over two stdout frames is masked, and the cast replays exactly what the caller saw', async () => {
    const carol = await token('carol');
    const file = path.join(work, 'carol.kubeconfig');
    const printed = await warden.cli(['kubeconfig', 'kt', '--token', carol], { env: { WARDEN_DATA_DIR: warden.dataDir } });
    await fs.writeFile(file, printed.stdout, { mode: 0o600 });
    const r = await kubectl(['exec', 'web', '--', 'sh', '-c', 'echo -n card 4111 1111; sleep 0.3; echo " 1111 1111 end"; echo plain'], { file });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'card [REDACTED] end\nplain\n');
    const cast = await replayOf('carol');
    assert.equal(castOutput(cast), r.stdout);
    assert.doesNotMatch(cast, /4111/);
  });

  test('exec -it: a terminal, its size and a resize recorded; the replay shows the session', async () => {
    const dave = await token('dave');
    const file = path.join(work, 'dave.kubeconfig');
    const printed = await warden.cli(['kubeconfig', 'kt', '--token', dave], { env: { WARDEN_DATA_DIR: warden.dataDir } });
    await fs.writeFile(file, printed.stdout, { mode: 0o600 });
    // `script` gives kubectl a terminal of 100x30; once the exec runs, the test says go and the script resizes it
    // to 120x40 (SIGWINCH), then ends kubectl when told done.
    const go = path.join(work, 'go');
    const done = path.join(work, 'done');
    const wait = (f: string) => `while [ ! -e ${f} ]; do sleep 0.1; done`;
    const inner = `stty cols 100 rows 30; ${KUBECTL} exec -it web -- sh < /dev/tty & ${wait(go)}; stty cols 120 rows 40; `
      + `kill -WINCH $!; ${wait(done)}; kill $!; wait $!`;
    const before = api.execs.length;
    const running = runProcess('script', ['-q', '-c', inner, '/dev/null'], { env: kubectlEnv(file), stdin: '' });
    const child = await waitForExec(before);
    await until(() => child.resizes.length >= 1, 'the first size reached the cluster');
    await fs.writeFile(go, '');
    await until(() => child.resizes.some((r) => r.width === 120), 'the resize reached the cluster');
    await fs.writeFile(done, '');
    await running;
    assert.deepEqual(child.resizes[0], { width: 100, height: 30 });
    assert.equal(child.tty, true);
    const cast = await replayOf('dave').catch(() => '');
    assert.notEqual(cast, '');
    const header = JSON.parse(cast.split('\n')[0]) as { width: number; height: number };
    assert.deepEqual([header.width, header.height], [100, 30]);
    assert.ok(cast.split('\n').some((l) => l.includes('"r","120x40"')));
  });
});

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 600 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(check(), `never: ${what}`);
}

async function waitForExec(before: number): Promise<KubeApiServer['execs'][number]> {
  await until(() => api.execs.length > before, 'the exec reached the cluster');
  return api.execs[before];
}

describe('SPDY', () => {
  test('kubectl forced to SPDY is refused with the version it needs, and nothing reaches the cluster', async () => {
    const before = api.requests.length;
    const r = await kubectl(['exec', 'web', '--', 'true'], { env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' } });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /kubectl 1\.30 or later/);
    assert.ok(!api.requests.slice(before).some((q) => q.upgrade !== undefined));
  });

  test('a raw SPDY upgrade gets a Status 400 naming kubectl 1.30', async () => {
    const ca = await fs.readFile(path.join(warden.dataDir, 'tls.crt'), 'utf8');
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: warden.ports.kubernetes, ca, method: 'POST',
        path: '/k8s/kt/api/v1/namespaces/default/pods/web/exec?command=true&stdout=true',
        headers: { authorization: `Bearer ${tokens.alice}`, connection: 'Upgrade', upgrade: 'SPDY/3.1', 'x-stream-protocol-version': 'v4.channel.k8s.io' } });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('upgrade', () => reject(new Error('Warden switched protocols')));
      req.on('error', reject);
      req.end();
    });
    assert.equal(answer.status, 400);
    const status = JSON.parse(answer.body) as { kind: string; message: string };
    assert.equal(status.kind, 'Status');
    assert.match(status.message, /kubectl 1\.30 or later/);
  });

  test('kubectl port-forward (SPDY tunnelled over WebSocket) is refused with the reason, and nothing reaches the cluster', async () => {
    const before = api.requests.length;
    const r = await kubectl(['port-forward', 'pod/web', '0:80']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /SPDY/);
    assert.ok(!api.requests.slice(before).some((q) => q.upgrade !== undefined));
  });

  test('a denied exec says why, although kubectl falls back to SPDY after the refused WebSocket', async () => {
    const before = api.execs.length;
    const r = await kubectl(['exec', '-n', 'locked', 'web', '--', 'true']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /no exec in the locked namespace/);
    assert.equal(api.execs.length, before);
  });
});

describe('approval and revocation', () => {
  const pendingExec = async (): Promise<string> => {
    for (let i = 0; i < 300; i++) {
      const r = await warden.cli(['approvals', 'list', '--json'], { env: { WARDEN_TOKEN: tokens.olga } });
      const found = (JSON.parse(r.stdout) as { id: string; statement: string }[]).find((p) => p.statement.includes('/namespaces/held/pods/web/exec'));
      if (found) return found.id;
      await new Promise((r2) => setTimeout(r2, 100));
    }
    throw new Error('no approval request for the exec');
  };

  test('an exec held for approval waits, then runs exactly once when approved', async () => {
    const before = api.execs.length;
    const running = kubectl(['exec', '-n', 'held', 'web', '--', 'sh', '-c', 'echo approved-run']);
    const id = await pendingExec();
    assert.equal(api.execs.length, before, 'nothing ran before the approval');
    const approved = await warden.cli(['approvals', 'approve', id], { env: { WARDEN_TOKEN: tokens.olga } });
    assert.equal(approved.code, 0, approved.stderr);
    const r = await running;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'approved-run\n');
    assert.equal(api.execs.length, before + 1);
  });

  test('revoking the token ends a live exec, telling the caller why', async (t) => {
    const erin = await token('erin');
    const file = path.join(work, 'erin.kubeconfig');
    const printed = await warden.cli(['kubeconfig', 'kt', '--token', erin], { env: { WARDEN_DATA_DIR: warden.dataDir } });
    await fs.writeFile(file, printed.stdout, { mode: 0o600 });
    const before = api.execs.length;
    const live = startKubectl(['exec', '-i', 'web', '--', 'cat'], kubectlEnv(file));
    live.child.stdin!.write('ping\n');
    await live.waitFor(/ping/);
    const revoked = await warden.cli(['tokens', 'revoke', erin]);
    assert.equal(revoked.code, 0, revoked.stderr);
    const revokedAt = performance.now();
    const r = await live.result;
    t.diagnostic(`kubectl ended ${Math.round(performance.now() - revokedAt)} ms after the revocation answered (not asserted)`);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /session ended: .*revoked/);
    await until(() => api.execs[before].closed, 'the cluster side closed');
  });
});

describe('port-forward over the channel protocol', () => {
  test('a client library\'s v4.channel.k8s.io port forward is relayed and recorded with its port and bytes', async () => {
    const gina = await token('gina');
    const ca = await fs.readFile(path.join(warden.dataDir, 'tls.crt'), 'utf8');
    const ws = new WebSocket(`wss://127.0.0.1:${warden.ports.kubernetes}/k8s/kt/api/v1/namespaces/default/pods/web/portforward?ports=8080`,
      ['v4.channel.k8s.io'], { ca, headers: { authorization: `Bearer ${gina}` } });
    const got: Buffer[] = [];
    ws.on('message', (d: Buffer) => got.push(d));
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    assert.equal(ws.protocol, 'v4.channel.k8s.io');
    ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('hello')]));
    const data = () => Buffer.concat(got.filter((m) => m[0] === 0).map((m) => m.subarray(1)));
    await until(() => data().subarray(2).toString() === 'hello', 'the echo came back');
    assert.equal(data().readUInt16LE(0), 8080);
    ws.close(1000);
    await new Promise((resolve) => ws.once('close', resolve));
    const list = await warden.cli(['sessions', 'list', '--target', 'kt', '--subject', 'gina', '-o', 'json']);
    type End = { ports: Array<{ port: number; bytesIn: number; bytesOut: number }> };
    let end: End | undefined;
    for (let i = 0; i < 100 && end === undefined; i++) {
      for (const s of JSON.parse(list.stdout) as Array<{ id: string }>) {
        const shown = await warden.cli(['sessions', 'show', s.id, '-o', 'json']);
        const events = (JSON.parse(shown.stdout) as { events: Array<{ type: string; data: End }> }).events;
        end ??= events.find((e) => e.type === 'kubernetes.portforward.end')?.data;
      }
      if (end === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(end?.ports.map((p) => [p.port, p.bytesIn, p.bytesOut]), [[8080, 5, 5]]);
  });
});

describe('warden kubeconfig with the exec credential plugin', () => {
  test('kubectl runs `warden login token --kube` and uses the stored sign-in\'s token', async () => {
    const config = path.join(work, 'xdg');
    await fs.mkdir(path.join(config, 'warden'), { recursive: true, mode: 0o700 });
    const frank = await token('frank');
    await fs.writeFile(path.join(config, 'warden', 'credentials.json'), JSON.stringify({ version: 1, url: warden.url,
      provider: 'test', issuer: 'https://issuer.invalid', clientId: 'warden-cli', scopes: [], token: frank,
      expiresAt: new Date(Date.now() + 3600_000).toISOString(), user: 'frank', groups: [], refreshToken: null }), { mode: 0o600 });
    const env = { XDG_CONFIG_HOME: config, WARDEN_DATA_DIR: warden.dataDir, WARDEN_TOKEN: '' };
    const printed = await warden.cli(['kubeconfig', 'kt', '--context-name', 'via-plugin'], { env: { ...env, WARDEN_TOKEN: frank } });
    assert.equal(printed.code, 0, printed.stderr);
    assert.match(printed.stdout, /client\.authentication\.k8s\.io\/v1/);
    assert.doesNotMatch(printed.stdout, new RegExp(frank));
    const file = path.join(work, 'plugin.kubeconfig');
    await fs.writeFile(file, printed.stdout, { mode: 0o600 });
    const r = await kubectl(['exec', 'web', '--', 'whoami'], { file, env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'root\n');
    const list = await warden.cli(['sessions', 'list', '--target', 'kt', '--subject', 'frank', '-o', 'json']);
    assert.ok((JSON.parse(list.stdout) as unknown[]).length > 0, 'the sessions are frank\'s');
  });
});
