/**
 * The test API server itself, driven by the real `kubectl` directly (no Warden), so the Kubernetes engine's tests
 * can trust it: discovery, tables, watch, describe, apply, scale, delete, logs -f, exec over WebSocket, auth can-i,
 * Secrets, tokens, client certificates, impersonation, SPDY and a 10,000-pod list.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import https from 'node:https';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { startKubeApiServer, type KubeApiServer } from './kube-apiserver.js';
import { openExec } from './kube/exec-client.js';
import { KUBECTL, type KubectlHome } from './kube/kubectl.js';
import { pollUntil } from './poll.js';

let server: KubeApiServer;
let kubectl: KubectlHome;
const LIMITED_TOKEN = 'limited-token-0123456789';
/** Deadlines for effects that follow a kubectl start: generous, as the machine may be busy (not a timing assertion). */
const PATIENT = { timeoutMs: 60_000 };

before(async () => {
  server = await startKubeApiServer({
    logIntervalMs: 50,
    tokens: { [LIMITED_TOKEN]: { user: 'limited', groups: [] } },
    rules: [
      { users: ['system:serviceaccount:warden:warden'], verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
      { users: ['limited'], verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['pods'] },
      { groups: ['devs'], verbs: ['get', 'list'], apiGroups: [''], resources: ['pods'] },
    ],
  });
  kubectl = await server.kubectl();
});
after(async () => { await server?.stop(); });

/** Makes a fresh pod with one container `app` in `default`. */
function pod(name: string, labels: Record<string, string> = {}): void {
  server.put('pods', { metadata: { name, namespace: 'default', labels }, spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] } });
}

/** A raw HTTPS request to the server (for what kubectl cannot send). */
function request(path: string, options: https.RequestOptions = {}, body?: string): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    // host/port/path apart, not a URL string: a URL would resolve `..` before it is sent.
    const req = https.request({ host: server.host, port: server.port, path, ca: server.caCert, ...options,
      headers: { authorization: `Bearer ${server.token}`, ...options.headers } });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.alloc(0) });
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('kubectl get pods prints the real server\'s columns from an as=Table answer', async () => {
  const r = await kubectl.run(['get', 'pods']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\n/);
  assert.match(r.stdout, /^web\s+1\/1\s+Running\s+0\s+\d+s$/m);
  const list = server.requests.find((q) => q.path === '/api/v1/namespaces/default/pods' && q.method === 'GET');
  assert.ok(list, 'the list reached the server');
  assert.match(list.headers.accept, /as=Table;v=v1;g=meta\.k8s\.io/);
  assert.equal(list.headers.authorization, `Bearer ${server.token}`);
  const wide = await kubectl.run(['get', 'pods', '-o', 'wide']);
  assert.match(wide.stdout, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES\n/);
  assert.match(wide.stdout, /^web\s+1\/1\s+Running\s+0\s+\S+\s+10\.244\.\d+\.\d+\s+node-1\s+<none>\s+<none>$/m);
});

test('discovery: kubectl is served aggregated discovery and resolves short names', async () => {
  const r = await kubectl.run(['api-resources']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^pods\s+po\s+v1\s+true\s+Pod$/m);
  assert.match(r.stdout, /^deployments\s+deploy\s+apps\/v1\s+true\s+Deployment$/m);
  const api = server.requests.find((q) => q.path === '/api' && q.status === 200 && /APIGroupDiscoveryList/.test(q.headers.accept ?? ''));
  assert.ok(api, 'kubectl asked /api for aggregated discovery');
  const aggregated = await request('/apis', { headers: { accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json' } });
  assert.equal(aggregated.headers['content-type'], 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
  const legacy = await request('/apis/apps/v1');
  assert.equal((JSON.parse(legacy.body.toString()) as { groupVersion: string }).groupVersion, 'apps/v1');
  const v = await kubectl.run(['version', '-o', 'json']);
  assert.match(v.stdout, /"gitVersion": "v1\.32\.0-warden-test"/);
});

test('kubectl get -w prints a pod created after the watch started', async () => {
  const w = kubectl.spawn(['get', 'pods', '-w']);
  try {
    await w.waitFor(/^web\s/m);
    await pollUntil('the watch to be open', () => server.watches.some((s) => !s.closed) || undefined, PATIENT);
    pod('watched-1');
    await w.waitFor(/^watched-1\s+1\/1\s+Running\s+0\s+\d+s$/m);
  } finally {
    w.child.kill();
  }
  const watchReq = server.requests.find((q) => q.path === '/api/v1/namespaces/default/pods' && /watch=true/.test(q.query));
  assert.match(watchReq!.query, /resourceVersion=\d+/);
  await pollUntil('the watch to end once kubectl left', () => server.watches.every((s) => s.closed) || undefined, PATIENT);
});

test('a raw watch from a resourceVersion sends JSON events in order, and a too old one gets 410 Expired', async () => {
  const rv = server.store.resourceVersion;
  pod('raw-watch');
  const deleted = await request('/api/v1/namespaces/default/pods/raw-watch', { method: 'DELETE' });
  assert.equal(deleted.status, 200);
  const r = await request(`/api/v1/namespaces/default/pods?watch=1&resourceVersion=${rv}&timeoutSeconds=1`);
  const events = r.body.toString().trim().split('\n').map((l) => JSON.parse(l) as { type: string; object: { metadata: { name: string } } });
  assert.deepEqual(events.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED raw-watch', 'DELETED raw-watch']);
  const current = await request('/api/v1/namespaces/default/pods?watch=1&resourceVersion=0&timeoutSeconds=1');
  assert.match(current.body.toString(), /^\{"type":"ADDED","object":\{"metadata":\{"name":"web"/m, 'resourceVersion 0 starts with the current state');
});

test('kubectl describe pod shows the pod and asks for its events', async () => {
  const r = await kubectl.run(['describe', 'pod', 'web']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Name:\s+web$/m);
  assert.match(r.stdout, /^Status:\s+Running$/m);
  assert.match(r.stdout, /^Events:\s+<none>$/m);
  assert.ok(server.requests.some((q) => q.path === '/api/v1/namespaces/default/events' && /fieldSelector=/.test(q.query)));
});

const DEPLOYMENT = (replicas: number, value: string): string => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  labels: {app: api}
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
      - name: app
        image: nginx:1.27
        env:
        - {name: MODE, value: "${value}"}
        - {name: KEEP, value: "yes"}
        ports:
        - containerPort: 80
`;

test('kubectl apply creates then patches a deployment (strategic merge), with server-side field validation', async () => {
  const first = await kubectl.run(['apply', '-f', '-'], { stdin: DEPLOYMENT(2, 'a') });
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /deployment\.apps\/api created/);
  assert.equal(first.stderr, '', 'no warning (OpenAPI v3 satisfied kubectl)');
  const second = await kubectl.run(['apply', '-f', '-'], { stdin: DEPLOYMENT(3, 'b') });
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /deployment\.apps\/api configured/);
  const patch = server.requests.find((q) => q.method === 'PATCH' && q.path === '/apis/apps/v1/namespaces/default/deployments/api');
  assert.equal(patch!.headers['content-type'], 'application/strategic-merge-patch+json');
  assert.match(patch!.query, /fieldValidation=Strict/);
  const stored = server.store.get('deployments', 'default', 'api')!.obj as { spec: { replicas: number; template: { spec: { containers: { env: unknown[] }[] } } } };
  assert.equal(stored.spec.replicas, 3);
  assert.deepEqual(stored.spec.template.spec.containers[0].env, [{ name: 'MODE', value: 'b' }, { name: 'KEEP', value: 'yes' }]);
  const table = await kubectl.run(['get', 'deploy', 'api']);
  assert.match(table.stdout, /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\napi\s+3\/3\s+3\s+3\s+\d+s$/m);
});

test('kubectl scale goes through the scale subresource', async () => {
  server.put('apps/deployments', { metadata: { name: 'scaled', namespace: 'default' }, spec: { replicas: 1, selector: { matchLabels: { app: 's' } },
    template: { metadata: { labels: { app: 's' } }, spec: { containers: [{ name: 'app', image: 'nginx' }] } } } });
  const r = await kubectl.run(['scale', 'deployment', 'scaled', '--replicas=5']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /deployment\.apps\/scaled scaled/);
  assert.ok(server.requests.some((q) => q.path === '/apis/apps/v1/namespaces/default/deployments/scaled/scale'));
  assert.equal((server.store.get('deployments', 'default', 'scaled')!.obj.spec as { replicas: number }).replicas, 5);
  const zero = await kubectl.run(['scale', 'deployment', 'scaled', '--replicas=0']);
  assert.equal(zero.code, 0, zero.stderr);
  const got = await kubectl.run(['get', 'deploy', 'scaled', '--no-headers']);
  assert.match(got.stdout, /^scaled\s+0\/0\s+0\s+0\s/);
});

test('kubectl delete removes the object and its wait ends', async () => {
  pod('doomed');
  const r = await kubectl.run(['delete', 'pod', 'doomed']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /pod "doomed" deleted/);
  assert.equal(server.store.get('pods', 'default', 'doomed'), undefined);
  const again = await kubectl.run(['delete', 'pod', 'doomed']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /Error from server \(NotFound\): pods "doomed" not found/);
  pod('bulk-1', { tier: 'bulk' });
  pod('bulk-2', { tier: 'bulk' });
  const bulk = await kubectl.run(['delete', 'pods', '-l', 'tier=bulk']);
  assert.equal(bulk.code, 0, bulk.stderr);
  assert.equal(server.store.list('pods', 'default').filter((e) => (e.obj.metadata as { name: string }).name.startsWith('bulk-')).length, 0);
});

test('kubectl logs: tail, container choice, and -f streams lines until kubectl goes away', async () => {
  server.put('pods', { metadata: { name: 'two', namespace: 'default' }, spec: { containers: [{ name: 'a', image: 'x' }, { name: 'b', image: 'y' }] } });
  const tail = await kubectl.run(['logs', 'web', '--tail=2']);
  assert.equal(tail.stdout, 'log line 9 of web/app\nlog line 10 of web/app\n');
  const ambiguous = await kubectl.run(['logs', 'two', '--all-containers=false', '-c', 'nope']);
  assert.match(ambiguous.stderr, /container nope is not valid for pod two/);
  server.setLogs('default', 'two', 'b', ['custom first', 'custom second']);
  const b = await kubectl.run(['logs', 'two', '-c', 'b']);
  assert.equal(b.stdout, 'custom first\ncustom second\n');
  const follow = kubectl.spawn(['logs', '-f', 'web', '--tail=1']);
  try {
    await follow.waitFor(/^log line 10 of web\/app\nlog line 11 of web\/app\nlog line 12 of web\/app\n/);
  } finally {
    follow.child.kill();
  }
  const stream = server.logs.find((s) => s.follow && s.pod === 'web')!;
  await pollUntil('the followed log to end once kubectl left', () => stream.closed || undefined, PATIENT);
});

test('kubectl exec -i: stdin reaches cat, stdout and stderr are apart, exit codes come back', async () => {
  const cat = await kubectl.run(['exec', '-i', 'web', '--', 'cat'], { stdin: 'first line\nsecond line\n' });
  assert.equal(cat.code, 0, cat.stderr);
  assert.equal(cat.stdout, 'first line\nsecond line\n');
  const record = server.execs.find((e) => e.command.join(' ') === 'cat')!;
  assert.equal(record.protocol, 'v5.channel.k8s.io');
  assert.equal(record.stdin, 'first line\nsecond line\n');
  assert.equal(record.exitCode, 0);
  const failing = await kubectl.run(['exec', 'web', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
  assert.equal(failing.code, 3);
  assert.equal(failing.stdout, 'out\n');
  assert.match(failing.stderr, /^err\ncommand terminated with exit code 3\n$/);
  const script = await kubectl.run(['exec', '-i', 'web', '--', 'sh'], { stdin: 'echo one\nhostname\nexit 4\n' });
  assert.equal(script.stdout, 'one\nweb\n');
  assert.equal(script.code, 4);
});

test('kubectl exec -it in a terminal: typed lines run and the terminal size is sent on the resize channel', async () => {
  // `script` gives kubectl a pseudo-terminal (it refuses -t without one); stty sets the size kubectl reports. The
  // shell is told to exit only once the size arrived: kubectl may send it after the first keys.
  const child = spawn('script', ['-qec', `stty rows 40 cols 100; '${KUBECTL}' exec -it web -- sh`, '/dev/null'],
    { env: kubectl.env, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  try {
    child.stdin.write('echo typed-here\r');
    const record = await pollUntil('an exec with a terminal and its size', () =>
      server.execs.find((e) => e.tty && e.stdin.includes('typed-here') && e.resizes.length > 0), PATIENT);
    assert.deepEqual(record.resizes[0], { width: 100, height: 40 });
    await pollUntil('the typed line to run', () => (/typed-here[^]*typed-here/.test(output) ? true : undefined), PATIENT);
    child.stdin.end('exit 5\r');
    await exited;
    assert.equal(record.exitCode, 5);
  } finally {
    child.kill();
  }
});

test('exec over raw WebSockets: v4 and v5 framing, stdin half-close on v5, resize recorded, unknown subprotocols refused', async () => {
  const base = { url: server.url, ca: server.caCert, headers: { authorization: `Bearer ${server.token}` } };
  const v4 = await openExec({ ...base, path: '/api/v1/namespaces/default/pods/web/exec?command=sh&stdin=true&stdout=true&stderr=true',
    protocols: ['v4.channel.k8s.io'] });
  assert.equal(v4.protocol, 'v4.channel.k8s.io');
  v4.resize(120, 30);
  v4.stdin('echo via-v4\necho oops >&2\nexit 7\n');
  const v4End = await v4.done;
  assert.equal(v4.stdout(), 'via-v4\n');
  assert.equal(v4.stderr(), 'oops\n');
  assert.equal(v4End.status?.reason, 'NonZeroExitCode');
  assert.deepEqual(v4End.status?.details?.causes, [{ reason: 'ExitCode', message: '7' }]);
  const v4Record = server.execs.find((e) => e.protocol === 'v4.channel.k8s.io')!;
  assert.deepEqual(v4Record.resizes, [{ width: 120, height: 30 }]);
  const v5 = await openExec({ ...base, path: '/api/v1/namespaces/default/pods/web/exec?command=cat&stdin=true&stdout=true' });
  assert.equal(v5.protocol, 'v5.channel.k8s.io');
  v5.stdin('half');
  v5.stdin('-closed\n');
  v5.closeStdin();
  const v5End = await v5.done;
  assert.equal(v5.stdout(), 'half-closed\n');
  assert.equal(v5End.status?.status, 'Success');
  await assert.rejects(openExec({ ...base, path: '/api/v1/namespaces/default/pods/web/exec?command=true', protocols: ['channel.k8s.io'] }),
    (err: { statusCode: number }) => err.statusCode === 400);
  await assert.rejects(openExec({ ...base, path: '/api/v1/namespaces/default/pods/nope/exec?command=true' }),
    (err: { statusCode: number; body: string }) => err.statusCode === 404 && /pods \\"nope\\" not found/.test(err.body));
  const sleeper = await openExec({ ...base, path: '/api/v1/namespaces/default/pods/web/exec?command=sleep&command=600&stdout=true' });
  sleeper.close();
  await sleeper.done;
  await pollUntil('the server to see the client leave', () => server.execs.find((e) => e.command[0] === 'sleep' && e.closed), PATIENT);
});

test('port-forward over WebSocket: each port announced on its data and error channels, bytes echoed back', async () => {
  const ws = new WebSocket(`wss://127.0.0.1:${server.port}/api/v1/namespaces/default/pods/web/portforward?ports=8080,9090`,
    ['v4.channel.k8s.io'], { ca: server.caCert, headers: { authorization: `Bearer ${server.token}` } });
  const frames: Buffer[] = [];
  ws.on('message', (d: Buffer) => frames.push(d));
  await new Promise((resolve, reject) => ws.on('open', resolve).on('error', reject));
  await pollUntil('the four port announcements', () => (frames.length >= 4 ? true : undefined), PATIENT);
  assert.deepEqual(frames.slice(0, 4).map((f) => [f[0], f.readUInt16LE(1)]), [[0, 8080], [1, 8080], [2, 9090], [3, 9090]]);
  ws.send(Buffer.concat([Buffer.from([2]), Buffer.from('GET / HTTP/1.0\r\n\r\n')]));
  await pollUntil('the echo', () => frames.find((f, i) => i >= 4 && f[0] === 2), PATIENT);
  assert.equal(frames.find((f, i) => i >= 4 && f[0] === 2)!.subarray(1).toString(), 'GET / HTTP/1.0\r\n\r\n');
  ws.close();
  const record = await pollUntil('the forward to close', () => server.forwards.find((f) => f.closed), PATIENT);
  assert.deepEqual(record.ports, [8080, 9090]);
  assert.deepEqual(record.received, { 9090: 'GET / HTTP/1.0\r\n\r\n' });
  // kubectl's SPDY-over-WebSocket tunnel is refused (kubectl then falls back to SPDY); `ws` will not offer that name.
  const tunnel = await request('/api/v1/namespaces/default/pods/web/portforward?ports=8080', { headers: {
    connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
    'sec-websocket-protocol': 'SPDY/3.1+portforward.k8s.io' } });
  assert.equal(tunnel.status, 400);
});

test('kubectl attach -i reaches the container\'s shell', async () => {
  const r = await kubectl.run(['attach', '-i', 'web'], { stdin: 'echo attached\nexit 2\n' });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stdout, /^attached$/m);
  assert.ok(server.execs.some((e) => e.kind === 'attach' && e.exitCode === 2));
});

test('kubectl auth can-i answers from the rules (access reviews arrive as protobuf)', async () => {
  const yes = await kubectl.run(['auth', 'can-i', 'delete', 'pods']);
  assert.equal(yes.stdout.trim(), 'yes');
  assert.equal(yes.code, 0);
  const limited = await server.kubectl({ token: LIMITED_TOKEN });
  const no = await limited.run(['auth', 'can-i', 'delete', 'pods']);
  assert.equal(no.stdout.trim(), 'no');
  assert.equal(no.code, 1);
  const listOnly = await limited.run(['auth', 'can-i', 'list', 'pods']);
  assert.equal(listOnly.stdout.trim(), 'yes');
  const list = await limited.run(['auth', 'can-i', '--list']);
  assert.match(list.stdout, /^pods\s+\[\]\s+\[\]\s+\[get list watch\]$/m);
  const denied = await limited.run(['delete', 'pod', 'web']);
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /Error from server \(Forbidden\): pods "web" is forbidden: User "limited" cannot delete resource "pods" in API group "" in the namespace "default"/);
  assert.ok(server.store.get('pods', 'default', 'web'), 'a denied delete deleted nothing');
});

test('Secrets: kubectl create secret (protobuf body) and get -o yaml show the real data', async () => {
  const created = await kubectl.run(['create', 'secret', 'generic', 'db', '--from-literal=password=hunter2']);
  assert.equal(created.code, 0, created.stderr);
  const yaml = await kubectl.run(['get', 'secret', 'db', '-o', 'yaml']);
  assert.match(yaml.stdout, /^ {2}password: aHVudGVyMg==$/m);
  assert.match(yaml.stdout, /^type: Opaque$/m);
  const jsonpath = await kubectl.run(['get', 'secret', 'db', '-o', 'jsonpath={.data.password}']);
  assert.equal(Buffer.from(jsonpath.stdout, 'base64').toString(), 'hunter2');
  const proto = await request('/api/v1/namespaces/default/secrets/db', { headers: { accept: 'application/vnd.kubernetes.protobuf, application/json' } });
  assert.equal(proto.headers['content-type'], 'application/vnd.kubernetes.protobuf');
  assert.ok(proto.body.subarray(0, 4).equals(Buffer.from('k8s\0', 'latin1')));
  assert.ok(proto.body.includes(Buffer.from('hunter2')), 'the protobuf Secret carries the raw value');
  const protoList = await request('/api/v1/namespaces/default/secrets', { headers: { accept: 'application/vnd.kubernetes.protobuf' } });
  assert.equal(protoList.headers['content-type'], 'application/vnd.kubernetes.protobuf');
  assert.ok(protoList.body.includes(Buffer.from('hunter2')));
  const protoWatch = await request('/api/v1/namespaces/default/secrets?watch=1&timeoutSeconds=1',
    { headers: { accept: 'application/vnd.kubernetes.protobuf;stream=watch, application/json' } });
  assert.equal(protoWatch.headers['content-type'], 'application/vnd.kubernetes.protobuf;stream=watch');
  const frameLength = protoWatch.body.readUInt32BE(0);
  const frame = protoWatch.body.subarray(4, 4 + frameLength);
  assert.ok(frame.includes(Buffer.from('ADDED')) && frame.includes(Buffer.from('hunter2')), 'a framed ADDED event holds the Secret');
  // An aliasing path is resolved (as a normalising hop would) and recorded raw: a gateway forwarding it is caught.
  const alias = await request('/api/v1/namespaces/default/pods/../secrets/db');
  assert.equal(alias.status, 200);
  assert.match(alias.body.toString(), /"kind":"Secret"/);
  assert.ok(server.requests.some((q) => q.path === '/api/v1/namespaces/default/pods/../secrets/db'));
  assert.equal((await request('/api/v1/namespaces/default/pods/%zz')).status, 404);
});

test('a wrong token is refused with 401, and the request is recorded with what it carried', async () => {
  const wrong = await server.kubectl({ token: 'not-the-token' });
  const r = await wrong.run(['get', 'pods']);
  assert.equal(r.code, 1);
  // kubectl's words for any 401 during discovery, as against a real server.
  assert.match(r.stderr, /error: You must be logged in to the server \(the server has asked for the client to provide credentials\)/);
  const seen = server.requests.filter((q) => q.headers.authorization === 'Bearer not-the-token');
  assert.ok(seen.length > 0);
  assert.ok(seen.every((q) => q.status === 401 && q.user === undefined));
  // A second Authorization line is recorded (Node's req.headers would keep only the first); the first one counts.
  await request('/api/v1/namespaces/default/pods', { headers: { authorization: [`Bearer ${server.token}`, 'Bearer second'] as never } });
  const twice = server.requests.find((q) => q.rawHeaders.filter(([n]) => n === 'authorization').length === 2)!;
  assert.equal(twice.headers.authorization, `Bearer ${server.token}, Bearer second`);
  assert.equal(twice.status, 200);
  const none = await request('/api/v1/namespaces/default/pods', { headers: { authorization: '' } });
  assert.equal(none.status, 401);
  assert.equal((JSON.parse(none.body.toString()) as { reason: string }).reason, 'Unauthorized');
});

test('a client certificate signed by the server\'s CA authenticates as its CN and O', async () => {
  const { cert, key } = await server.mintClientCertificate('cert-user', ['devs']);
  const home = await server.kubectl({ clientCert: cert, clientKey: key });
  const r = await home.run(['get', 'pods', '-o', 'name']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^pod\/web$/m);
  assert.ok(server.requests.some((q) => q.user === 'cert-user' && q.headers.authorization === undefined));
  const denied = await home.run(['delete', 'pod', 'web']);
  assert.match(denied.stderr, /User "cert-user" cannot delete resource "pods"/);
});

test('impersonation headers are recorded and honoured only for a caller allowed to impersonate', async () => {
  const r = await kubectl.run(['get', 'pods', '--as=alice', '--as-group=devs', '-o', 'name']);
  assert.equal(r.code, 0, r.stderr);
  const seen = [...server.requests].reverse().find((q) => q.impersonation['impersonate-user'] !== undefined)!;
  assert.deepEqual(seen.impersonation, { 'impersonate-user': ['alice'], 'impersonate-group': ['devs'] });
  assert.equal(seen.user, 'alice');
  const limited = await server.kubectl({ token: LIMITED_TOKEN });
  const refused = await limited.run(['get', 'pods', '--as=alice']);
  assert.equal(refused.code, 1);
  // kubectl's discovery does not decode the Status (as against a real server); the raw answer carries the message.
  assert.match(refused.stderr, /Error from server \(Forbidden\)/);
  assert.ok(server.requests.some((q) => q.user === undefined && q.status === 403 && q.impersonation['impersonate-user']?.[0] === 'alice'));
  const raw = await request('/api/v1/namespaces/default/pods', { headers: { authorization: `Bearer ${LIMITED_TOKEN}`, 'impersonate-user': 'alice' } });
  assert.equal(raw.status, 403);
  assert.match(raw.body.toString(), /users \\"alice\\" is forbidden: User \\"limited\\" cannot impersonate resource \\"users\\" in API group \\"\\" at the cluster scope/);
});

test('an exec upgrade to SPDY gets the real server\'s 101 and then nothing: no session runs', async () => {
  const before = server.execs.length;
  const r = await request('/api/v1/namespaces/default/pods/web/exec?command=sh&stdin=true&stdout=true', {
    method: 'POST', headers: { connection: 'Upgrade', upgrade: 'SPDY/3.1', 'x-stream-protocol-version': 'v4.channel.k8s.io' },
  });
  assert.equal(r.status, 101);
  assert.equal(r.headers.upgrade, 'SPDY/3.1');
  assert.equal(r.headers['x-stream-protocol-version'], 'v4.channel.k8s.io');
  assert.equal(server.execs.length, before);
  assert.ok(server.requests.some((q) => q.upgrade === 'SPDY/3.1' && q.status === 101));
  const plain = await request('/api/v1/namespaces/default/pods/web/exec?command=sh', { method: 'POST' });
  assert.equal(plain.status, 400);
});

test('10,000 seeded pods list through kubectl\'s paging and in one raw request', async () => {
  server.seedPods('bulk', 10_000, 'load');
  const r = await kubectl.run(['get', 'pods', '-n', 'bulk', '--no-headers']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').length, 10_000);
  const pages = server.requests.filter((q) => q.path === '/api/v1/namespaces/bulk/pods');
  assert.equal(pages.length, 20, 'kubectl pages by 500');
  const raw = await request('/api/v1/namespaces/bulk/pods');
  const list = JSON.parse(raw.body.toString()) as { kind: string; items: unknown[] };
  assert.equal(list.kind, 'PodList');
  assert.equal(list.items.length, 10_000);
  const selected = await request(`/api/v1/namespaces/bulk/pods?fieldSelector=${encodeURIComponent('metadata.name=load-42')}`);
  assert.equal((JSON.parse(selected.body.toString()) as { items: unknown[] }).items.length, 1);
});
