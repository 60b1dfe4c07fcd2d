/**
 * Before loadShellParser() has finished, analyzeShell fails closed (unknown, with a parseError naming the loader);
 * afterwards the same text is analysed. Runs in its own process (node --test), so the parser starts unloaded here;
 * the loader is started from another working directory to show the grammar is found from anywhere.
 */
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { it } from 'node:test';
import { analyzeShell, loadShellParser } from './analyze.js';

it('fails closed before the parser is loaded, then works from any working directory', async () => {
  const before = analyzeShell('ls');
  assert.deepEqual(before.classes, ['unknown']);
  assert.match(before.parseError ?? '', /loadShellParser/);
  const cwd = process.cwd();
  process.chdir(tmpdir());
  try {
    await Promise.all([loadShellParser(), loadShellParser()]);
  } finally {
    process.chdir(cwd);
  }
  await loadShellParser();
  assert.deepEqual(analyzeShell('ls').classes, ['read']);
});
