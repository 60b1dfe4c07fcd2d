/**
 * Path rules and word values: normalisation, temp-directory containment (also for patterns), system and privilege
 * paths, and quote removal including $'...' escapes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { escapes, insideTemp, normalizePath, pathOf, privilegePath, systemPath } from './paths.js';
import { decodeAnsiC } from './words.js';

describe('paths', () => {
  it('normalises lexically and keeps ~', () => {
    const cases: [string, string][] = [
      ['/etc//./ssh/../passwd', '/etc/passwd'], ['/../../etc', '/etc'], ['./a/b/', 'a/b'], ['a/../..', '..'],
      ['~/x/../.ssh', '~/.ssh'], ['~/../..', '~/../..'], ['.', '.'], ['//', '/'], ['/tmp/*/../../etc', '/etc'],
    ];
    for (const [input, expected] of cases) assert.equal(normalizePath(input), expected, input);
  });

  it('finds paths among arguments', () => {
    assert.equal(pathOf('/etc/hosts'), '/etc/hosts');
    assert.equal(pathOf('--file=/etc/x'), '/etc/x');
    assert.equal(pathOf('of=/dev/sda'), '/dev/sda');
    assert.equal(pathOf('-rf'), null);
    assert.equal(pathOf('https://example.com/a'), null);
    assert.equal(pathOf('host:/etc/passwd'), null);
    assert.equal(pathOf('.env'), '.env');
    assert.equal(pathOf('word'), null);
  });

  it('temp containment', () => {
    assert.ok(insideTemp('/tmp/x', false));
    assert.ok(insideTemp('/var/tmp/a/b', false));
    assert.ok(!insideTemp('/tmp', false));
    assert.ok(!insideTemp('/tmpfoo/x', false));
    assert.ok(insideTemp('/tmp/build/*', true));
    assert.ok(!insideTemp('/tmp/.*', true));
    assert.ok(!insideTemp('/t*/x', true));
  });

  it('system and privilege paths', () => {
    assert.ok(systemPath('/', false));
    assert.ok(systemPath('/etc/hosts', false));
    assert.ok(systemPath('/lib64/x', false));
    assert.ok(!systemPath('/dev/null', false));
    assert.ok(!systemPath('/home/alice/x', false));
    assert.ok(systemPath('/e*', true));
    assert.ok(systemPath('/*', true));
    assert.ok(!systemPath('/home/*', true));
    assert.ok(privilegePath('/etc/sudoers.d/x', false));
    assert.ok(privilegePath('/home/bob/.ssh/authorized_keys', false));
    assert.ok(privilegePath('.ssh/config', false));
    assert.ok(privilegePath('/srv/x/authorized_keys2', false));
    assert.ok(privilegePath('/etc/*', true));
    assert.ok(privilegePath('/home/*/.ssh/*', true));
    assert.ok(!privilegePath('/tmp/*', true));
    assert.ok(!privilegePath('/etc/hosts', false));
    assert.ok(escapes('../x'));
    assert.ok(!escapes('a/../b'));
  });
});

describe('words', () => {
  it("decodes $'...' escapes", () => {
    assert.equal(decodeAnsiC('\\x72m'), 'rm');
    assert.equal(decodeAnsiC('\\162\\155'), 'rm');
    assert.equal(decodeAnsiC('\\u0072\\U0000006d'), 'rm');
    assert.equal(decodeAnsiC('a\\nb\\tc\\\\'), 'a\nb\tc\\');
    assert.equal(decodeAnsiC('\\cA'), '\x01');
  });
});
