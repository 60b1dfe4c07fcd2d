/**
 * Tests of the Notifier against a real HTTP server on 127.0.0.1 (node:http): the generic JSON body, the Slack body,
 * retries after failures (with shortened delays), giving up, and that notify never blocks nor throws.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, beforeEach, describe, test } from 'node:test';
import { pino } from 'pino';
import type { ApprovalRequest } from '../store/types.js';
import { MAX_SLACK_STATEMENT, STATEMENT_WITHHELD, notifiedRequest, slackCode, slackPayload, webhookPayload } from './messages.js';
import { Notifier } from './notifier.js';

interface Hit {
  path: string;
  contentType: string | undefined;
  body: any;
}

let server: Server;
let base: string;
let hits: Hit[];
/** Status codes to answer with, per path, consumed in order; 200 once exhausted. */
let script: Map<string, number[]>;
let logLines: string[];

const logger = pino({ level: 'debug' }, new Writable({ write(chunk, _e, done) { logLines.push(String(chunk)); done(); } }));

before(async () => {
  server = createServer((req, res) => {
    let text = '';
    req.on('data', (d) => (text += d));
    req.on('end', () => {
      const path = req.url ?? '';
      hits.push({ path, contentType: req.headers['content-type'], body: JSON.parse(text) });
      const status = script.get(path)?.shift() ?? 200;
      res.writeHead(status).end(status === 200 ? 'ok' : 'nope');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  hits = [];
  script = new Map();
  logLines = [];
});

function request(over: Partial<ApprovalRequest> = {}): ApprovalRequest {
  return {
    id: 'apr_test1', kind: 'statement', status: 'pending', requester: 'bot', requesterKind: 'agent', requesterGroups: ['agents'],
    chain: [{ id: 'alice', kind: 'user' }, { id: 'bot', kind: 'agent' }], sessionId: 'ses_1', target: 'prod-db',
    statement: 'DELETE FROM orders WHERE id < 100', classes: ['write'], reason: 'cleanup <!channel>', rule: 'prod/deletes',
    approvers: { groups: ['dba'], users: [], count: 1 }, timeoutSeconds: 300, accessSeconds: null,
    createdAt: '2030-01-01T00:00:00.000Z', expiresAt: '2030-01-01T00:05:00.000Z', decidedAt: null, decisions: [],
    statusReason: null, statementKey: 'k1', recordedStatement: 'DELETE FROM orders WHERE id < 100', ...over,
  };
}

function notifier(paths: { webhook?: string[]; slack?: string[] }, retryDelaysMs = [10, 10, 10]): Notifier {
  return new Notifier({
    webhookUrls: (paths.webhook ?? []).map((p) => `${base}${p}`), slackWebhookUrls: (paths.slack ?? []).map((p) => `${base}${p}`),
    publicUrl: 'https://warden.example.com/', logger, retryDelaysMs,
  });
}

describe('Notifier', () => {
  test('posts the generic JSON body and the Slack body', async () => {
    const n = notifier({ webhook: ['/hook'], slack: ['/services/T000/B000/SECRETPART'] });
    n.notify('approval.requested', request());
    await n.idle();
    assert.equal(hits.length, 2);
    const generic = hits.find((h) => h.path === '/hook')!;
    assert.equal(generic.contentType, 'application/json');
    assert.deepEqual(generic.body, {
      event: 'approval.requested', request: notifiedRequest(request()), approveCommand: 'warden approvals approve apr_test1',
      url: 'https://warden.example.com/api/approvals/apr_test1',
    });
    const slack = hits.find((h) => h.path.startsWith('/services/'))!.body as { text: string; blocks: any[] };
    assert.match(slack.text, /bot \(agent\) on behalf of alice -&gt; bot asks for approval of a statement on prod-db/);
    const all = slack.blocks.map((b) => b.text.text).join('\n');
    for (const part of ['```DELETE FROM orders WHERE id &lt; 100```', '*Target:* prod-db', '*Classes:* write',
      'cleanup &lt;!channel&gt;', 'warden approvals approve apr_test1', 'https://warden.example.com/api/approvals/apr_test1']) {
      assert.ok(all.includes(part), `missing ${part} in ${all}`);
    }
    assert.ok(slack.blocks.every((b) => b.type === 'section' && b.text.type === 'mrkdwn'));
    assert.ok(!logLines.join('').includes('SECRETPART'), 'a webhook URL path reached the log');
  });

  test('retries a receiver that fails twice, then succeeds', async () => {
    script.set('/flaky', [500, 503]);
    const n = notifier({ webhook: ['/flaky'] });
    n.notify('approval.approved', request({ status: 'approved', decisions: [{ by: 'bob', decision: 'approve', at: '2030-01-01T00:01:00.000Z' }] }));
    await n.idle();
    assert.equal(hits.length, 3);
    assert.ok(hits.every((h) => h.body.event === 'approval.approved'));
    assert.ok(!logLines.join('').includes('giving up'));
  });

  test('gives up after the last delay and logs only the receiver origin', async () => {
    script.set('/dead/secret-token', [500, 500, 500, 500, 500]);
    const n = notifier({ slack: ['/dead/secret-token'] }, [5, 5]);
    n.notify('approval.denied', request({ status: 'denied' }));
    await n.idle();
    assert.equal(hits.length, 3);
    const log = logLines.join('');
    assert.match(log, /giving up/);
    assert.match(log, /HTTP 500/);
    assert.ok(log.includes(base));
    assert.ok(!log.includes('secret-token'));
  });

  test('network errors are retried too, and notify returns at once without throwing', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const n = new Notifier({ webhookUrls: [`http://127.0.0.1:${port}/x`], slackWebhookUrls: [], publicUrl: 'http://w', logger, retryDelaysMs: [5] });
    assert.equal(n.notify('approval.expired', request({ status: 'expired' })), undefined);
    assert.doesNotThrow(() => n.notify('approval.cancelled', { broken: true } as unknown as ApprovalRequest));
    // notify returned before any delivery finished: nothing has failed or given up yet.
    assert.doesNotMatch(logLines.join(''), /ECONNREFUSED|giving up/);
    await n.idle();
    assert.match(logLines.join(''), /ECONNREFUSED/);
    assert.match(logLines.join(''), /"attempts":2.*giving up/);
  });

  test('idle(timeoutMs) stops waiting for a receiver that keeps failing', { timeout: 30_000 }, async () => {
    script.set('/slow', [500, 500, 500]);
    const n = notifier({ webhook: ['/slow'] }, [60_000]);
    n.notify('approval.requested', request());
    await n.idle(100);
    // idle returned while the retry (a minute away) was still pending: one attempt, no final failure logged.
    assert.equal(hits.length, 1);
    assert.doesNotMatch(logLines.join(''), /giving up/);
  });

  test('without webhooks, notify does nothing', async () => {
    const n = notifier({});
    assert.equal(n.disabled, true);
    n.notify('approval.requested', request());
    await n.idle();
    assert.equal(hits.length, 0);
  });
});

describe('Slack message', () => {
  test('notifications carry the statement as recorded (values redacted), never what the approver sees in Warden', () => {
    const held = request({ statement: "UPDATE cards SET n = $1\n-- with bound values: $1 = \"4111111111111111\"",
      recordedStatement: 'UPDATE cards SET n = $1\n-- with bound values: $1 = "[redacted]"' });
    const generic = JSON.stringify(webhookPayload('approval.requested', held, 'http://w'));
    const slack = JSON.stringify(slackPayload('approval.approved', held, 'http://w'));
    for (const body of [generic, slack]) {
      assert.ok(!body.includes('4111111111111111'), body);
      assert.ok(body.includes('[redacted]'), body);
      assert.ok(!body.includes('statementKey') && !body.includes('recordedStatement'), body);
    }
    // A request stored before the redacted copy existed shows no statement at all.
    const old = JSON.stringify(slackPayload('approval.requested', request({ recordedStatement: undefined }), 'http://w'));
    assert.ok(old.includes(STATEMENT_WITHHELD) && !old.includes('DELETE FROM orders'), old);
    assert.equal(notifiedRequest(request({ kind: 'access', statement: null, recordedStatement: null })).statement, null);
  });

  test('long statements are cut and code fences cannot close the block', () => {
    const code = slackCode(`SELECT 1; \`\`\` <@U123> ${'x'.repeat(3000)}`);
    assert.ok(code.startsWith('```') && code.endsWith('```'));
    assert.equal(code.slice(3, -3).includes('```'), false);
    assert.ok(code.includes('&lt;@U123&gt;'));
    assert.match(code, /more characters\)```$/);
    assert.ok(code.length < MAX_SLACK_STATEMENT + 100);
  });

  test('access requests and final events read well', () => {
    const access = request({ kind: 'access', statement: null, classes: [], accessSeconds: 3600, rule: null, chain: [], requester: 'alice', requesterKind: 'user' });
    assert.equal(slackPayload('approval.requested', access, 'http://w').text, 'alice (user) asks for approval of access to prod-db for 1h');
    const denied = { ...access, status: 'denied' as const, decisions: [{ by: 'root', decision: 'deny' as const, at: 'x' }] };
    const payload = slackPayload('approval.denied', denied, 'http://w');
    assert.equal(payload.text, 'Denied by root: access to prod-db for 1h for alice');
    assert.equal(payload.blocks.length, 2);
  });
});

describe('an address known only once the API is bound', () => {
  test('notifications raised before wait, then carry the bound address', async () => {
    let bound: string | undefined;
    const notifier = new Notifier({ webhookUrls: [`${base}/generic`], slackWebhookUrls: [`${base}/slack`],
      publicUrl: () => bound, logger, retryDelaysMs: [] });
    notifier.notify('approval.expired', request({ id: 'apr_early', status: 'expired' }));
    await notifier.idle();
    assert.equal(hits.length, 0, 'nothing is sent with an unknown address');
    bound = 'http://127.0.0.1:41234';
    notifier.addressKnown();
    notifier.notify('approval.requested', request({ id: 'apr_late' }));
    await notifier.idle();
    const generic = hits.filter((h) => h.path === '/generic').map((h) => [h.body.event, h.body.url]);
    assert.deepEqual(generic, [['approval.expired', 'http://127.0.0.1:41234/api/approvals/apr_early'],
      ['approval.requested', 'http://127.0.0.1:41234/api/approvals/apr_late']]);
    const slack = hits.filter((h) => h.path === '/slack').map((h) => JSON.stringify(h.body));
    assert.equal(slack.length, 2);
    assert.ok(slack.some((body) => body.includes('Details: http://127.0.0.1:41234/api/approvals/apr_late')), slack.join('\n'));
  });
});
