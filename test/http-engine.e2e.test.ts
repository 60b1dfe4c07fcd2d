/**
 * The HTTP engine end to end: a real `warden start`, http targets added through the control API, a policy, and
 * callers using Node's fetch, the real curl and raw sockets, against a small real upstream (test/http-engine-upstream.ts).
 * Covers routing (path prefix, host name), caller authentication (Bearer, Basic, Proxy-Authorization, the portal
 * cookie), what is stripped and injected, denials and approval as problem documents, the credential never reaching
 * the caller, upstream failures, streaming, revocation, and the bad-input cases (smuggling, folding, bare LF, oversized
 * and slow heads, path tricks): each answered with a clear 4xx and no upstream request.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startTestUpstream, type TestUpstream } from './http-engine-upstream.js';
import { startWarden, type WardenProcess } from './harness/warden.js';

const SECRET = 'sk-live-Zx9+/q=7secret';
const QUERY_SECRET = 'qk&9 secret';

const POLICY = `kind: Policy
name: http
rules:
  - name: no-deletes
    targets: [echo-api]
    match: { methods: [DELETE] }
    effect: deny
    message: deleting through Warden is not allowed
  - name: held-posts
    targets: [echo-api]
    subjects: { users: [hank] }
    match: { methods: [POST] }
    effect: require_approval
    approvers: { users: [olga] }
    timeout: 2m
  - name: everything-else
    effect: allow
`;

let upstream: TestUpstream;
let queryUpstream: TestUpstream;
let warden: WardenProcess;
const tokens: Record<string, string> = {};
let base: string;

async function token(user: string): Promise<string> {
  const r = await warden.cli(['tokens', 'create', '--user', user, '--ttl', '1h']);
  if (r.code !== 0) throw new Error(`tokens create failed: ${r.stderr}`);
  return r.stdout.trim();
}

async function addTarget(body: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${warden.url}/api/targets`, { method: 'POST',
    headers: { authorization: `Bearer ${warden.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(res.status, 201, await res.text());
}

/** Sends raw bytes to the HTTP listener and reads until Warden closes the connection. */
function raw(bytes: string, port = warden.ports.http): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    let out = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (out += d));
    socket.on('close', () => resolve(out));
    socket.on('error', reject);
  });
}

/** Runs the real curl; resolves with its stdout (`-i`: head and body). */
function curl(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('curl', ['-sS', '--max-time', '30', ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function bearer(user = 'alice'): Record<string, string> {
  return { authorization: `Bearer ${tokens[user]}` };
}

before(async () => {
  upstream = await startTestUpstream(SECRET, (req) => req.headers.authorization === `Bearer ${SECRET}`);
  queryUpstream = await startTestUpstream(QUERY_SECRET, (_req, url) => url.searchParams.get('api_key') === QUERY_SECRET);
  warden = await startWarden({ args: ['--http-domain', 'gw.test', '--login-timeout', '2', '--http-session-idle', '1'] });
  base = `http://127.0.0.1:${warden.ports.http}`;
  await addTarget({ name: 'echo-api', type: 'http', url: upstream.url, auth: 'bearer', secret: SECRET,
    headers: { 'x-static': 'from-warden' } });
  await addTarget({ name: 'q-api', type: 'http', url: `${queryUpstream.url}/base/`, auth: 'query:api_key', secret: QUERY_SECRET });
  await warden.applyPolicy(POLICY);
  for (const user of ['alice', 'hank', 'olga', 'carol']) tokens[user] = await token(user);
});

after(async () => {
  await warden?.stop();
  await upstream?.close();
  await queryUpstream?.close();
});

describe('routing and authentication', () => {
  test('a path-prefix GET reaches the upstream with Warden\'s credential instead of the caller\'s', async () => {
    const res = await fetch(`${base}/t/echo-api/echo/a//b/./c?x=1&y=%2F`, {
      headers: { ...bearer(), 'x-forwarded-for': '6.6.6.6', forwarded: 'for=6.6.6.6', cookie: 'theirs=1; warden_token=' + tokens.alice } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('x-warden-request-id') ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(res.headers.get('x-hop'), null, 'a header the upstream\'s Connection named was relayed');
    assert.equal(res.headers.get('set-cookie'), 'upstream_session=abc; Path=/');
    const echo = await res.json() as { path: string; query: string; headers: Record<string, string> };
    assert.equal(echo.path, '/echo/a/b/c');
    assert.equal(echo.query, '?x=1&y=%2F');
    // The upstream got the credential; its echo of it was scrubbed on the way back.
    assert.equal(upstream.received.at(-1)!.headers.authorization, `Bearer ${SECRET}`);
    assert.equal(echo.headers.authorization, `Bearer ${'*'.repeat(SECRET.length)}`);
    assert.equal(echo.headers['x-static'], 'from-warden');
    assert.equal(echo.headers.cookie, 'theirs=1');
    assert.equal(echo.headers.forwarded, undefined);
    assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(echo.headers['x-forwarded-proto'], 'http');
    assert.ok(!JSON.stringify(echo.headers).includes(tokens.alice), 'the Warden token reached the upstream');
  });

  test('HTTP Basic with the token as password, Proxy-Authorization and the portal cookie each authenticate', async () => {
    const basic = `Basic ${Buffer.from(`anyone:${tokens.alice}`).toString('base64')}`;
    for (const headers of [{ authorization: basic }, { 'proxy-authorization': `Bearer ${tokens.alice}` },
      { cookie: `a=1; warden_token=${tokens.alice}; b=2` }] as Array<Record<string, string>>) {
      const res = await fetch(`${base}/t/echo-api/echo/who`, { headers });
      assert.equal(res.status, 200, JSON.stringify(headers));
      await res.arrayBuffer();
      const seen = upstream.received.at(-1)!.headers;
      assert.equal(seen.authorization, `Bearer ${SECRET}`);
      assert.equal(seen['proxy-authorization'], undefined);
      assert.ok(!JSON.stringify(seen).includes(tokens.alice));
    }
  });

  test('no credential: 401 problem document with Warden\'s challenge, nothing sent upstream', async () => {
    const before = upstream.received.length;
    const res = await fetch(`${base}/t/echo-api/www-auth`);
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="warden"');
    const problem = await res.json() as { status: number; detail: string; requestId: string };
    assert.equal(problem.status, 401);
    assert.match(problem.detail, /Warden token/);
    assert.equal(problem.requestId, res.headers.get('x-warden-request-id'));
    const bad = await fetch(`${base}/t/echo-api/echo/x`, { headers: { authorization: 'Bearer not-a-token' } });
    assert.equal(bad.status, 401);
    assert.equal(upstream.received.length, before);
  });

  test('the host-name route works with curl, case-insensitively and whatever the port', async () => {
    const r = await curl(['-i', '-H', `Host: ECHO-API.Gw.Test:9999`, '-H', `Authorization: Bearer ${tokens.alice}`, `${base}/echo/by-host`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^HTTP\/1\.1 200/);
    const echo = JSON.parse(r.stdout.slice(r.stdout.indexOf('\r\n\r\n') + 4)) as { path: string; headers: Record<string, string> };
    assert.equal(echo.path, '/echo/by-host');
    assert.equal(echo.headers['x-forwarded-host'], 'ECHO-API.Gw.Test:9999');
  });

  test('a query:NAME credential replaces a caller parameter of that name and goes under the target\'s base path', async () => {
    const res = await fetch(`${base}/t/q-api/echo/q?api_key=evil&keep=1`, { headers: bearer() });
    assert.equal(res.status, 200);
    const echo = await res.json() as { path: string; query: string };
    assert.equal(echo.path, '/base/echo/q');
    const seen = new URL(queryUpstream.received.at(-1)!.url, 'http://x').searchParams;
    assert.equal(seen.getAll('api_key').join(','), QUERY_SECRET);
    assert.equal(seen.get('keep'), '1');
    assert.ok(!echo.query.includes(encodeURIComponent(QUERY_SECRET)), echo.query);
  });
});

describe('policy and approval', () => {
  test('a denied request: 403 problem naming the reason and the request id; the upstream never sees it', async () => {
    const before = upstream.received.length;
    const res = await fetch(`${base}/t/echo-api/echo/item/1`, { method: 'DELETE', headers: bearer() });
    assert.equal(res.status, 403);
    const problem = await res.json() as { title: string; detail: string; requestId: string; type: string };
    assert.equal(problem.title, 'Forbidden');
    assert.match(problem.detail, /deleting through Warden is not allowed/);
    assert.equal(problem.requestId, res.headers.get('x-warden-request-id'));
    assert.equal(upstream.received.length, before);
  });

  test('a held POST keeps the caller waiting, runs once when approved, with its body as sent', async () => {
    const body = '{"amount": 42}';
    const running = fetch(`${base}/t/echo-api/echo/pay`, { method: 'POST', headers: { ...bearer('hank'), 'content-type': 'application/json' }, body });
    let id: string | undefined;
    for (let i = 0; i < 300 && id === undefined; i++) {
      const r = await warden.cli(['approvals', 'list', '--json'], { env: { WARDEN_TOKEN: tokens.olga } });
      id = (JSON.parse(r.stdout) as { id: string; statement: string }[]).find((p) => p.statement.includes('/echo/pay'))?.id;
      if (id === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(id, 'no approval request appeared');
    assert.ok(!upstream.received.some((q) => q.url === '/echo/pay'), 'ran before approval');
    const approved = await warden.cli(['approvals', 'approve', id], { env: { WARDEN_TOKEN: tokens.olga } });
    assert.equal(approved.code, 0, approved.stderr);
    const res = await running;
    assert.equal(res.status, 200);
    assert.match(res.headers.get('warning') ?? '', new RegExp(`run after approval ${id}`));
    const echo = await res.json() as { body: string };
    assert.equal(echo.body, body);
    assert.equal(upstream.received.filter((q) => q.url === '/echo/pay').length, 1);
  });
});

describe('the upstream\'s answers', () => {
  test('the injected credential is scrubbed from Location, other headers and bodies split across chunks', async () => {
    const redirect = await fetch(`${base}/t/echo-api/redirect-secret`, { headers: bearer(), redirect: 'manual' });
    assert.equal(redirect.status, 302);
    const location = redirect.headers.get('location') ?? '';
    assert.ok(!location.includes(SECRET) && !location.includes(encodeURIComponent(SECRET)), location);
    assert.match(location, /^https:\/\/elsewhere\.example\/\?token=\*+&raw=\*+$/);
    const page = await fetch(`${base}/t/echo-api/error-secret`, { headers: bearer() });
    assert.equal(page.status, 500);
    const text = await page.text();
    assert.ok(!text.includes(SECRET), text);
    assert.equal(text, `upstream failed while using ${'*'.repeat(SECRET.length)} (again: ${'*'.repeat(SECRET.length)}) end`);
    assert.ok(!(page.headers.get('x-debug') ?? '').includes(SECRET));
  });

  test('an upstream 401 to Warden\'s credential is a 502 problem, and the upstream\'s challenge is never relayed', async () => {
    const res = await fetch(`${base}/t/echo-api/www-auth`, { headers: bearer() });
    assert.equal(res.status, 502);
    assert.equal(res.headers.get('www-authenticate'), null);
    const problem = await res.json() as { detail: string };
    assert.match(problem.detail, /refused the credential Warden holds/);
    assert.ok(!JSON.stringify(problem).includes(SECRET));
  });

  test('an upstream that resets is a 502 for its caller while another caller is served', async () => {
    const [reset, fine] = await Promise.all([fetch(`${base}/t/echo-api/reset`, { headers: bearer() }),
      fetch(`${base}/t/echo-api/echo/fine`, { headers: bearer('carol') })]);
    assert.equal(reset.status, 502);
    assert.match((await reset.json() as { detail: string }).detail, /closed the connection|could not be reached/);
    assert.equal(fine.status, 200);
  });

  test('server-sent events flow as they come, and revoking the token ends the stream', async () => {
    const dave = await token('dave');
    const res = await fetch(`${base}/t/echo-api/sse`, { headers: { authorization: `Bearer ${dave}` } });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    assert.match(Buffer.from(first.value!).toString(), /data: \{"n":0\}/);
    const revoked = await warden.cli(['tokens', 'revoke', dave]);
    assert.equal(revoked.code, 0, revoked.stderr);
    let ended = false;
    try {
      for (;;) {
        const next = await reader.read();
        if (next.done) break;
      }
      ended = true;
    } catch {
      ended = true;
    }
    assert.ok(ended);
    const again = await fetch(`${base}/t/echo-api/echo/after`, { headers: { authorization: `Bearer ${dave}` } });
    // Within the idle gap the ended session answers (503 naming why), after it the revoked token is refused (401).
    assert.ok(again.status === 503 || again.status === 401, String(again.status));
    assert.match((await again.json() as { detail: string }).detail, /session ended: .*revoked|revoked/i);
    assert.ok(!upstream.received.some((q) => q.url === '/echo/after'));
    const other = await fetch(`${base}/t/q-api/echo/after`, { headers: { authorization: `Bearer ${dave}` } });
    assert.equal(other.status, 401);
  });

  test('a session ends after the idle gap without a request; the next request opens a new one', async () => {
    const erin = await token('erin');
    const list = async () => JSON.parse((await warden.cli(['sessions', 'list', '--subject', 'erin', '--json'])).stdout) as
      { id: string; endReason: string | null }[];
    assert.equal((await fetch(`${base}/t/echo-api/echo/1`, { headers: { authorization: `Bearer ${erin}` } })).status, 200);
    let sessions = await list();
    for (let i = 0; i < 100 && !sessions.some((s) => s.endReason !== null); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      sessions = await list();
    }
    assert.equal(sessions.length, 1);
    assert.match(sessions[0].endReason ?? '', /idle/);
    assert.equal((await fetch(`${base}/t/echo-api/echo/2`, { headers: { authorization: `Bearer ${erin}` } })).status, 200);
    assert.equal((await list()).length, 2);
  });

  test('each exchange is recorded without credentials', async () => {
    const list = await warden.cli(['sessions', 'list', '--subject', 'alice', '--json']);
    const sessions = JSON.parse(list.stdout) as { id: string }[];
    const events = await Promise.all(sessions.map(async (s) => {
      const r = await fetch(`${warden.url}/api/sessions/${s.id}`, { headers: { authorization: `Bearer ${warden.adminToken}` } });
      return (await r.json() as { events: { type: string; data: Record<string, unknown> }[] }).events;
    }));
    const exchanges = events.flat().filter((e) => e.type === 'http.exchange');
    const first = exchanges.find((e) => e.data.path === '/echo/a/b/c');
    assert.ok(first, JSON.stringify(exchanges.map((e) => e.data.path)));
    assert.equal(first.data.status, 200);
    assert.equal(first.data.query, 'x=1&y=%2F');
    const text = JSON.stringify(events);
    assert.ok(!text.includes(SECRET) && !text.includes(tokens.alice));
    assert.ok(!/"(authorization|cookie|set-cookie)"/i.test(JSON.stringify(exchanges.map((e) => [e.data.requestHeaders, e.data.responseHeaders]))));
  });
});

describe('bad input', () => {
  const auth = () => `Authorization: Bearer ${tokens.alice}\r\n`;

  test('smuggling, folding, bare LF, absolute form and CONNECT: a clear 4xx problem, nothing upstream', async () => {
    const before = upstream.received.length;
    const cases: Array<[string, RegExp]> = [
      [`POST /t/echo-api/echo/s HTTP/1.1\r\nHost: x\r\n${auth()}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, /^HTTP\/1\.1 400 /],
      [`POST /t/echo-api/echo/s HTTP/1.1\r\nHost: x\r\n${auth()}Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde`, /^HTTP\/1\.1 400 /],
      [`GET /t/echo-api/echo/s HTTP/1.1\r\nHost: x\r\n${auth()}X-Folded: a\r\n b\r\n\r\n`, /^HTTP\/1\.1 400 /],
      [`GET /t/echo-api/echo/s HTTP/1.1\nHost: x\n${auth().replace('\r\n', '\n')}\n`, /^HTTP\/1\.1 400 /],
      [`GET http://127.0.0.1/t/echo-api/echo/s HTTP/1.1\r\nHost: x\r\n${auth()}Connection: close\r\n\r\n`, /^HTTP\/1\.1 400 [^]*not a forward proxy/],
      [`CONNECT 127.0.0.1:80 HTTP/1.1\r\nHost: 127.0.0.1:80\r\n${auth()}\r\n`, /^HTTP\/1\.1 405 [^]*CONNECT/],
      [`GET /t/echo-api/echo/s HTTP/1.1\r\nHost: x\r\n${auth()}X-Big: ${'a'.repeat(40_000)}\r\n\r\n`, /^HTTP\/1\.1 431 /],
    ];
    for (const [request, expected] of cases) {
      const answer = await raw(request);
      assert.match(answer, expected, request.slice(0, 80));
      assert.match(answer, /application\/problem\+json/i, request.slice(0, 80));
    }
    assert.equal(upstream.received.length, before);
  });

  test('path tricks never reach another target or an unnormalised path: 400', async () => {
    const before = upstream.received.length;
    const beforeQ = queryUpstream.received.length;
    for (const path of ['/t/q-api/../echo-api/echo/x', '/t/echo-api/echo/..%2F..%2Fx', '/t/echo-api/echo%5cx', '/t/%65cho-api/echo/x',
      '/t/echo-api/../../x', '/t/echo-api/a/%00']) {
      const answer = await raw(`GET ${path} HTTP/1.1\r\nHost: x\r\n${auth()}Connection: close\r\n\r\n`);
      assert.match(answer, /^HTTP\/1\.1 400 /, path);
    }
    assert.equal(upstream.received.length, before);
    assert.equal(queryUpstream.received.length, beforeQ);
  });

  test('a request asking the upstream to run another method (override header, _method) is refused: 400, nothing upstream', async () => {
    const before = upstream.received.length;
    for (const request of [
      `POST /t/echo-api/echo/x HTTP/1.1\r\nHost: x\r\n${auth()}X-HTTP-Method-Override: DELETE\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      `POST /t/echo-api/echo/x?_method=DELETE HTTP/1.1\r\nHost: x\r\n${auth()}Content-Length: 0\r\nConnection: close\r\n\r\n`,
    ]) {
      const answer = await raw(request);
      assert.match(answer, /^HTTP\/1\.1 400 /, request.slice(0, 60));
      assert.match(answer, /another method/);
    }
    assert.equal(upstream.received.length, before);
  });

  test('a caller that sends its head too slowly gets 408, and others are served meanwhile', async () => {
    const slow = raw(`GET /t/echo-api/echo/slow HTTP/1.1\r\nHost: x\r\n`);
    const fine = await fetch(`${base}/t/echo-api/echo/fine`, { headers: bearer() });
    assert.equal(fine.status, 200);
    assert.match(await slow, /^HTTP\/1\.1 408 /);
  });

  test('a WebSocket upgrade is authenticated and decided first (no credential: 401)', async () => {
    const answer = await raw('GET /t/echo-api/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
      + 'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    assert.match(answer, /^HTTP\/1\.1 401 [^]*www-authenticate: Bearer realm="warden"/i);
  });
});
