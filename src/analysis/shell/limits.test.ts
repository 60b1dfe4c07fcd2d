/**
 * The bounds analyzeShell keeps so hostile text fails closed: nesting deeper than MAX_DEPTH (substitutions, `sh -c`
 * in `sh -c`, wrappers in wrappers), text longer than MAX_SHELL_TEXT, more than MAX_UNITS commands, and long
 * text under the limit still analysed exactly.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyzeShell, loadShellParser, SHELL_LIMITS } from './analyze.js';

await loadShellParser();

function nestSubstitutions(levels: number, inner: string): string {
  return 'echo ' + '$(echo '.repeat(levels) + `$(${inner})` + ')'.repeat(levels);
}

function nestShells(levels: number, inner: string): string {
  let text = inner;
  for (let i = 0; i < levels; i++) text = `sh -c ${JSON.stringify(text)}`;
  return text;
}

describe('analyzeShell limits', () => {
  it('nested substitutions within the limit are analysed down to the innermost command', () => {
    const analysis = analyzeShell(nestSubstitutions(5, 'rm -rf /'));
    assert.deepEqual(analysis.classes, ['destructive', 'read', 'write']);
  });

  it('substitutions nested past the limit are unknown', () => {
    const analysis = analyzeShell(nestSubstitutions(SHELL_LIMITS.MAX_DEPTH + 5, 'ls'));
    assert.ok(analysis.classes.includes('unknown'), analysis.classes.join());
  });

  it('sh -c inside sh -c: three deep analysed, past the limit unknown', () => {
    assert.deepEqual(analyzeShell(nestShells(3, 'rm -rf /')).classes, ['destructive', 'write']);
    assert.ok(analyzeShell(nestShells(SHELL_LIMITS.MAX_DEPTH + 2, 'ls')).classes.includes('unknown'));
  });

  it('wrappers nested past the limit are unknown', () => {
    const text = 'nohup '.repeat(SHELL_LIMITS.MAX_DEPTH + 3) + 'ls';
    assert.ok(analyzeShell(text).classes.includes('unknown'));
    assert.deepEqual(analyzeShell('nohup '.repeat(5) + 'ls').classes, ['read']);
  });

  it('text longer than MAX_SHELL_TEXT is unknown', () => {
    const analysis = analyzeShell('ls ' + 'a'.repeat(SHELL_LIMITS.MAX_SHELL_TEXT));
    assert.deepEqual(analysis.classes, ['unknown']);
    assert.match(analysis.parseError ?? '', /longer than/);
  });

  it('long text under the limit is analysed: a destructive command at the end is found', () => {
    const text = 'ls /var/log; '.repeat(300) + 'rm -rf /etc';
    assert.ok(text.length < SHELL_LIMITS.MAX_SHELL_TEXT);
    const analysis = analyzeShell(text);
    assert.deepEqual(analysis.classes, ['destructive', 'read', 'write']);
    assert.equal(analysis.units.length, 301);
  });

  it('more than MAX_UNITS commands are unknown', () => {
    const analysis = analyzeShell('ls;'.repeat(SHELL_LIMITS.MAX_UNITS + 10));
    assert.ok(analysis.classes.includes('unknown'));
  });
});
