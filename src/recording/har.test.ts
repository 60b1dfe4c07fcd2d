/**
 * HAR export from synthetic recorded events, checked against the HAR 1.2 spec's required fields and types by a
 * small checker written from the spec (http://www.softwareishard.com/blog/har-12-spec/), plus what Warden adds:
 * URLs under the target's URL, WebSocket messages as Chrome's `_webSocketMessages`, bodies and their comments.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HttpExchangeRecord } from '../protocols/http/exchange-record.js';
import type { SessionEventRecord, SessionRecord } from '../store/types.js';
import { harViolations } from '../../test/harness/har-check.js';
import { buildHar, entryUrl } from './har.js';

const SESSION: SessionRecord = {
  id: 'ses_http', protocol: 'http', subject: 'alice', subjectKind: 'user', groups: [], chain: [], tokenId: 'tok_1',
  target: 'billing-api', database: '', clientAddress: '127.0.0.1:50000', startedAt: '2030-01-01T00:00:00.000Z', endedAt: null, endReason: null,
};

function exchange(over: Partial<HttpExchangeRecord>): HttpExchangeRecord {
  return {
    requestId: 'req_1', startedAt: '2030-01-01T00:00:01.000Z', method: 'GET', path: '/v1/customers', query: 'page=2&q=a%20b',
    requestHeaders: [['accept', 'application/json'], ['user-agent', 'curl/8']], status: 200,
    responseHeaders: [['content-type', 'application/json']], durationMs: 12.5, requestBytes: 0, responseBytes: 64,
    responseBody: { text: '{"email":"***"}', contentType: 'application/json' }, masked: { email: 1 }, ...over,
  };
}

let seq = 0;
const event = (type: string, data: object, at = '2030-01-01T00:00:01.000Z'): SessionEventRecord =>
  ({ sessionId: 'ses_http', seq: ++seq, at, type, data: data as Record<string, unknown> });

test('the checker catches what HAR 1.2 requires', () => {
  assert.deepEqual(harViolations({ log: { version: '1.2', creator: { name: 'x', version: '1' }, entries: [] } }), []);
  const broken = harViolations({ log: { version: '1.1', creator: { name: 'x' }, entries: [{ startedDateTime: 'yesterday', time: 1,
    request: { method: 'GET', url: '/rel', httpVersion: 'HTTP/1.1', cookies: [], headers: [{ name: 'a' }], queryString: [], headersSize: -1, bodySize: 0 },
    response: { status: 200, statusText: '', httpVersion: 'HTTP/1.1', cookies: [], headers: [], redirectURL: '', headersSize: -1, bodySize: 0, content: { size: 0 } },
    cache: {}, timings: { send: 0, wait: 0 } }] } });
  assert.deepEqual(broken.sort(), ['log.creator.version: missing or not string', 'log.entries[0].request.headers[0].value: missing or not string',
    'log.entries[0].request.url: not absolute', 'log.entries[0].response.content.mimeType: missing or not string',
    'log.entries[0].startedDateTime: not ISO 8601', 'log.entries[0].timings.receive: missing or not a number >= -1', 'log.version: not "1.2"']);
});

test('exchanges become HAR 1.2 entries with the target URL, query pairs, bodies and masking counts', () => {
  const events = [
    event('statement', { text: 'GET /v1/customers?page=2' }),
    event('http.exchange', exchange({})),
    event('http.exchange', exchange({ requestId: 'req_2', startedAt: '2030-01-01T00:00:02.000Z', method: 'POST', path: '/v1/invoices', query: '',
      requestHeaders: [['content-type', 'application/json']], requestBytes: 300, requestBody: { text: '{"amount":', truncated: true },
      status: 302, responseHeaders: [['location', '/v1/invoices/7']], responseBytes: 0, responseBody: undefined, masked: undefined })),
    event('http.exchange', exchange({ requestId: 'req_3', startedAt: '2030-01-01T00:00:03.000Z', path: '/blob', query: '', status: 502,
      responseBody: { omitted: 'binary' }, responseHeaders: [], error: 'upstream reset the connection' })),
  ];
  const har = buildHar(SESSION, events, { baseUrl: 'https://billing.internal:8443/api/', version: '1.2.3' });
  assert.deepEqual(harViolations(JSON.parse(JSON.stringify(har))), []);
  assert.deepEqual(har.log.creator, { name: 'Warden', version: '1.2.3' });
  const [get, post, failed] = har.log.entries;
  assert.equal(har.log.entries.length, 3);
  assert.equal(get.request.url, 'https://billing.internal:8443/api/v1/customers?page=2&q=a%20b');
  assert.deepEqual(get.request.queryString, [{ name: 'page', value: '2' }, { name: 'q', value: 'a b' }]);
  assert.deepEqual(get.request.headers, [{ name: 'accept', value: 'application/json' }, { name: 'user-agent', value: 'curl/8' }]);
  assert.equal(get.request.postData, undefined);
  assert.deepEqual(get.response.content, { size: 64, mimeType: 'application/json', text: '{"email":"***"}' });
  assert.equal(get.response.statusText, 'OK');
  assert.deepEqual(get._masked, { email: 1 });
  assert.deepEqual(get.timings, { send: 0, wait: 12.5, receive: 0 });
  assert.deepEqual(post.request.postData, { mimeType: 'application/json', text: '{"amount":', comment: 'body cut to the recording limit' });
  assert.equal(post.request.bodySize, 300);
  assert.equal(post.response.redirectURL, '/v1/invoices/7');
  assert.equal(post.response.statusText, 'Found');
  assert.equal(failed.response.content.comment, 'body not recorded: binary');
  assert.equal(failed.response.content.mimeType, 'x-unknown');
  assert.equal(failed.comment, 'upstream reset the connection');
});

test('WebSocket messages and the close land on their upgrade entry (recorded after them) as Chrome does it', () => {
  // As the engine records them: the upgrade's exchange comes when the socket has ended, after its messages.
  const events = [
    event('http.exchange', exchange({ requestId: 'req_other' })),
    event('http.ws.message', { requestId: 'req_ws', direction: 'client', text: 'hello', bytes: 5, binary: false }, '2030-01-01T00:00:01.500Z'),
    event('http.ws.message', { requestId: 'req_ws', direction: 'server', bytes: 3, binary: true }, '2030-01-01T00:00:01.750Z'),
    event('http.ws.message', { requestId: 'req_gone', direction: 'server', text: 'orphan', bytes: 6, binary: false }),
    event('http.ws.close', { requestId: 'req_ws', code: 1000, reason: 'bye' }),
    event('http.exchange', exchange({ requestId: 'req_ws', path: '/ws/echo', query: '', status: 101, websocket: true, responseBody: undefined, responseBytes: 0 })),
  ];
  const har = buildHar(SESSION, events, { version: '0' });
  assert.deepEqual(harViolations(JSON.parse(JSON.stringify(har))), []);
  const ws = har.log.entries.find((e) => e._requestId === 'req_ws')!;
  assert.equal(ws._resourceType, 'websocket');
  assert.equal(ws.request.url, 'http://billing-api/ws/echo');
  assert.deepEqual(ws._webSocketMessages, [
    { type: 'send', time: Date.parse('2030-01-01T00:00:01.500Z') / 1000, opcode: 1, data: 'hello' },
    { type: 'receive', time: Date.parse('2030-01-01T00:00:01.750Z') / 1000, opcode: 2, data: '' },
  ]);
  assert.deepEqual(ws._webSocketClose, { code: 1000, reason: 'bye' });
  assert.equal(har.log.entries.find((e) => e._requestId === 'req_other')!._webSocketMessages, undefined);
});

test('entryUrl joins the target URL path and the recorded path', () => {
  assert.equal(entryUrl('https://h:1', '/a', ''), 'https://h:1/a');
  assert.equal(entryUrl('https://h/base/', '/a/b', 'x=1'), 'https://h/base/a/b?x=1');
  assert.equal(entryUrl('http://h/base', '/', ''), 'http://h/base/');
});
