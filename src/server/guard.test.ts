/**
 * The process guard, in a child process of its own (the test runner has its own handlers): an unhandled rejection
 * and an uncaught exception are logged and contained, the process goes on; a storm of uncaught exceptions calls
 * `onStorm` once.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';

const guard = fileURLToPath(new URL('./guard.ts', import.meta.url));

function runScript(body: string): { status: number | null; stdout: string; stderr: string } {
  const script = `
    import pino from 'pino';
    import { installProcessGuard, STORM_LIMIT } from ${JSON.stringify(guard)};
    const logger = pino({ level: 'info' }, process.stderr);
    ${body}`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

it('contains an unhandled rejection and an uncaught exception: the process goes on', () => {
  const r = runScript(`
    installProcessGuard(logger, () => console.log('storm'));
    Promise.reject(new Error('nobody awaited me'));
    setTimeout(() => { throw new Error('thrown from a callback'); }, 5);
    setTimeout(() => console.log('still serving'), 50);`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'still serving');
  assert.match(r.stderr, /unhandled promise rejection contained/);
  assert.match(r.stderr, /nobody awaited me/);
  assert.match(r.stderr, /uncaught exception contained/);
  assert.match(r.stderr, /thrown from a callback/);
});

it('calls onStorm once when uncaught exceptions come too fast to trust the process', () => {
  const r = runScript(`
    installProcessGuard(logger, () => console.log('storm'));
    for (let k = 0; k < STORM_LIMIT + 5; k++) setTimeout(() => { throw new Error('again ' + k); }, 1);
    setTimeout(() => console.log('done'), 100);`);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['storm', 'done']);
});

it('without the guard the same rejection ends the process (what the guard is for)', () => {
  const r = runScript(`
    Promise.reject(new Error('nobody awaited me'));
    setTimeout(() => console.log('still serving'), 50);`);
  assert.notEqual(r.status, 0);
  assert.equal(r.stdout.trim(), '');
});
