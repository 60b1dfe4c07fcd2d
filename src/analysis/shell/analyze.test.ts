/**
 * The shell guardrail table (test-fixtures.ts): every row's command must give exactly its classes, sorted; the
 * analysis' classes must be the union of its units' classes, and every unit has at least one class. The rows cover
 * reads, writes, destructive, privilege and network commands, what Warden cannot judge, and evasions (quoting,
 * path-named programs, wrappers nested three deep, $'\x72m', ${IFS}, newlines, comments, look-alike letters).
 * The attribute table pins `programs` and normalised `paths`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyzeShell, loadShellParser } from './analyze.js';
import { ATTRIBUTE_TABLE, CLASS_TABLE } from './test-fixtures.js';

await loadShellParser();

describe('analyzeShell: command classes', () => {
  it('has a large table', () => assert.ok(CLASS_TABLE.length >= 100, `only ${CLASS_TABLE.length} rows`));
  for (const [text, expected] of CLASS_TABLE) {
    it(JSON.stringify(text), () => {
      const analysis = analyzeShell(text);
      assert.deepEqual(analysis.classes, expected, JSON.stringify(analysis.units, null, 1));
      const union = [...new Set(analysis.units.flatMap((u) => u.classes))].sort();
      assert.deepEqual(analysis.classes, union);
      for (const unit of analysis.units) assert.ok(unit.classes.length > 0);
    });
  }
});

describe('analyzeShell: programs and paths', () => {
  for (const [text, programs, paths] of ATTRIBUTE_TABLE) {
    it(JSON.stringify(text), () => {
      const units = analyzeShell(text).units;
      const seenPrograms = new Set(units.flatMap((u) => u.attributes.programs));
      const seenPaths = new Set(units.flatMap((u) => u.attributes.paths));
      for (const p of programs) assert.ok(seenPrograms.has(p), `program ${p} missing: ${[...seenPrograms].join(', ')}`);
      for (const p of paths) assert.ok(seenPaths.has(p), `path ${p} missing: ${[...seenPaths].join(', ')}`);
    });
  }
});
