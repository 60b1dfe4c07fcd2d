/**
 * End to end (issue 14): streams through Warden's HTTP listener, with Warden started as a process and the harness's
 * HTTPS test upstream (test/harness/http-upstream.ts) as the target, its CA and bearer credential given through
 * `POST /api/targets`:
 * - server-sent events arrive one by one while the upstream holds the stream open (plain and masked);
 * - a chunked response flows through whole, still chunked;
 * - a WebSocket echoes text and binary, carries Warden's credential upstream (never the caller's token), is recorded
 *   (`http.ws.message`, `http.ws.close` in GET /api/sessions/:id), has upstream text masked when a mask rule applies,
 *   and is ended (close 1008) by `warden tokens revoke` and by a session kill.
 * Clients: Node's fetch, node:http and `ws`.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { customer } from './harness/http-upstream-data.js';
import { startHttpUpstream, type HttpUpstream } from './harness/http-upstream.js';
import { pollUntil } from './harness/poll.js';
import { startWarden, type WardenProcess } from './harness/warden.js';

const POLICY = `kind: Policy
name: http-streams
rules:
  - name: everything
    effect: allow
  - name: emails
    targets: [api-masked]
    mask:
      - detectors: [email]
        strategy: redact
`;

let upstream: HttpUpstream;
let warden: WardenProcess;
let alice: string;

/** The base URL of a target on Warden's HTTP listener (path-prefix route). */
function base(target: string): string {
  return `http://127.0.0.1:${warden.ports.http}/t/${target}`;
}

async function api(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${warden.url}${path}`, { method, headers: { authorization: `Bearer ${warden.adminToken}`,
    ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function token(user: string): Promise<string> {
  const r = await warden.cli(['tokens', 'create', '--user', user]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

before(async () => {
  upstream = await startHttpUpstream({ auth: { kind: 'bearer' } });
  warden = await startWarden();
  for (const name of ['api', 'api-masked']) {
    const res = await api('POST', '/api/targets', { name, type: 'http', url: upstream.url, caCert: upstream.ca, auth: 'bearer',
      secret: upstream.auth.secret });
    assert.equal(res.status, 201, await res.text());
  }
  await warden.applyPolicy(POLICY);
  alice = await token('alice');
});

after(async () => {
  await warden?.stop();
  await upstream?.close();
});

/** Reads a fetch body until `stop` says the text so far is enough; fails if the body ends first. */
async function readUntil(body: ReadableStream<Uint8Array>, stop: (text: string) => boolean): Promise<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (!stop(text)) {
    const { value, done } = await reader.read();
    assert.ok(!done, `the stream ended first; it held: ${text}`);
    text += decoder.decode(value, { stream: true });
  }
  await reader.cancel();
  return text;
}

describe('server-sent events and chunked responses', () => {
  test('the first event arrives while the upstream still holds the stream open', async () => {
    // The upstream sends event 1 at once and event 2 only 15 s later: a relay that buffered would hand both over together.
    const aborter = new AbortController();
    const res = await fetch(`${base('api')}/sse?n=2&ms=15000`, { headers: { authorization: `Bearer ${alice}` }, signal: aborter.signal });
    assert.equal(res.status, 200, await res.clone().text().catch(() => ''));
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const text = await readUntil(res.body!, (t) => t.includes('\n\n'));
    aborter.abort();
    assert.equal(text, `id: 1\nevent: customer\ndata: ${JSON.stringify({ seq: 1, email: customer(1).email })}\n\n`);
  });

  test('with a mask rule, each event is masked and still arrives on its own', async () => {
    const aborter = new AbortController();
    const res = await fetch(`${base('api-masked')}/sse?n=2&ms=15000`, { headers: { authorization: `Bearer ${alice}` }, signal: aborter.signal });
    assert.equal(res.status, 200);
    const text = await readUntil(res.body!, (t) => t.includes('\n\n'));
    aborter.abort();
    assert.match(text, /^id: 1\nevent: customer\ndata: \{"seq":1,"email":"[^"]*"\}\n\n$/);
    assert.doesNotMatch(text, /customer0001@example\.com|id: 2/);
  });

  test('a chunked response flows through whole and stays chunked', async () => {
    const { status, headers, body } = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
      http.get(`${base('api')}/json/large?mb=2`, { headers: { authorization: `Bearer ${alice}` } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
        res.on('error', reject);
      }).on('error', reject);
    });
    assert.equal(status, 200);
    assert.equal(headers['transfer-encoding'], 'chunked');
    assert.equal(headers['content-length'], undefined);
    const customers = JSON.parse(body) as Array<{ id: number; email: string }>;
    assert.ok(body.length >= 2 * 1024 * 1024, `only ${body.length} bytes`);
    assert.deepEqual(customers.slice(0, 2).map((c) => c.email), [customer(1).email, customer(2).email]);
    assert.equal(customers.at(-1)!.id, customers.length);
  });
});

/** A WebSocket through Warden, open, with what it received and how it closed. */
interface Caller {
  ws: WebSocket;
  messages: Array<{ data: Buffer; binary: boolean }>;
  closed: Promise<{ code: number; reason: string }>;
}

function connect(target: string, path: string, bearer: string): Promise<Caller> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base(target).replace(/^http/, 'ws')}${path}`, { headers: { authorization: `Bearer ${bearer}` } });
    const messages: Caller['messages'] = [];
    ws.on('message', (data: Buffer, binary: boolean) => messages.push({ data, binary }));
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.once('open', () => resolve({ ws, messages, closed }));
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c));
      res.on('end', () => reject(new Error(`upgrade refused: HTTP ${res.statusCode} ${text}`)));
    });
    ws.once('error', reject);
  });
}

async function until(check: () => boolean, what: string): Promise<void> {
  await pollUntil(what, () => (check() ? true : undefined));
}

/** The one live session of `user` on `target`. */
async function liveSession(user: string, target: string): Promise<string> {
  return pollUntil(`a live session of ${user} on ${target}`, async () => {
    const res = await api('GET', `/api/sessions?target=${target}&subject=${user}&active=true`);
    const list = await res.json() as Array<{ id: string }>;
    return list.length === 1 ? list[0].id : undefined;
  });
}

interface Event { type: string; data: Record<string, unknown> }

async function events(sessionId: string): Promise<Event[]> {
  const res = await api('GET', `/api/sessions/${sessionId}`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { events: Event[] }).events;
}

describe('WebSockets', () => {
  test('echo of text and binary, Warden\'s credential upstream, and the messages and close recorded', async () => {
    const bob = await token('bob');
    const caller = await connect('api', '/ws/echo', bob);
    // One at a time, so the recording's order is known.
    caller.ws.send('hello through warden');
    await until(() => caller.messages.length === 1, 'the text echo');
    caller.ws.send(Buffer.from([0, 1, 2, 3]));
    await until(() => caller.messages.length === 2, 'the binary echo');
    assert.deepEqual(caller.messages.map((m) => [m.binary, m.data.toString('hex')]),
      [[false, Buffer.from('hello through warden').toString('hex')], [true, '00010203']]);
    const upgrade = upstream.received.filter((r) => r.url.startsWith('/ws/echo')).at(-1)!;
    assert.equal(upgrade.headers.authorization, `Bearer ${upstream.auth.secret}`);
    assert.doesNotMatch(JSON.stringify(upgrade.headers), new RegExp(bob));
    const id = await liveSession('bob', 'api');
    caller.ws.close(1000, 'done');
    assert.deepEqual(await caller.closed, { code: 1000, reason: 'done' });
    const recorded = await pollUntil('the close recorded', async () => {
      const list = await events(id);
      return list.some((e) => e.type === 'http.ws.close') ? list : undefined;
    });
    const messages = recorded.filter((e) => e.type === 'http.ws.message').map((e) => e.data);
    assert.deepEqual(messages.map((m) => [m.direction, m.binary, m.text ?? null, m.bytes]), [
      ['client', false, 'hello through warden', 20], ['server', false, 'hello through warden', 20],
      ['client', true, null, 4], ['server', true, null, 4],
    ]);
    const close = recorded.find((e) => e.type === 'http.ws.close')!.data;
    assert.equal(close.code, 1000);
    assert.equal(close.reason, 'done');
    assert.ok(recorded.some((e) => e.type === 'http.exchange' && e.data.websocket === true), 'the upgrade is an exchange');
    assert.doesNotMatch(JSON.stringify(recorded), new RegExp(`${upstream.auth.secret}|${bob}`));
  });

  test('with a mask rule, upstream text reaches the caller masked and binary is refused with 1008', async () => {
    const caller = await connect('api-masked', '/ws/customers', alice);
    await until(() => caller.messages.length === 1, 'the customer message');
    const text = caller.messages[0].data.toString();
    assert.doesNotMatch(text, /customer0001@example\.com|billing0001@example\.org/);
    assert.match(text, /"name":"Customer 0001"/);
    caller.ws.send(Buffer.from('binary echo'));
    const closed = await caller.closed;
    assert.equal(closed.code, 1008);
    assert.match(closed.reason, /binary/);
    assert.equal(caller.messages.length, 1, 'the binary echo never arrived');
  });

  test('revoking the token ends a live WebSocket with 1008', async (t) => {
    const erin = await token('erin');
    const caller = await connect('api', '/ws/echo', erin);
    caller.ws.send('before');
    await until(() => caller.messages.length === 1, 'the echo');
    const revoked = await warden.cli(['tokens', 'revoke', erin]);
    assert.equal(revoked.code, 0, revoked.stderr);
    const at = performance.now();
    const closed = await caller.closed;
    t.diagnostic(`the WebSocket closed ${Math.round(performance.now() - at)} ms after the revocation answered (not asserted)`);
    assert.equal(closed.code, 1008);
    assert.match(closed.reason, /revoked/i);
  });

  test('killing the session ends a live WebSocket with 1008', async (t) => {
    const frank = await token('frank');
    const caller = await connect('api', '/ws/echo', frank);
    const id = await liveSession('frank', 'api');
    const killed = await api('POST', `/api/sessions/${id}/kill`, {});
    assert.equal(killed.status, 200, await killed.clone().text());
    const at = performance.now();
    const closed = await caller.closed;
    t.diagnostic(`the WebSocket closed ${Math.round(performance.now() - at)} ms after the kill answered (not asserted)`);
    assert.equal(closed.code, 1008);
    assert.notEqual(closed.reason, '');
  });
});

