/**
 * relayWebSocket over real sockets on loopback: a Node HTTP server hands its `upgrade` event to the relay (as the
 * engine does once the upgrade is allowed, answering a 502 problem document when the relay rejects), `ws` servers
 * (plain and TLS with a fresh CA) play the upstream and `ws` clients play the caller. The recording hooks are kept
 * in memory. The whole engine with Warden started as a process is in test/http-streams.e2e.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { generateCertificates, type TestCertificates } from '../../../test/harness/postgres.js';
import { WardenError } from '../../errors.js';
import type { HttpWsCloseRecord, HttpWsMessageRecord } from './exchange-record.js';
import { HIGH_WATER, type WebSocketBridge } from './websocket-bridge.js';
import { CLOSE_DEADLINE_MS, MAX_MESSAGE_BYTES, relayWebSocket, type WebSocketRelayOptions } from './websocket.js';

/** One test upstream: a `ws` server behind an HTTP(S) server whose upgrades a test may answer itself. */
interface Upstream {
  url: string;
  accepted: Array<{ ws: WebSocket; req: http.IncomingMessage; pings: number }>;
  upgrades: number;
  /** Answers an upgrade instead of the ws server when it returns true. */
  intercept: ((req: http.IncomingMessage, socket: Duplex) => boolean) | null;
  wss: WebSocketServer;
  close(): void;
}

async function startUpstream(tls?: TestCertificates): Promise<Upstream> {
  const server = tls ? https.createServer({ cert: tls.serverCert, key: tls.serverKey }) : http.createServer();
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024,
    handleProtocols: (offered) => (offered.has('chat.v2') ? 'chat.v2' : [...offered][0] ?? false) });
  const up: Upstream = { url: '', accepted: [], upgrades: 0, intercept: null, wss, close: () => {
    for (const a of up.accepted) a.ws.terminate();
    server.close();
  } };
  server.on('upgrade', (req, socket, head) => {
    up.upgrades++;
    if (up.intercept?.(req, socket)) return;
    wss.handleUpgrade(req, socket, head, (ws) => {
      const entry = { ws, req, pings: 0 };
      ws.on('ping', () => entry.pings++);
      up.accepted.push(entry);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  up.url = `${tls ? 'wss' : 'ws'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return up;
}

/** What one relayed upgrade produced. */
interface Run {
  relay: Promise<WebSocketBridge>;
  records: HttpWsMessageRecord[];
  closes: HttpWsCloseRecord[];
  activity: number;
}

type RunOptions = Partial<Pick<WebSocketRelayOptions, 'upstreamUrl' | 'tls' | 'maskServerText' | 'recordLimit' | 'connectTimeoutMs'
  | 'upstreamHeaders'>>;

let plain: Upstream;
let front: http.Server;
let frontUrl: string;
let next: RunOptions = {};
const runs: Run[] = [];

before(async () => {
  plain = await startUpstream();
  front = http.createServer();
  front.on('upgrade', (req, socket, head) => {
    const run: Run = { relay: null as unknown as Promise<WebSocketBridge>, records: [], closes: [], activity: 0 };
    run.relay = relayWebSocket({ req, socket, head, upstreamUrl: `${plain.url}/ws`, upstreamHeaders: { authorization: 'Bearer upstream-secret' },
      tls: {}, maskServerText: null, requestId: 'r1', recordLimit: 1024, ...next,
      record: (m) => void run.records.push(m), recordClose: (c) => void run.closes.push(c), activity: () => void run.activity++,
    }) as Promise<WebSocketBridge>;
    // As the engine: a refusal is answered with a problem document naming only the caller-safe message.
    run.relay.catch((err: WardenError) => {
      const body = JSON.stringify({ title: 'Bad Gateway', status: 502, detail: err.message, code: err.code });
      socket.end(`HTTP/1.1 502 Bad Gateway\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`
        + `connection: close\r\n\r\n${body}`);
    });
    runs.push(run);
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  frontUrl = `ws://127.0.0.1:${(front.address() as AddressInfo).port}`;
});

after(() => {
  front.close();
  plain.close();
});

/** A caller connected through the relay, with what it received. */
interface Caller {
  ws: WebSocket;
  messages: Array<{ data: Buffer; binary: boolean }>;
  closed: Promise<{ code: number; reason: string }>;
  run: Run;
}

/** Connects a caller with `options` for the relay; resolves once open, or with the engine's refusal. */
function connect(options: RunOptions = {}, protocols: string[] = [], clientOptions: WebSocket.ClientOptions = {}):
  Promise<Caller | { status: number; body: string; run: Run }> {
  next = options;
  const before = runs.length;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${frontUrl}/t/app/ws`, protocols, { headers: { authorization: 'Bearer warden-token' }, ...clientOptions });
    const messages: Caller['messages'] = [];
    ws.on('message', (data: Buffer, binary: boolean) => messages.push({ data, binary }));
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.once('open', () => resolve({ ws, messages, closed, run: runs[before] }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, run: runs[before] }));
    });
    ws.once('error', reject);
  });
}

async function opened(options: RunOptions = {}, protocols: string[] = [], clientOptions: WebSocket.ClientOptions = {}): Promise<Caller> {
  const c = await connect(options, protocols, clientOptions);
  assert.ok('ws' in c, `the relay refused: ${'body' in c ? c.body : ''}`);
  return c;
}

async function refused(options: RunOptions, protocols: string[] = []): Promise<{ status: number; body: string; error: WardenError }> {
  const c = await connect(options, protocols);
  assert.ok('status' in c, 'the upgrade was relayed');
  const error = await c.run.relay.then(() => assert.fail('relayWebSocket resolved'), (err: unknown) => err);
  assert.ok(error instanceof WardenError, `not a WardenError: ${String(error)}`);
  return { status: c.status, body: c.body, error };
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), `never: ${what}`);
}

/** The upstream end of the most recent relayed WebSocket. */
function lastUpstream(up = plain): Upstream['accepted'][number] {
  return up.accepted[up.accepted.length - 1];
}

function received(ws: WebSocket): Array<{ data: Buffer; binary: boolean }> {
  const list: Array<{ data: Buffer; binary: boolean }> = [];
  ws.on('message', (data: Buffer, binary: boolean) => list.push({ data, binary }));
  return list;
}

function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
}

const EMAIL = /[\w.+-]+@[\w-]+\.[\w.]+/g;
const maskEmails = (text: string): { text: string; hits: Record<string, number> } => {
  const n = (text.match(EMAIL) ?? []).length;
  return { text: text.replace(EMAIL, '[email]'), hits: n ? { email: n } : {} };
};

test('text and binary pass both ways and are recorded; the upstream chooses among the caller\'s subprotocols; only the engine\'s headers go upstream', async () => {
  const caller = await opened({}, ['chat.v1', 'chat.v2']);
  const up = lastUpstream();
  assert.equal(caller.ws.protocol, 'chat.v2');
  assert.equal(up.req.headers['sec-websocket-protocol'], 'chat.v1,chat.v2');
  assert.equal(up.req.headers.authorization, 'Bearer upstream-secret');
  assert.equal(up.req.url, '/ws');
  const upstreamGot = received(up.ws);
  caller.ws.send('hello');
  caller.ws.send(Buffer.from([0, 1, 2, 255]));
  await until(() => upstreamGot.length === 2, 'the upstream got both messages');
  assert.deepEqual(upstreamGot.map((m) => [m.binary, m.data.toString('hex')]), [[false, Buffer.from('hello').toString('hex')], [true, '000102ff']]);
  up.ws.send('héllo back');
  up.ws.send(Buffer.from([9, 8]));
  await until(() => caller.messages.length === 2, 'the caller got both answers');
  assert.deepEqual(caller.messages.map((m) => [m.binary, m.data.toString('hex')]), [[false, Buffer.from('héllo back').toString('hex')], [true, '0908']]);
  assert.deepEqual(caller.run.records, [
    { requestId: 'r1', direction: 'client', bytes: 5, binary: false, text: 'hello' },
    { requestId: 'r1', direction: 'client', bytes: 4, binary: true },
    { requestId: 'r1', direction: 'server', bytes: 11, binary: false, text: 'héllo back' },
    { requestId: 'r1', direction: 'server', bytes: 2, binary: true },
  ]);
  assert.equal(caller.run.activity, 4);
  const upstreamClose = closeOf(up.ws);
  caller.ws.close(1000, 'bye');
  assert.deepEqual(await upstreamClose, { code: 1000, reason: 'bye' });
  await (await caller.run.relay).closed;
  assert.deepEqual(caller.run.closes, [{ requestId: 'r1', code: 1000, reason: 'bye' }]);
});

test('a text message is recorded cut to the limit at a character boundary', async () => {
  const caller = await opened({ recordLimit: 6 });
  const upstreamGot = received(lastUpstream().ws);
  caller.ws.send('abcdeé-and-more');
  await until(() => upstreamGot.length === 1, 'the upstream got it');
  assert.equal(upstreamGot[0].data.toString(), 'abcdeé-and-more');
  assert.deepEqual(caller.run.records, [{ requestId: 'r1', direction: 'client', bytes: 16, binary: false, text: 'abcde', truncated: true }]);
  caller.ws.close();
  await (await caller.run.relay).closed;
});

test('over TLS with the target\'s CA and server name; an untrusted certificate or a wrong name is refused with a WardenError', async () => {
  const certs = await generateCertificates('Warden WS Test CA');
  const secure = await startUpstream(certs);
  try {
    const caller = await opened({ upstreamUrl: `${secure.url}/ws`, tls: { ca: certs.caCert, servername: 'localhost' } });
    const upstreamGot = received(lastUpstream(secure).ws);
    caller.ws.send('over tls');
    await until(() => upstreamGot.length === 1, 'the upstream got the message');
    lastUpstream(secure).ws.send('back over tls');
    await until(() => caller.messages.length === 1, 'the caller got the answer');
    assert.equal(caller.messages[0].data.toString(), 'back over tls');
    caller.ws.close();
    await (await caller.run.relay).closed;

    const untrusted = await refused({ upstreamUrl: `${secure.url}/ws?api_key=upstream-secret`, tls: {} });
    assert.equal(untrusted.error.code, 'WARDEN_ERR_UPSTREAM_UNAVAILABLE');
    assert.match(untrusted.error.message, /TLS certificate was refused/);
    assert.equal(untrusted.status, 502);
    assert.doesNotMatch(`${untrusted.body} ${untrusted.error.detail ?? ''}`, /upstream-secret/);

    const wrongName = await refused({ upstreamUrl: `${secure.url}/ws`, tls: { ca: certs.caCert, servername: 'billing.internal' } });
    assert.match(wrongName.error.message, /TLS certificate was refused \(ERR_TLS_CERT_ALTNAME_INVALID\)/);
    assert.equal(lastUpstream(secure).ws.readyState, WebSocket.CLOSED);
  } finally {
    secure.close();
  }
});

test('an upstream that answers without upgrading is refused with a WardenError naming only its status', async () => {
  const answer = (head: string) => (_req: http.IncomingMessage, socket: Duplex): boolean => {
    socket.end(`${head}\r\ncontent-type: text/plain\r\ncontent-length: 24\r\nconnection: close\r\n\r\nkey=upstream-secret here`);
    return true;
  };
  try {
    plain.intercept = answer('HTTP/1.1 403 Forbidden\r\nwww-authenticate: Bearer upstream-secret');
    const forbidden = await refused({});
    assert.equal(forbidden.error.code, 'WARDEN_ERR_UPSTREAM_AUTH');
    assert.equal(forbidden.error.message, 'the upstream answered HTTP 403 instead of accepting the WebSocket');
    assert.equal(forbidden.status, 502);
    assert.doesNotMatch(forbidden.body, /upstream-secret/);

    plain.intercept = answer('HTTP/1.1 302 Found\r\nlocation: https://elsewhere/?key=upstream-secret');
    const redirect = await refused({});
    assert.equal(redirect.error.code, 'WARDEN_ERR_UPSTREAM_PROTOCOL');
    assert.doesNotMatch(redirect.body, /upstream-secret|elsewhere/);
  } finally {
    plain.intercept = null;
  }
});

test('an upstream that never answers the upgrade is refused once the connect timeout passes', async () => {
  const held: Duplex[] = [];
  plain.intercept = (_req, socket) => {
    held.push(socket);
    return true;
  };
  try {
    const hung = await refused({ connectTimeoutMs: 200, upstreamUrl: `${plain.url}/ws?api_key=upstream-secret` });
    assert.equal(hung.error.code, 'WARDEN_ERR_UPSTREAM_UNAVAILABLE');
    assert.match(hung.error.message, /did not answer in time/);
    assert.doesNotMatch(`${hung.body} ${hung.error.detail ?? ''}`, /upstream-secret/);
  } finally {
    plain.intercept = null;
    for (const s of held) s.destroy();
  }
});

test('an upstream that chooses a subprotocol the caller did not offer, or none of those offered, is refused', async () => {
  const original = plain.wss.options.handleProtocols;
  try {
    plain.wss.options.handleProtocols = () => false;
    const none = await refused({}, ['chat.v1']);
    assert.equal(none.error.code, 'WARDEN_ERR_UPSTREAM_PROTOCOL');
    assert.match(none.error.message, /no subprotocol the caller offered/);
  } finally {
    plain.wss.options.handleProtocols = original;
  }
});

test('an invalid caller handshake is refused before anything is opened upstream', async () => {
  const upgradesBefore = plain.upgrades;
  const runsBefore = runs.length;
  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request(`${frontUrl.replace('ws:', 'http:')}/t/app/ws`, { headers: { connection: 'Upgrade', upgrade: 'websocket',
      'sec-websocket-version': '13' } });
    req.on('response', (res) => resolve(res.statusCode ?? 0));
    req.on('upgrade', () => reject(new Error('upgraded')));
    req.on('error', reject);
    req.end();
  });
  assert.equal(status, 502);
  const error = await runs[runsBefore].relay.catch((err: unknown) => err);
  assert.ok(error instanceof WardenError);
  assert.equal(error.code, 'WARDEN_ERR_BAD_REQUEST');
  assert.match(error.message, /Sec-WebSocket-Key/);
  assert.equal(plain.upgrades, upgradesBefore);
});

test('with masking: upstream text reaches the caller masked, the caller\'s text goes upstream as sent and is recorded masked', async () => {
  const caller = await opened({ maskServerText: maskEmails });
  const up = lastUpstream();
  const upstreamGot = received(up.ws);
  up.ws.send('{"name":"Alice","email":"alice@example.com"}');
  await until(() => caller.messages.length === 1, 'the caller got the message');
  assert.equal(caller.messages[0].data.toString(), '{"name":"Alice","email":"[email]"}');
  assert.equal(caller.messages[0].binary, false);
  caller.ws.send('my address is bob@example.org');
  await until(() => upstreamGot.length === 1, 'the upstream got the message');
  assert.equal(upstreamGot[0].data.toString(), 'my address is bob@example.org');
  assert.deepEqual(caller.run.records.map((r) => [r.direction, r.text]), [
    ['server', '{"name":"Alice","email":"[email]"}'], ['client', 'my address is [email]']]);
  assert.doesNotMatch(JSON.stringify(caller.run.records), /@example/);
  up.ws.close(4000, 'bye alice@example.com');
  assert.deepEqual(await caller.closed, { code: 4000, reason: 'bye [email]' });
  await (await caller.run.relay).closed;
  assert.deepEqual(caller.run.closes, [{ requestId: 'r1', code: 4000, reason: 'bye [email]' }]);
});

test('with masking, a binary upstream message ends the WebSocket with 1008 and never reaches the caller', async () => {
  const caller = await opened({ maskServerText: maskEmails });
  const up = lastUpstream();
  const upstreamClosed = closeOf(up.ws);
  up.ws.send(Buffer.from('carol@example.com'));
  const closed = await caller.closed;
  assert.equal(closed.code, 1008);
  assert.match(closed.reason, /binary message refused/);
  assert.equal(caller.messages.length, 0);
  assert.equal((await upstreamClosed).code, 1008);
  await (await caller.run.relay).closed;
  assert.equal(caller.run.records.length, 0);
  assert.equal(caller.run.closes[0].code, 1008);
});

test('fragmented messages arrive whole, either way', async () => {
  const caller = await opened();
  const up = lastUpstream();
  const upstreamGot = received(up.ws);
  up.ws.send('part one, ', { fin: false });
  up.ws.send('part two', { fin: true });
  caller.ws.send(Buffer.from([1, 2]), { binary: true, fin: false });
  caller.ws.send(Buffer.from([3]), { binary: true, fin: true });
  await until(() => caller.messages.length === 1 && upstreamGot.length === 1, 'both got one message');
  assert.equal(caller.messages[0].data.toString(), 'part one, part two');
  assert.deepEqual([...upstreamGot[0].data], [1, 2, 3]);
  caller.ws.close();
  await (await caller.run.relay).closed;
});

test('pings are answered on each side and not relayed', async () => {
  const caller = await opened();
  const up = lastUpstream();
  const upstreamGot = received(up.ws);
  let callerPings = 0;
  caller.ws.on('ping', () => callerPings++);
  const callerPong = new Promise<string>((r) => caller.ws.once('pong', (d: Buffer) => r(d.toString())));
  caller.ws.ping('from caller');
  assert.equal(await callerPong, 'from caller');
  caller.ws.send('after the ping'); // the same connection: a relayed ping would have reached the upstream first
  await until(() => upstreamGot.length === 1, 'the upstream got the message');
  assert.equal(up.pings, 0);
  const upstreamPong = new Promise<string>((r) => up.ws.once('pong', (d: Buffer) => r(d.toString())));
  up.ws.ping('from upstream');
  assert.equal(await upstreamPong, 'from upstream');
  up.ws.send('after the upstream ping');
  await until(() => caller.messages.length === 1, 'the caller got the message');
  assert.equal(callerPings, 0);
  assert.equal(caller.run.activity, 2);
  caller.ws.close();
  await (await caller.run.relay).closed;
});

test('close codes and reasons are passed on; codes that only describe a close are never sent', async () => {
  const custom = await opened();
  lastUpstream().ws.close(4001, 'custom reason');
  assert.deepEqual(await custom.closed, { code: 4001, reason: 'custom reason' });
  await (await custom.run.relay).closed;
  assert.deepEqual(custom.run.closes, [{ requestId: 'r1', code: 4001, reason: 'custom reason' }]);

  const noStatus = await opened();
  const upstreamClosed = closeOf(lastUpstream().ws);
  noStatus.ws.close();
  assert.deepEqual(await upstreamClosed, { code: 1005, reason: '' });
  await (await noStatus.run.relay).closed;

  const lost = await opened();
  lastUpstream().ws.terminate(); // no close frame: 1006 on Warden's side
  assert.deepEqual(await lost.closed, { code: 1011, reason: 'warden: the upstream connection was lost' });
  await (await lost.run.relay).closed;
  assert.equal(lost.run.closes[0].code, 1006);

  const callerLost = await opened();
  const upstreamSaw = closeOf(lastUpstream().ws);
  callerLost.ws.terminate();
  assert.deepEqual(await upstreamSaw, { code: 1001, reason: 'warden: the caller connection was lost' });
  await (await callerLost.run.relay).closed;
});

test('end() closes both sides with 1008 and the reason; a caller that never answers is cut off after the deadline', async () => {
  assert.ok(CLOSE_DEADLINE_MS < 1000, 'the deadline leaves revocation its 1 s');
  const caller = await opened();
  const upstreamClosed = closeOf(lastUpstream().ws);
  const relay = await caller.run.relay;
  relay.end('token revoked');
  assert.deepEqual(await caller.closed, { code: 1008, reason: 'token revoked' });
  assert.deepEqual(await upstreamClosed, { code: 1008, reason: 'token revoked' });
  await relay.closed;
  assert.deepEqual(caller.run.closes, [{ requestId: 'r1', code: 1008, reason: 'token revoked' }]);

  // A caller that reads nothing never answers the close: only the deadline's terminate can end the relay.
  const silent = await opened();
  const silentUpstream = closeOf(lastUpstream().ws);
  silent.ws.pause();
  const silentRelay = await silent.run.relay;
  const started = Date.now();
  silentRelay.end('session killed');
  assert.deepEqual(await silentUpstream, { code: 1008, reason: 'session killed' });
  await silentRelay.closed;
  // Not a speed bound: without Warden's deadline the relay would wait for ws's own 30 s close timeout.
  assert.ok(Date.now() - started < 10_000, 'the silent caller was cut off by the deadline');
  silent.ws.terminate();
});

test('a message over 16 MiB closes the WebSocket with 1009, either way, and is not relayed', async () => {
  const caller = await opened();
  const up = lastUpstream();
  const upstreamGot = received(up.ws);
  const upstreamClosed = closeOf(up.ws);
  caller.ws.send(Buffer.alloc(MAX_MESSAGE_BYTES + 1));
  assert.equal((await caller.closed).code, 1009);
  assert.deepEqual(await upstreamClosed, { code: 1009, reason: 'warden: message larger than 16 MiB' });
  assert.equal(upstreamGot.length, 0);
  await (await caller.run.relay).closed;
  assert.equal(caller.run.closes[0].code, 1009);

  const other = await opened();
  lastUpstream().ws.send('x'.repeat(MAX_MESSAGE_BYTES + 1));
  assert.deepEqual(await other.closed, { code: 1009, reason: 'warden: message larger than 16 MiB' });
  assert.equal(other.messages.length, 0);
  await (await other.run.relay).closed;
});

test('a caller that stops reading stalls the upstream: Warden stops reading it and buffers boundedly', async () => {
  const caller = await opened({}, [], { perMessageDeflate: false });
  const up = lastUpstream();
  const relay = await caller.run.relay;
  caller.ws.pause();
  const MESSAGE = 1024 * 1024;
  const COUNT = 64;
  for (let i = 0; i < COUNT; i++) {
    const data = Buffer.alloc(MESSAGE, i);
    up.ws.send(data);
  }
  await until(() => relay.backlog().upstreamPaused, 'Warden stops reading the upstream');
  const backlog = relay.backlog();
  assert.ok(backlog.toCaller <= HIGH_WATER + 2 * MESSAGE, `Warden holds ${backlog.toCaller} bytes for the caller`);
  assert.ok(up.ws.bufferedAmount > 0, 'the upstream still holds what it could not send');
  caller.ws.resume();
  await until(() => caller.messages.length === COUNT, 'every message arrives once the caller reads');
  assert.deepEqual(caller.messages.map((m) => m.data[0]), Array.from({ length: COUNT }, (_, i) => i));
  assert.ok(caller.messages.every((m) => m.data.length === MESSAGE));
  assert.equal(relay.backlog().upstreamPaused, false);
  caller.ws.close();
  await relay.closed;
});
