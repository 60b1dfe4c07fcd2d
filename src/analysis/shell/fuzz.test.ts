/**
 * Fuzz-style properties of analyzeShell: random bytes, random shell-looking token soups and mutations of the table's
 * commands never throw, and always give at least one unit, each with at least one known class, the analysis'
 * classes being their sorted union. The generator is seeded (a fixed xorshift), so a failure is reproducible.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyzeShell, loadShellParser } from './analyze.js';
import { CLASS_TABLE } from './test-fixtures.js';
import { SHELL_CLASSES } from './types.js';

await loadShellParser();

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

const TOKENS = ['rm', '-rf', '/', 'sudo', 'sh', '-c', '"', "'", '$(', ')', '`', '|', '||', '&&', ';', '&', '>', '>>',
  '<', '<<EOF\n', '\nEOF\n', '<<<', '{', '}', '(', ')', '$X', '${IFS}', '\\', '\n', ' ', 'cat', 'xargs', 'find',
  '-exec', '\\;', '{}', 'if', 'then', 'fi', 'for', 'do', 'done', 'case', 'esac', ';;', '$((', '))', '!', '#', '~',
  '..', '*', '?', '[', ']', '=', 'export', 'PATH=', 'eval', 'ssh', 'env', '$\'\\x72\'', 'é', 'м', '\t'];

function check(text: string): void {
  const analysis = analyzeShell(text);
  assert.ok(analysis.units.length > 0, `no unit for ${JSON.stringify(text)}`);
  for (const unit of analysis.units) {
    assert.ok(unit.classes.length > 0, `a unit without class for ${JSON.stringify(text)}`);
    for (const cls of unit.classes) assert.ok((SHELL_CLASSES as readonly string[]).includes(cls), cls);
    assert.ok(Array.isArray(unit.attributes.programs) && Array.isArray(unit.attributes.paths));
  }
  const union = [...new Set(analysis.units.flatMap((u) => u.classes))].sort();
  assert.deepEqual(analysis.classes, union);
  if (analysis.parseError !== undefined) assert.deepEqual(analysis.classes, ['unknown']);
}

describe('analyzeShell never throws and always classifies', () => {
  it('random bytes (as latin1 and as UTF-8)', () => {
    const next = rng(12);
    for (let i = 0; i < 1500; i++) {
      const bytes = Buffer.from(Array.from({ length: Math.floor(next() * 120) }, () => Math.floor(next() * 256)));
      check(bytes.toString('latin1'));
      check(bytes.toString('utf8'));
    }
  });

  it('random shell token soups', () => {
    const next = rng(99);
    for (let i = 0; i < 1500; i++) {
      const n = 1 + Math.floor(next() * 30);
      let text = '';
      for (let j = 0; j < n; j++) text += TOKENS[Math.floor(next() * TOKENS.length)] + (next() < 0.6 ? ' ' : '');
      check(text);
    }
  });

  it('table commands cut and spliced at random points', () => {
    const next = rng(7);
    for (let i = 0; i < 1500; i++) {
      const [a] = CLASS_TABLE[Math.floor(next() * CLASS_TABLE.length)];
      const [b] = CLASS_TABLE[Math.floor(next() * CLASS_TABLE.length)];
      check(a.slice(0, Math.floor(next() * (a.length + 1))) + b.slice(Math.floor(next() * (b.length + 1))));
    }
  });

  it('text that fails to parse is unknown, never read', () => {
    for (const text of ['ls "', "ls '", 'ls $(', 'if true; then ls', 'ls |', 'case x in', '((', '{ ls;', 'ls <<<']) {
      const analysis = analyzeShell(text);
      assert.deepEqual(analysis.classes, ['unknown'], text);
      assert.ok(analysis.parseError, text);
    }
  });
});
