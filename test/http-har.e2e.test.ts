/**
 * The HAR export and the http lines of `sessions show` end to end: a real `warden start`, the test HTTP upstream
 * (HTTPS, bearer credential) as an http target, a policy masking customers' e-mail addresses, callers using fetch
 * and `ws`; then `warden sessions export ID --format har` must be valid HAR 1.2 holding every exchange and the
 * WebSocket messages, masked, and never the upstream credential or the caller's Warden token.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import type { Har } from '../src/recording/har.js';
import { harViolations } from './harness/har-check.js';
import { startHttpUpstream, type HttpUpstream } from './harness/http-upstream.js';
import { pollUntil } from './harness/poll.js';
import { startWarden, type WardenProcess } from './harness/warden.js';

const POLICY = `kind: Policy
name: har
rules:
  - name: everything
    targets: [billing]
    effect: allow
  - name: mask-emails
    targets: [billing]
    mask:
      - fields: ["$.customers[*].email"]
        strategy: redact
`;

let upstream: HttpUpstream;
let warden: WardenProcess;
let token: string;

before(async () => {
  upstream = await startHttpUpstream({ auth: { kind: 'bearer' } });
  warden = await startWarden();
  const res = await fetch(`${warden.url}/api/targets`, { method: 'POST',
    headers: { authorization: `Bearer ${warden.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'billing', type: 'http', url: upstream.url, caCert: upstream.ca, auth: 'bearer', secret: upstream.auth.secret }) });
  assert.equal(res.status, 201, await res.text());
  await warden.applyPolicy(POLICY);
  const created = await warden.cli(['tokens', 'create', '--user', 'hanna', '--ttl', '1h']);
  assert.equal(created.code, 0, created.stderr);
  token = created.stdout.trim();
});
after(async () => {
  await warden?.stop();
  await upstream?.close();
});

test('an HTTP session exports as HAR 1.2 with masked bodies, WebSocket messages and no credential', async () => {
  const base = `http://127.0.0.1:${warden.ports.http}/t/billing`;
  const auth = { authorization: `Bearer ${token}` };
  const customers = await fetch(`${base}/json/customers`, { headers: auth });
  assert.equal(customers.status, 200, await customers.clone().text());
  assert.doesNotMatch(await customers.text(), /customer0001@example\.com/, 'the caller sees the e-mail masked');
  const posted = await fetch(`${base}/echo/items?kind=a`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'widget' }) });
  assert.equal(posted.status, 200);
  await posted.arrayBuffer();
  const ws = new WebSocket(`ws://127.0.0.1:${warden.ports.http}/t/billing/ws/echo`, { headers: auth });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const echoed = new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d))));
  // JSON: with a rule masking JSON fields, a text message that is not JSON would close the WebSocket (1011).
  ws.send('{"hello":"upstream"}');
  assert.equal(await echoed, '{"hello":"upstream"}');
  ws.close(1000, 'done');
  await new Promise((resolve) => ws.once('close', resolve));

  const listed = await warden.cli(['sessions', 'list', '--target', 'billing', '--json']);
  assert.equal(listed.code, 0, listed.stderr);
  const [session] = JSON.parse(listed.stdout) as Array<{ id: string }>;
  assert.ok(session, listed.stdout);
  // The WebSocket's close is recorded when the relay ends; wait for it rather than for a time.
  const { har, text } = await pollUntil('the WebSocket close in the recording', async () => {
    const r = await warden.cli(['sessions', 'export', session.id, '--format', 'har']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as Har;
    return doc.log.entries.some((e) => e._webSocketClose) ? { har: doc, text: r.stdout } : undefined;
  }, { timeoutMs: 30_000 }).catch(async (err: Error) => {
    const shown = await warden.cli(['sessions', 'show', session.id, '--json']);
    throw new Error(`${err.message}\n${shown.stdout}`);
  });

  assert.deepEqual(harViolations(har), []);
  const byPath = (p: string) => har.log.entries.find((e) => new URL(e.request.url).pathname === p);
  const get = byPath('/json/customers')!;
  assert.equal(get.request.url, `${upstream.url}/json/customers`);
  assert.equal(get.response.status, 200);
  assert.match(get.response.content.text ?? '', /"customers"/, 'the masked body is recorded');
  const post = byPath('/echo/items')!;
  assert.equal(post.request.method, 'POST');
  assert.deepEqual(post.request.queryString, [{ name: 'kind', value: 'a' }]);
  assert.equal(post.request.postData?.text, '{"name":"widget"}');
  const upgrade = byPath('/ws/echo')!;
  assert.equal(upgrade._resourceType, 'websocket');
  assert.deepEqual(upgrade._webSocketMessages?.map((m) => [m.type, m.data]), [['send', '{"hello":"upstream"}'], ['receive', '{"hello":"upstream"}']]);
  assert.equal(upgrade._webSocketClose?.code, 1000);
  assert.ok(!text.includes(upstream.auth.secret), 'the upstream credential is not in the HAR');
  assert.ok(!text.includes(token), 'the Warden token is not in the HAR');
  assert.ok(!text.includes('customer0001@example.com'), 'the masked e-mail is not in the HAR');
  // The upstream did get the credential (so the HAR's absence of it is the recording's doing).
  assert.equal(upstream.received.find((r) => r.url === '/json/customers')?.headers.authorization, `Bearer ${upstream.auth.secret}`);

  const show = await warden.cli(['sessions', 'show', session.id]);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /http\.exchange\s+GET \/json\/customers 200 \S+ms up=0B down=\S+ masked=\d+/);
  assert.match(show.stdout, /http\.exchange\s+POST \/echo\/items\?kind=a 200 \S+ms up=17B down=/);
  assert.match(show.stdout, /http\.ws\.message client->server 20B "\{\\"hello\\":\\"upstream\\"\}"/);
});
