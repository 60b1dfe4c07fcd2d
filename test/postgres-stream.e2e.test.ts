/**
 * End to end: large results stream through Warden with flat memory. A 1 GB COPY goes from the real server through
 * Warden to real psql, and a caller that stops reading makes Warden stop reading the upstream (backpressure)
 * instead of buffering. Memory is Warden's resident set from /proc, sampled while the bytes flow.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { startStack, type Stack } from './harness/stack.js';

let stack: Stack;
let token: string;
before(async () => {
  stack = await startStack();
  token = await stack.token('streamer');
});
after(async () => stack?.stop());

/** Warden's resident set size in MB. */
function wardenRssMb(): number {
  const status = fs.readFileSync(`/proc/${stack.warden.child.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** Samples Warden's RSS every 50 ms until stopped; returns the peak. */
function sampleRss(): { stop(): number } {
  let peak = wardenRssMb();
  const timer = setInterval(() => (peak = Math.max(peak, wardenRssMb())), 50);
  return { stop: () => { clearInterval(timer); return Math.max(peak, wardenRssMb()); } };
}

test('a 1 GB result streams to psql with flat memory', async () => {
  // Warm up so the baseline includes a session's steady-state allocations.
  assert.equal((await stack.psql(['-c', 'SELECT 1'], { user: 'streamer', token })).code, 0);
  const baseline = wardenRssMb();
  const sampler = sampleRss();
  const child = spawn('psql', ['-X', '-h', '127.0.0.1', '-p', String(stack.warden.ports.postgres), '-U', 'streamer', '-d',
    stack.target, '-c', "COPY (SELECT repeat('x', 1023) FROM generate_series(1, 1048576)) TO STDOUT"],
  { env: { ...process.env, PGPASSWORD: token, PGSSLMODE: 'require' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let bytes = 0;
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (bytes += d.length));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const peak = sampler.stop();
  assert.equal(code, 0, stderr);
  assert.equal(bytes, 1024 * 1048576, 'every byte of the 1 GiB result arrived');
  console.log(`1 GiB stream: baseline ${baseline.toFixed(0)} MB, peak ${peak.toFixed(0)} MB`);
  assert.ok(peak - baseline < 120, `Warden grew by ${(peak - baseline).toFixed(0)} MB while streaming 1 GiB`);
});

test('a caller that stops reading pauses the upstream instead of filling Warden\'s memory', async () => {
  const c = await stack.client({ user: 'streamer', password: token });
  const socket = (c as unknown as { connection: { stream: import('node:net').Socket } }).connection.stream;
  const baseline = wardenRssMb();
  const sampler = sampleRss();
  let rows = 0;
  const done = new Promise<void>((resolve, reject) => {
    const q = c.query("SELECT repeat('y', 1000) AS v FROM generate_series(1, 400000)");
    q.then((r) => { rows = r.rowCount ?? 0; resolve(); }, reject);
  });
  // Stop reading for two seconds while the server has 400 MB to send.
  socket.pause();
  await new Promise((r) => setTimeout(r, 2000));
  const pausedPeak = wardenRssMb();
  socket.resume();
  await done;
  const peak = sampler.stop();
  await c.end();
  assert.equal(rows, 400_000);
  console.log(`stalled caller: baseline ${baseline.toFixed(0)} MB, paused peak ${pausedPeak.toFixed(0)} MB, peak ${peak.toFixed(0)} MB`);
  assert.ok(pausedPeak - baseline < 64, `Warden buffered ${(pausedPeak - baseline).toFixed(0)} MB for a stalled caller`);
  assert.ok(peak - baseline < 200, `Warden grew by ${(peak - baseline).toFixed(0)} MB`);
});
