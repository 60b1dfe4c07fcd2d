/**
 * `warden sessions export ID --format har` and the http lines of `warden sessions show`, spawned against a real
 * control API holding a recorded HTTP session: HAR to stdout and to --output, URLs under the target's URL (from the
 * API), --base-url, the fallback when the target is gone, usage errors, and one show line per exchange.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createControlFixture, sessionFixture, type ControlFixture } from '../control/test-fixture.js';
import type { HttpExchangeRecord } from '../protocols/http/exchange-record.js';
import type { Har } from '../recording/har.js';
import { runProcess } from '../../test/harness/process.js';

const BIN = fileURLToPath(new URL('../../bin/warden.mjs', import.meta.url));

let fx: ControlFixture;
let url: string;
let cwd: string;

function exchange(requestId: string, over: Partial<HttpExchangeRecord>): HttpExchangeRecord {
  return {
    requestId, startedAt: '2030-01-01T00:00:01.000Z', method: 'GET', path: '/v1/customers', query: 'page=2',
    requestHeaders: [['accept', 'application/json']], status: 200, responseHeaders: [['content-type', 'application/json']],
    durationMs: 3.25, requestBytes: 0, responseBytes: 2048, responseBody: { text: '{"customers":[{"email":"***"}]}' },
    masked: { 'customers-email': 2, email: 1 }, ...over,
  };
}

before(async () => {
  fx = await createControlFixture();
  url = await fx.app.listen({ port: 0, host: '127.0.0.1' });
  cwd = await mkdtemp(join(tmpdir(), 'warden-cli-har-'));
  for (const [id, target] of [['ses_http', 'billing-api'], ['ses_gone', 'deleted-api']]) {
    await fx.store.sessions.insert(sessionFixture(id, { protocol: 'http', target, database: '' }));
  }
  const data = [
    ['http.exchange', exchange('req_1', {})],
    ['http.exchange', exchange('req_2', { startedAt: '2030-01-01T00:00:02.000Z', method: 'DELETE', path: '/v1/invoices/7', query: '',
      status: 403, durationMs: 0.5, responseBytes: 120, masked: undefined })],
    ['http.exchange', exchange('req_ws', { startedAt: '2030-01-01T00:00:03.000Z', path: '/ws', query: '', status: 101, websocket: true, responseBytes: 0 })],
    ['http.ws.message', { requestId: 'req_ws', direction: 'client', text: 'ping\x1b[2J', bytes: 8, binary: false }],
    ['http.ws.close', { requestId: 'req_ws', code: 1000, reason: 'done' }],
  ] as const;
  for (const sessionId of ['ses_http', 'ses_gone']) {
    await fx.store.sessions.appendEvents(data.map(([type, d], i) => ({
      sessionId, seq: i + 1, at: `2030-01-01T00:00:0${i + 1}.000Z`, type, data: d as unknown as Record<string, unknown> })));
  }
  const created = await fx.app.inject({ method: 'POST', url: '/api/targets', headers: { authorization: `Bearer ${fx.adminToken}` },
    payload: { name: 'billing-api', type: 'http', url: 'https://billing.internal:8443/api', auth: 'none' } });
  assert.equal(created.statusCode, 201, created.body);
});

after(async () => {
  await fx.close();
  await rm(cwd, { recursive: true, force: true });
});

function warden(args: string[]) {
  return runProcess(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, WARDEN_URL: url, WARDEN_TOKEN: fx.adminToken } });
}

describe('warden sessions export --format har', () => {
  test('prints HAR 1.2 with URLs under the target\'s URL and WebSocket messages (spawned)', async () => {
    const r = await warden(['sessions', 'export', 'ses_http', '--format', 'har']);
    assert.equal(r.code, 0, r.stderr);
    const har = JSON.parse(r.stdout) as Har;
    assert.equal(har.log.version, '1.2');
    assert.equal(har.log.creator.name, 'Warden');
    assert.deepEqual(har.log.entries.map((e) => `${e.request.method} ${e.request.url} ${e.response.status}`), [
      'GET https://billing.internal:8443/api/v1/customers?page=2 200',
      'DELETE https://billing.internal:8443/api/v1/invoices/7 403',
      'GET https://billing.internal:8443/api/ws 101',
    ]);
    assert.deepEqual(har.log.entries[2]._webSocketMessages?.map((m) => [m.type, m.data]), [['send', 'ping\x1b[2J']]);
  });

  test('--output writes a 0600 file; --base-url replaces the URL; a deleted target falls back to http://NAME', async () => {
    const r = await warden(['sessions', 'export', 'ses_http', '--format', 'har', '--output', 'out.har', '--base-url', 'http://localhost:9000']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /wrote 3 entries to .*out\.har/);
    const file = join(cwd, 'out.har');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const har = JSON.parse(await readFile(file, 'utf8')) as Har;
    assert.equal(har.log.entries[0].request.url, 'http://localhost:9000/v1/customers?page=2');
    const gone = await warden(['sessions', 'export', 'ses_gone', '--format', 'har']);
    assert.equal(gone.code, 0, gone.stderr);
    assert.equal((JSON.parse(gone.stdout) as Har).log.entries[0].request.url, 'http://deleted-api/v1/customers?page=2');
  });

  test('usage errors: no or another format, a bad --base-url; an unknown session gets the API\'s error', async () => {
    const none = await warden(['sessions', 'export', 'ses_http']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /--format must be har/);
    const cast = await warden(['sessions', 'export', 'ses_http', '--format', 'cast']);
    assert.equal(cast.code, 2);
    assert.match(cast.stderr, /got "cast".*sessions replay/);
    const bad = await warden(['sessions', 'export', 'ses_http', '--format', 'har', '--base-url', 'ftp://x']);
    assert.equal(bad.code, 2);
    const missing = await warden(['sessions', 'export', 'ses_nope', '--format', 'har']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /session ses_nope not found/);
  });
});

test('warden sessions show: one line per exchange with method, path, status, duration, sizes and masked count', async () => {
  const r = await warden(['sessions', 'show', 'ses_http']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.ok(lines.includes('   +1.000s  http.exchange  GET /v1/customers?page=2 200 3.25ms up=0B down=2.0KiB masked=3'), r.stdout);
  assert.ok(lines.includes('   +2.000s  http.exchange  DELETE /v1/invoices/7 403 0.50ms up=0B down=120B'), r.stdout);
  assert.ok(lines.some((l) => /\+3\.000s\s+http\.exchange\s+GET \/ws\s+101 .* websocket$/.test(l)), r.stdout);
  assert.ok(lines.includes('   +4.000s  http.ws.message client->server 8B "ping\\u001b[2J"'), r.stdout);
  assert.ok(lines.includes('   +5.000s  http.ws.close  close 1000 "done"'), r.stdout);
  assert.ok(!r.stdout.includes('\x1b'), 'no raw escape reaches the terminal');
});
