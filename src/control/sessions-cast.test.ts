/**
 * `GET /api/sessions/:id/cast`: a recorded terminal session served as asciicast v2 (whole and from an offset),
 * documented in OpenAPI, admin-only like the other recording routes, 404 for an unknown session or one without a
 * terminal, 400 for a bad offset.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { TerminalRecorder } from '../recording/asciicast.js';
import { parseCast } from '../recording/cast-replay.js';
import type { SessionEventRecord } from '../store/types.js';
import { createControlFixture, sessionFixture, type ControlFixture } from './test-fixture.js';

let fx: ControlFixture;
before(async () => { fx = await createControlFixture(); });
after(async () => { await fx?.close(); });

function call(opts: InjectOptions & { token?: string }): Promise<LightMyRequestResponse> {
  const { token, ...rest } = opts;
  return fx.app.inject({ ...rest, headers: { authorization: `Bearer ${token ?? fx.adminToken}` } });
}

/** Records a short terminal session into the store through a TerminalRecorder. */
async function recordTerminal(id: string): Promise<void> {
  await fx.store.sessions.insert(sessionFixture(id));
  const events: SessionEventRecord[] = [];
  let clock = 1_700_000_000_000;
  const term = new TerminalRecorder({
    recorder: { append: (sessionId, type, data) => (events.push({ sessionId, seq: events.length + 1, at: new Date(clock).toISOString(), type, data }), events.length) },
    sessionId: id, channel: '0', width: 80, height: 24, now: () => clock, timer: false, keyframeMs: 1000,
  });
  for (let i = 0; i < 10; i++) {
    term.output(Buffer.from(`$ echo ${i}\r\n${i}\r\n`));
    clock += 400;
    term.flush();
    await new Promise((r) => setImmediate(r));
  }
  await term.close();
  await fx.store.sessions.appendEvents(events);
}

describe('GET /api/sessions/:id/cast', () => {
  test('serves the terminal as asciicast v2, whole and from an offset', async () => {
    await recordTerminal('ses_pty');
    const whole = await call({ method: 'GET', url: '/api/sessions/ses_pty/cast' });
    assert.equal(whole.statusCode, 200, whole.body);
    assert.match(String(whole.headers['content-type']), /^application\/x-asciicast/);
    const cast = parseCast(whole.body);
    assert.equal(cast.header.width, 80);
    assert.equal(cast.events.filter(([, c]) => c === 'o').map(([, , d]) => d).join('').split('\r\n').filter((l) => l.startsWith('$')).length, 10);
    const later = await call({ method: 'GET', url: '/api/sessions/ses_pty/cast?from=2.5' });
    assert.equal(later.statusCode, 200, later.body);
    const part = parseCast(later.body);
    assert.equal(part.events[0][0], 0);
    assert.ok(part.events.length < cast.events.length);
  });

  test('404 for an unknown session and for a session without a terminal; 400 for a bad offset', async () => {
    assert.equal((await call({ method: 'GET', url: '/api/sessions/ses_none/cast' })).statusCode, 404);
    await fx.store.sessions.insert(sessionFixture('ses_sql'));
    const sql = await call({ method: 'GET', url: '/api/sessions/ses_sql/cast' });
    assert.equal(sql.statusCode, 404);
    assert.match(sql.body, /no terminal recording/);
    assert.equal((await call({ method: 'GET', url: '/api/sessions/ses_sql/cast?from=-1' })).statusCode, 400);
  });

  test('is for admins only, like the other recording routes', async () => {
    const { token } = await fx.tokens.issue({ subject: 'bob', groups: ['dev'], ttlSeconds: 600 });
    assert.equal((await call({ method: 'GET', url: '/api/sessions/ses_pty/cast', token })).statusCode, 403);
  });

  test('is documented in OpenAPI', async () => {
    const doc = (await fx.app.inject({ method: 'GET', url: '/api/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>> };
    assert.ok(doc.paths['/api/sessions/{id}/cast'].get);
  });
});
