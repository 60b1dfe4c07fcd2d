/**
 * The test HTTP upstream itself, driven directly (no Warden) by undici, Node's fetch, `ws` and curl, so the HTTP
 * engine's tests can trust it: every route, every credential kind (and its refusal), mTLS, and `received`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { Agent, fetch, request } from 'undici';
import WebSocket from 'ws';
import { pollUntil } from './poll.js';
import { startHttpUpstream, type HttpUpstream, type UpstreamAuth } from './http-upstream.js';

const execFileAsync = promisify(execFile);
let up: HttpUpstream;
let agent: Agent;
const auth = (): Record<string, string> => ({ authorization: `Bearer ${up.auth.secret}` });

before(async () => {
  up = await startHttpUpstream({ auth: { kind: 'bearer' } });
  agent = new Agent({ connect: { ca: up.ca } });
});
after(async () => {
  await agent?.close();
  await up?.close();
});

async function get(p: string, headers: Record<string, string> = auth(), method = 'GET', body?: string) {
  const r = await request(`${up.url}${p}`, { dispatcher: agent, headers, method: method as 'GET', body });
  return { status: r.statusCode, headers: r.headers, body: Buffer.from(await r.body.arrayBuffer()) };
}

test('echo returns what arrived, and received records it with the credential', async () => {
  const r = await get('/echo/a/b?x=1&y=2', { ...auth(), 'x-trace': 't1', 'content-type': 'application/json' }, 'POST', '{"role":"admin"}');
  assert.equal(r.status, 200);
  const echo = JSON.parse(r.body.toString());
  assert.deepEqual({ method: echo.method, path: echo.path, query: echo.query, body: echo.body },
    { method: 'POST', path: '/echo/a/b', query: 'x=1&y=2', body: '{"role":"admin"}' });
  assert.equal(echo.headers['x-trace'], 't1');
  const last = up.received.at(-1)!;
  assert.equal(last.url, '/echo/a/b?x=1&y=2');
  assert.equal(last.headers.authorization, `Bearer ${up.auth.secret}`);
  assert.equal(last.body.toString(), '{"role":"admin"}');
});

test('every checked route refuses a missing, wrong or repeated credential; the leaky routes do not check', async () => {
  for (const p of ['/echo/x', '/json/customers', '/json/large?mb=0.01', '/gzip/customers', '/br/customers', '/text/customers',
    '/binary', '/sse?n=1', '/slow?ms=1', '/hang', '/reset', '/status/204', '/nowhere']) {
    assert.equal((await get(p, {})).status, 401, `${p} without a credential`);
    assert.equal((await get(p, { authorization: 'Bearer wrong' })).status, 401, `${p} with a wrong one`);
  }
  const twice = await request(`${up.url}/echo/x`, { dispatcher: agent, headers: [
    'authorization', `Bearer ${up.auth.secret}`, 'authorization', `Bearer ${up.auth.secret}`] });
  await twice.body.dump();
  assert.equal(twice.statusCode, 401, 'a repeated Authorization is refused');
  assert.deepEqual(up.received.at(-1)!.headers.authorization, [`Bearer ${up.auth.secret}`, `Bearer ${up.auth.secret}`]);
  const redirect = await get('/redirect-secret', {});
  assert.equal(redirect.status, 302);
  assert.ok(String(redirect.headers.location).includes(up.auth.secret));
  const error = await get('/error-secret', {});
  assert.equal(error.status, 500);
  assert.ok(error.body.toString().includes(up.auth.secret));
  const www = await get('/www-auth', {});
  assert.equal(www.status, 401);
  assert.ok(String(www.headers['www-authenticate']).includes(up.auth.secret));
});

test('JSON, compressed, text and binary routes', async () => {
  const doc = JSON.parse((await get('/json/customers')).body.toString());
  assert.equal(doc.customers.length, 3);
  assert.deepEqual(Object.keys(doc.customers[0]).sort(), ['address', 'contacts', 'email', 'id', 'name', 'phone', 'ssn']);
  assert.match(doc.customers[0].contacts[0].email, /@example\.org$/);
  const gz = await get('/gzip/customers');
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.deepEqual(JSON.parse(zlib.gunzipSync(gz.body).toString()), doc);
  const br = await get('/br/customers');
  assert.equal(br.headers['content-encoding'], 'br');
  assert.deepEqual(JSON.parse(zlib.brotliDecompressSync(br.body).toString()), doc);
  const text = await get('/text/customers');
  assert.match(String(text.headers['content-type']), /^text\/plain/);
  assert.match(text.body.toString(), /customer0001@example\.com/);
  const bin = await get('/binary');
  assert.equal(bin.headers['content-type'], 'application/octet-stream');
  assert.ok(bin.body.includes('customer0001@example.com'));
  assert.ok(bin.body.some((b) => b >= 0x80), 'not plain text');
});

test('large JSON is a chunked array of about the asked size', async () => {
  const r = await get('/json/large?mb=2');
  assert.equal(r.headers['content-length'], undefined);
  assert.equal(r.headers['transfer-encoding'], 'chunked');
  assert.ok(r.body.length >= 2 * 1024 * 1024 && r.body.length < 2.1 * 1024 * 1024, `${r.body.length} bytes`);
  const items = JSON.parse(r.body.toString()) as Array<{ id: number }>;
  assert.deepEqual(items.slice(0, 3).map((c) => c.id), [1, 2, 3]);
});

test('SSE sends n JSON events; slow answers; status answers the code', async () => {
  const r = await get('/sse?n=4&ms=5');
  assert.equal(r.headers['content-type'], 'text/event-stream');
  const data = r.body.toString().split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)));
  assert.deepEqual(data.map((d) => d.seq), [1, 2, 3, 4]);
  assert.equal(data[0].email, 'customer0001@example.com');
  assert.deepEqual(JSON.parse((await get('/slow?ms=20')).body.toString()), { sleptMs: 20 });
  assert.equal((await get('/status/418')).status, 418);
  assert.equal((await get('/nowhere')).status, 404);
});

test('reset destroys the socket; hang never answers until the server closes', async () => {
  await assert.rejects(get('/reset'), /other side closed|socket|ECONNRESET/i);
  const other = await startHttpUpstream({ tls: false });
  const hung = request(`${other.url}/hang`).then(() => 'answered', () => 'failed');
  await waitFor(() => other.received.some((r) => r.url === '/hang'));
  await other.close();
  assert.equal(await hung, 'failed');
});

test('WebSocket echo (text and binary) and customers; an upgrade without the credential gets 401', async () => {
  const ws = new WebSocket(`${up.url.replace('https', 'wss')}/ws/echo`, { ca: up.ca, headers: auth() });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const next = (): Promise<[Buffer, boolean]> => new Promise((resolve) => ws.once('message', (d, b) => resolve([d as Buffer, b])));
  let reply = next();
  ws.send('hello');
  assert.deepEqual(await reply, [Buffer.from('hello'), false]);
  reply = next();
  ws.send(Buffer.from([1, 2, 255]));
  assert.deepEqual(await reply, [Buffer.from([1, 2, 255]), true]);
  ws.close();
  const cust = new WebSocket(`${up.url.replace('https', 'wss')}/ws/customers`, { ca: up.ca, headers: auth() });
  const [first] = await new Promise<[Buffer]>((resolve, reject) => { cust.once('message', (d) => resolve([d as Buffer])); cust.once('error', reject); });
  assert.equal(JSON.parse(first.toString()).customer.email, 'customer0001@example.com');
  cust.close();
  const refused = new WebSocket(`${up.url.replace('https', 'wss')}/ws/echo`, { ca: up.ca });
  refused.on('error', () => { /* terminate() below reports the unfinished handshake as an error */ });
  const status = await new Promise<number>((resolve) => refused.once('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0)));
  assert.equal(status, 401);
  refused.terminate();
});

test('each credential kind is checked: header, query, basic, none (curl and fetch)', async () => {
  const kinds: Array<[UpstreamAuth, (u: HttpUpstream) => { url: string; headers: Record<string, string> }]> = [
    [{ kind: 'header', name: 'X-Api-Key' }, (u) => ({ url: `${u.url}/json/customers`, headers: { 'x-api-key': u.auth.secret } })],
    [{ kind: 'query', name: 'key' }, (u) => ({ url: `${u.url}/json/customers?key=${u.auth.secret}`, headers: {} })],
    [{ kind: 'basic', secret: 'svc:pa55' }, (u) => ({ url: `${u.url}/json/customers`, headers: { authorization: `Basic ${Buffer.from('svc:pa55').toString('base64')}` } })],
    [{ kind: 'none' }, (u) => ({ url: `${u.url}/json/customers`, headers: {} })],
  ];
  for (const [kind, make] of kinds) {
    const u = await startHttpUpstream({ auth: kind, tls: false });
    try {
      const { url, headers } = make(u);
      assert.equal((await fetch(url, { headers })).status, 200, `${kind.kind} with the credential`);
      if (kind.kind !== 'none') assert.equal((await fetch(url.replace(/\?.*/, ''))).status, 401, `${kind.kind} without`);
    } finally { await u.close(); }
  }
  const basic = await startHttpUpstream({ auth: { kind: 'basic', secret: 'svc:pa55' }, tls: false });
  try {
    const { stdout } = await execFileAsync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-u', 'svc:pa55', `${basic.url}/echo/x`]);
    assert.equal(stdout, '200');
  } finally { await basic.close(); }
});

test('mTLS mode accepts the client pair and refuses a connection without one', async () => {
  const m = await startHttpUpstream({ requireClientCert: true });
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'warden-up-'));
  try {
    const withCert = new Agent({ connect: { ca: m.ca, cert: m.clientCert!.cert, key: m.clientCert!.key } });
    const ok = await request(`${m.url}/echo/x`, { dispatcher: withCert });
    assert.equal(ok.statusCode, 200);
    await ok.body.dump();
    await withCert.close();
    const without = new Agent({ connect: { ca: m.ca } });
    await assert.rejects(request(`${m.url}/echo/x`, { dispatcher: without }).then((r) => r.body.dump()));
    await without.close();
    await fsp.writeFile(path.join(dir, 'ca.pem'), m.ca);
    const curl = await execFileAsync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', path.join(dir, 'ca.pem'), `${m.url}/echo/x`])
      .then(() => 'connected', () => 'refused');
    assert.equal(curl, 'refused');
  } finally {
    await m.close();
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

async function waitFor(check: () => boolean): Promise<void> {
  await pollUntil('the upstream to receive the request', () => (check() ? true : undefined));
}
