import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WardenError } from '../../errors.js';
import { checkStartupSettings, dependsOnSettings, reportedSettingRefusal, settingsBarrier } from './session-settings.js';

test('the server must report standard_conforming_strings on and client_encoding UTF8 at login', () => {
  checkStartupSettings({ standard_conforming_strings: 'on', client_encoding: 'UTF8', server_encoding: 'LATIN1' });
  for (const bad of <Record<string, string>[]>[{ standard_conforming_strings: 'off', client_encoding: 'UTF8' }, { standard_conforming_strings: 'on', client_encoding: 'SJIS' },
    { standard_conforming_strings: 'on', client_encoding: 'SQL_ASCII' }, { client_encoding: 'UTF8' }, { standard_conforming_strings: 'on' }]) {
    assert.throws(() => checkStartupSettings(bad), (err: unknown) => err instanceof WardenError && err.code === 'WARDEN_ERR_FORBIDDEN', JSON.stringify(bad));
  }
});

test('a ParameterStatus is judged by name and exact value', () => {
  assert.equal(reportedSettingRefusal('standard_conforming_strings', 'on'), undefined);
  assert.equal(reportedSettingRefusal('client_encoding', 'UTF8'), undefined);
  assert.equal(reportedSettingRefusal('application_name', 'anything'), undefined);
  assert.match(reportedSettingRefusal('standard_conforming_strings', 'off')!, /standard_conforming_strings/);
  assert.match(reportedSettingRefusal('client_encoding', 'BIG5')!, /BIG5/);
});

test('text that depends on settings waits for the upstream, and is refused inside a batch that ran something', () => {
  assert.equal(dependsOnSettings('SELECT 1'), false);
  assert.equal(dependsOnSettings("SELECT E'\\\\'"), true);
  assert.equal(dependsOnSettings("SELECT 'é'"), true);
  const busy = { idle: false, ranSinceSync: false };
  assert.equal(settingsBarrier('DELETE FROM t', busy), 'now', 'plain ASCII without a backslash reads the same under any setting');
  assert.equal(settingsBarrier("SELECT 'x\\'", busy), 'wait');
  assert.equal(settingsBarrier("SELECT 'x\\'", { idle: true, ranSinceSync: false }), 'now');
  assert.equal(settingsBarrier("SELECT 'ü'", { idle: true, ranSinceSync: true }), 'refuse');
  assert.equal(settingsBarrier("SELECT 'ü'", { idle: false, ranSinceSync: true }), 'refuse');
});
