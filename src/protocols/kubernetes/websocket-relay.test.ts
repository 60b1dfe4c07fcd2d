/**
 * The WebSocket relay's pieces over real sockets on loopback: a Node HTTP server hands its `upgrade` event to
 * relayWebSocketUpgrade (as the engine does once a request is allowed), a `ws` server plays the API server's stream
 * end with frames the test writes, and a `ws` client plays kubectl. The pipeline hooks are recorded in memory. The
 * whole engine with the real kubectl and the test API server is in test/kube-exec.e2e.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import type { Session } from '../../session/session.js';
import type { Command, CommandOutcome } from '../../session/types.js';
import { encodeClose, encodeFrame, encodePortPrefix } from './channel-codec.js';
import type { RelayPipeline, StreamRelay } from './relay-context.js';
import { UpgradeRefusals, relayWebSocketUpgrade } from './websocket-relay.js';

interface Recorded {
  events: Array<{ type: string; data: Record<string, unknown> }>;
  outcomes: CommandOutcome[];
}

const CARD_RULES = [{ rule: 'p/cards', items: [{ detectors: ['card' as const], strategy: 'redact' as const }] }];

function pipeline(masked: boolean): RelayPipeline & Recorded {
  const recorded: Recorded = { events: [], outcomes: [] };
  return {
    ...recorded,
    masking: () => ({ rules: masked ? CARD_RULES : [], hashKey: Buffer.alloc(32), contentItems: masked ? CARD_RULES[0].items : [] }),
    onOutcome: (_s: Session, _c: Command, outcome: CommandOutcome) => void recorded.outcomes.push(outcome),
    onEvent: (_s: Session, type: string, data: Record<string, unknown>) => {
      recorded.events.push({ type, data });
      return recorded.events.length;
    },
  } as RelayPipeline & Recorded;
}

const session = { id: 's1', target: { name: 'kt' } } as unknown as Session;
const command: Command = { protocol: 'kubernetes', kind: 'request', text: 'GET /api/v1/namespaces/default/pods/p/exec' };

/** The API server's side: the test takes each accepted socket and the protocols it was offered. */
let upstreamServer: WebSocketServer;
let upstreamPort: number;
const accepted: Array<{ ws: WebSocket; offered: string[] }> = [];
let answerWith: ((req: http.IncomingMessage, socket: import('node:stream').Duplex) => boolean) | null = null;
/** When set, runs on each accepted upstream socket inside the handshake's callback (before anything else). */
let onAccept: ((ws: WebSocket) => void) | null = null;
let upstreamHttp: http.Server;

/** Warden's side: each upgrade goes to the relay with the options of the next test. */
let front: http.Server;
let frontPort: number;
let next: { pipeline: RelayPipeline; path: string; refusals?: UpgradeRefusals } | null = null;
let lastRelay: Promise<StreamRelay> | null = null;

before(async () => {
  upstreamServer = new WebSocketServer({ noServer: true, handleProtocols: (p) => [...p][0] ?? false });
  upstreamHttp = http.createServer();
  upstreamHttp.on('upgrade', (req, socket, head) => {
    if (answerWith?.(req, socket)) return;
    const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
    upstreamServer.handleUpgrade(req, socket, head, (ws) => {
      onAccept?.(ws);
      accepted.push({ ws, offered });
    });
  });
  await new Promise<void>((r) => upstreamHttp.listen(0, '127.0.0.1', r));
  upstreamPort = (upstreamHttp.address() as AddressInfo).port;
  front = http.createServer();
  front.on('upgrade', (request, socket, head) => {
    const n = next!;
    lastRelay = relayWebSocketUpgrade({ request, socket, head, upstreamUrl: `ws://127.0.0.1:${upstreamPort}${n.path}`,
      upstreamHeaders: { authorization: 'Bearer upstream-secret' }, tls: {}, session, pipeline: n.pipeline, command,
      refusals: n.refusals, refusalKey: 'k' });
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  frontPort = (front.address() as AddressInfo).port;
});

after(() => {
  front.close();
  upstreamHttp.close();
  upstreamServer.close();
});

const EXEC_PATH = '/api/v1/namespaces/default/pods/p/exec?command=sh&stdin=true&stdout=true&tty=true';

/** Connects a kubectl-like client; resolves once open (or with the refusal's status and body). */
function connect(protocols: string[], path = EXEC_PATH): Promise<{ ws: WebSocket; messages: Buffer[] } | { status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${frontPort}${path}`, protocols);
    const messages: Buffer[] = [];
    ws.on('message', (d: Buffer) => messages.push(d));
    ws.once('open', () => resolve({ ws, messages }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', reject);
  });
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), `never: ${what}`);
}

function channelText(messages: Buffer[], channel: number): string {
  return messages.filter((m) => m[0] === channel).map((m) => m.subarray(1).toString()).join('');
}

test('only inspectable subprotocols are offered upstream, and the caller gets the one the API server chose', async () => {
  const p = pipeline(false);
  next = { pipeline: p, path: EXEC_PATH };
  upstreamServer.options.handleProtocols = (offered: Set<string>) => (offered.has('v4.channel.k8s.io') ? 'v4.channel.k8s.io' : false);
  const caller = await connect(['base64.channel.k8s.io', 'v4.channel.k8s.io', 'v5.channel.k8s.io']);
  upstreamServer.options.handleProtocols = (p2: Set<string>) => [...p2][0] ?? false;
  assert.ok('ws' in caller);
  assert.equal(caller.ws.protocol, 'v4.channel.k8s.io');
  const up = accepted.at(-1)!;
  assert.deepEqual(up.offered, ['v5.channel.k8s.io', 'v4.channel.k8s.io']);
  up.ws.send(encodeFrame(3, '{"metadata":{},"status":"Success"}'));
  up.ws.close(1000);
  await (await lastRelay!).closed;
  assert.deepEqual(p.outcomes.map((o) => o.tag), ['exit 0']);
});

test('a caller offering nothing Warden can inspect (SPDY tunnelled over WebSocket) is refused before the API server is asked', async () => {
  const before = accepted.length;
  next = { pipeline: pipeline(false), path: EXEC_PATH.replace('exec', 'portforward').replace(/\?.*/, '?ports=80') };
  // As kubectl 1.31+ asks (ws refuses to send this subprotocol name, so the request is written by hand).
  const refused = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: frontPort, path: next!.path, headers: { connection: 'Upgrade', upgrade: 'websocket',
      'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-protocol': 'SPDY/3.1+portforward.k8s.io' } });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('upgrade', () => reject(new Error('upgraded')));
    req.on('error', reject);
    req.end();
  });
  assert.equal(refused.status, 400);
  assert.match(JSON.parse(refused.body).message, /SPDY.*not relayed/);
  assert.equal(accepted.length, before);
});

test('the API server\'s refusal reaches the caller as sent, and the SPDY fallback gets the same answer', async () => {
  const refusals = new UpgradeRefusals();
  next = { pipeline: pipeline(false), path: EXEC_PATH, refusals };
  const status = '{"kind":"Status","apiVersion":"v1","status":"Failure","message":"pods \\"p\\" not found","reason":"NotFound","code":404}';
  answerWith = (_req, socket) => {
    socket.end(`HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${status.length}\r\n\r\n${status}`);
    return true;
  };
  const refused = await connect(['v5.channel.k8s.io']);
  answerWith = null;
  assert.deepEqual(refused, { status: 404, body: status });
  assert.deepEqual(refusals.take('k'), { code: 404, body: status, contentType: 'application/json' });
});

test('stdout is masked across frames, recorded as asciicast with the resize, and the exit code recorded', async () => {
  const p = pipeline(true);
  next = { pipeline: p, path: EXEC_PATH };
  const caller = await connect(['v5.channel.k8s.io']);
  assert.ok('ws' in caller);
  const up = accepted.at(-1)!;
  const got: Buffer[] = [];
  up.ws.on('message', (d: Buffer) => got.push(d));
  // A resize split over two messages, then one Warden cannot read, then stdin and its close.
  caller.ws.send(encodeFrame(4, '{"Width":100,'));
  caller.ws.send(encodeFrame(4, '"Height":30}'));
  caller.ws.send(encodeFrame(4, '{"Width":-1}'));
  caller.ws.send(encodeFrame(0, 'ls\n'));
  caller.ws.send(encodeFrame(1, 'forged stdout'));
  caller.ws.send(encodeClose(0));
  await until(() => got.length >= 3, 'the API server got resize, stdin and close');
  assert.deepEqual(got.map((m) => [...m.subarray(0, 1)][0]), [4, 0, 255]);
  assert.equal(got[0].subarray(1).toString(), '{"Width":100,"Height":30}');
  up.ws.send(encodeFrame(1, 'card 4111 1111'));
  up.ws.send(encodeFrame(1, ' 1111 1111 end\r\n'));
  up.ws.send(encodeFrame(2, 'warn 5500 0000 0000 0004\n'));
  up.ws.send(encodeFrame(3, JSON.stringify({ status: 'Failure', message: 'exit 3 after 4111111111111111', reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: '3' }] } })));
  up.ws.close(1000);
  await (await lastRelay!).closed;
  const stdout = channelText(caller.messages, 1);
  assert.equal(stdout, 'card [REDACTED] end\r\n');
  assert.equal(channelText(caller.messages, 2), 'warn [REDACTED]\n');
  assert.doesNotMatch(channelText(caller.messages, 3), /4111/);
  assert.equal(p.outcomes[0].tag, 'exit 3');
  const casts = p.events.filter((e) => e.type === 'terminal.events').flatMap((e) => e.data.events as Array<[number, string, string]>);
  assert.deepEqual(casts.filter((e) => e[1] === 'o').map((e) => e[2]).join(''), 'card [REDACTED] end\r\nwarn [REDACTED]\n');
  const start = p.events.find((e) => e.type === 'terminal.start')!;
  assert.deepEqual([start.data.width, start.data.height], [100, 30]);
  assert.ok(p.events.some((e) => e.type === 'kubernetes.stream.dropped' && e.data.from === 'caller'));
  assert.ok(!JSON.stringify(p.events).includes('4111'));
});

test('frames the API server sends with its handshake answer are not lost (a command that ends at once)', async () => {
  const p = pipeline(false);
  next = { pipeline: p, path: EXEC_PATH };
  onAccept = (ws) => {
    ws.send(encodeFrame(1, 'instant\n'));
    ws.send(encodeFrame(3, '{"metadata":{},"status":"Success"}'));
    ws.close(1000);
  };
  const caller = await connect(['v5.channel.k8s.io']);
  onAccept = null;
  assert.ok('ws' in caller);
  await (await lastRelay!).closed;
  await until(() => caller.ws.readyState === caller.ws.CLOSED, 'the caller is closed');
  assert.equal(channelText(caller.messages, 1), 'instant\n');
  assert.deepEqual(p.outcomes.map((o) => o.tag), ['exit 0']);
});

test('a caller that stops reading stalls only its own stream: the API server\'s sends back up, nothing is lost', async () => {
  next = { pipeline: pipeline(false), path: EXEC_PATH };
  const caller = await connect(['v5.channel.k8s.io']);
  assert.ok('ws' in caller);
  const up = accepted.at(-1)!;
  // The caller's socket stops reading; the API server keeps sending 64 KiB messages.
  (caller.ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let sent = 0;
  while (up.ws.bufferedAmount < 4 * 1024 * 1024 && sent < 800) {
    up.ws.send(encodeFrame(1, chunk));
    sent++;
    await new Promise((r) => setImmediate(r));
  }
  assert.ok(sent < 800, 'the API server\'s socket never backed up: Warden kept reading for a caller that does not');
  (caller.ws as unknown as { _socket: import('node:net').Socket })._socket.resume();
  await until(() => channelText(caller.messages, 1).length === sent * chunk.length, 'every byte reached the caller');
  up.ws.close(1000);
  await (await lastRelay!).closed;
});

test('terminate ends both sides, telling the caller why on stderr and the error channel', async () => {
  const p = pipeline(false);
  next = { pipeline: p, path: EXEC_PATH };
  const caller = await connect(['v5.channel.k8s.io']);
  assert.ok('ws' in caller);
  const up = accepted.at(-1)!;
  const upClosed = new Promise((r) => up.ws.once('close', r));
  const callerClosed = new Promise((r) => caller.ws.once('close', r));
  const relay = await lastRelay!;
  relay.terminate('token revoked');
  await Promise.all([upClosed, callerClosed, relay.closed]);
  assert.match(channelText(caller.messages, 2), /warden: session ended: token revoked/);
  assert.match(JSON.parse(channelText(caller.messages, 3)).message, /token revoked/);
  assert.equal(p.outcomes[0].tag, 'terminated: token revoked');
});

test('port-forward: channels outside the request\'s ports are dropped, a wrong port prefix ends the stream', async () => {
  const p = pipeline(false);
  const path = '/api/v1/namespaces/default/pods/p/portforward?ports=8080';
  next = { pipeline: p, path };
  const caller = await connect(['v4.channel.k8s.io'], path);
  assert.ok('ws' in caller);
  const up = accepted.at(-1)!;
  assert.deepEqual(up.offered, ['v4.channel.k8s.io']);
  const got: Buffer[] = [];
  up.ws.on('message', (d: Buffer) => got.push(d));
  caller.ws.send(Buffer.from([0, 0x47, 0x45, 0x54]));
  caller.ws.send(Buffer.from([2, 1]));
  caller.ws.send(Buffer.from([1, 1]));
  up.ws.send(Buffer.concat([Buffer.from([0]), encodePortPrefix(8080), Buffer.from('HTTP/1.1 200')]));
  await until(() => channelText(caller.messages, 0).length > 0 && got.length > 0, 'data both ways');
  assert.deepEqual(got, [Buffer.from([0, 0x47, 0x45, 0x54])]);
  up.ws.send(Buffer.concat([Buffer.from([1]), encodePortPrefix(9999)]));
  await (await lastRelay!).closed;
  assert.match(p.outcomes[0].tag ?? '', /^terminated: /);
  const end = p.events.find((e) => e.type === 'kubernetes.portforward.end')!;
  assert.deepEqual(end.data.ports, [{ port: 8080, bytesIn: 3, bytesOut: 12, errors: '' }]);
});
