/**
 * The data-dir lock with real processes: a live Warden's lock refuses a second start, a lock whose pid is gone or
 * was given to a process started later is taken over, and release removes only our own lock.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { WardenError } from '../errors.js';
import { LOCK_FILE, lockDataDir } from './lock.js';

const children: ChildProcess[] = [];
after(() => { for (const c of children) c.kill('SIGKILL'); });

/** A running process whose command line contains `marker`. */
async function runningProcess(marker: string): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', marker], { stdio: 'ignore' });
  children.push(child);
  await new Promise((resolve) => child.once('spawn', resolve));
  return child.pid!;
}

function dataDirWithLock(pid: number | null, ticks?: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-lock-'));
  if (pid !== null) {
    fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid, startedAt: '2026-01-01T00:00:00.000Z', startTicks: ticks }));
  }
  return dir;
}

/** Field 22 of /proc/PID/stat, as lock.ts reads it. */
function startTicksOf(pid: number): string {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

const readLock = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')) as { pid: number };

describe('lockDataDir', () => {
  test('a live Warden holds the directory', async () => {
    const pid = await runningProcess('bin/warden.mjs');
    const dir = dataDirWithLock(pid, startTicksOf(pid));
    assert.throws(() => lockDataDir(dir), (err: unknown) => err instanceof WardenError && err.code === 'WARDEN_ERR_DATA_DIR_LOCKED'
      && err.message.includes(`in use by another Warden (pid ${pid}`));
    assert.equal(readLock(dir).pid, pid, 'the holder keeps its lock');
  });

  test('a dead pid or a pid reused by a later process is stale', async () => {
    const gone = spawn(process.execPath, ['-e', '0']);
    await new Promise((resolve) => gone.once('exit', resolve));
    const reused = await runningProcess('bin/warden.mjs');
    const earlier = String(Number(startTicksOf(reused)) - 1); // the holder started before this pid was given out again
    for (const [pid, ticks] of [[gone.pid!, undefined], [reused, earlier]] as const) {
      const dir = dataDirWithLock(pid, ticks);
      const lock = lockDataDir(dir);
      assert.equal(readLock(dir).pid, process.pid);
      lock.release();
      assert.equal(fs.existsSync(path.join(dir, LOCK_FILE)), false);
    }
  });

  test('the same process cannot lock twice; release leaves a lock that is not ours', () => {
    const dir = dataDirWithLock(null);
    const lock = lockDataDir(dir);
    assert.throws(() => lockDataDir(dir), /in use by another Warden/);
    fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: 1, startedAt: 'x' }));
    lock.release();
    assert.equal(readLock(dir).pid, 1);
  });
});
