/**
 * `warden sessions replay ID [--from S] > s.cast` against a real control API: the spawned CLI writes asciicast v2
 * (checked by a strict parser), --from starts later, bad input gets a usage error, unknown sessions the API's error.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createControlFixture, sessionFixture, type ControlFixture } from '../control/test-fixture.js';
import { TerminalRecorder } from '../recording/asciicast.js';
import { parseCast } from '../recording/cast-replay.js';
import type { SessionEventRecord } from '../store/types.js';
import { runProcess } from '../../test/harness/process.js';

const BIN = fileURLToPath(new URL('../../bin/warden.mjs', import.meta.url));

let fx: ControlFixture;
let url: string;
let cwd: string;

before(async () => {
  fx = await createControlFixture();
  url = await fx.app.listen({ port: 0, host: '127.0.0.1' });
  cwd = await mkdtemp(join(tmpdir(), 'warden-cli-replay-'));
  await fx.store.sessions.insert(sessionFixture('ses_term'));
  const events: SessionEventRecord[] = [];
  let clock = 1_700_000_000_000;
  const term = new TerminalRecorder({
    recorder: { append: (sessionId, type, data) => (events.push({ sessionId, seq: events.length + 1, at: new Date(clock).toISOString(), type, data }), events.length) },
    sessionId: 'ses_term', channel: '0', width: 100, height: 30, term: 'xterm-256color', now: () => clock, timer: false, keyframeMs: 1000,
  });
  for (let i = 0; i < 8; i++) {
    term.output(Buffer.from(`\x1b[1m$\x1b[0m ls ${i}\r\n`));
    clock += 500;
    term.flush();
    await new Promise((r) => setImmediate(r));
  }
  await term.close();
  await fx.store.sessions.appendEvents(events);
});

after(async () => {
  await fx.close();
  await rm(cwd, { recursive: true, force: true });
});

function warden(args: string[]) {
  return runProcess(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, WARDEN_URL: url, WARDEN_TOKEN: fx.adminToken } });
}

describe('warden sessions replay', () => {
  test('writes asciicast v2 to stdout, whole and --from an offset (spawned)', async () => {
    const whole = await warden(['sessions', 'replay', 'ses_term']);
    assert.equal(whole.code, 0, whole.stderr);
    const cast = parseCast(whole.stdout);
    assert.deepEqual([cast.header.width, cast.header.height, cast.header.env], [100, 30, { TERM: 'xterm-256color' }]);
    assert.ok(cast.events.some(([, , d]) => d.includes('ls 7')));
    const later = await warden(['sessions', 'replay', 'ses_term', '--from', '2.2']);
    assert.equal(later.code, 0, later.stderr);
    const part = parseCast(later.stdout);
    assert.ok(part.events.length < cast.events.length);
    assert.equal(part.events[0][0], 0);
  });

  test('refuses a bad --from and reports an unknown session', async () => {
    const bad = await warden(['sessions', 'replay', 'ses_term', '--from', 'soon']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--from must be a number of seconds/);
    const missing = await warden(['sessions', 'replay', 'ses_nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /session ses_nope not found \(WARDEN_ERR_NOT_FOUND\)/);
  });
});
