/**
 * The SSH benchmark behind bench/ssh.sh: one throwaway sshd (the target), Warden in front of it (recording on, the
 * guardrail policy of a production target: destructive and unknown refused, the rest allowed) and a second sshd as
 * an OpenSSH jump host (the peer: `scp -J`, what people do without Warden). The same operations run direct, through
 * Warden and through the jump host in one run, interleaved so a busy neighbour slows all three alike:
 *   1. scp of BENCH_SCP_MB MiB up and down (OpenSSH 9's scp speaks SFTP), median throughput of BENCH_ROUNDS rounds,
 *      the ratios, and where the CPU went (scp and ssh, each sshd's session processes, Warden) per GiB moved;
 *   2. exec of `true` on one logged-in connection (a channel per exec): p50 and p99 latency and what each hop adds;
 *   3. BENCH_SESSIONS concurrent sessions each running BENCH_PER_SESSION execs: all must succeed; Warden's memory.
 * Not a test: it prints numbers and fails only if an operation fails or a copied file differs.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Client } from 'ssh2';
import { execSsh2, startSshStack } from '../test/harness/ssh-stack.js';
import { startSshd } from '../test/harness/sshd.js';
import { TreeCpu } from './proc-cpu.js';
import { makeRoutes, type Route, type RoutePids } from './ssh-routes.js';

const SCP_MB = Number(process.env.BENCH_SCP_MB ?? 1024);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const EXECS = Number(process.env.BENCH_EXECS ?? 300);
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 50);
const PER_SESSION = Number(process.env.BENCH_PER_SESSION ?? 20);
const POLICY = `kind: Policy
name: bench-guardrails
rules:
  - name: block-destructive
    match: { classes: [destructive, unknown] }
    effect: deny
    message: destructive commands are blocked
  - name: the-rest
    match: { classes: [read, write, network, privilege, shell] }
    effect: allow
`;

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const median = (values: number[]): number => percentile([...values].sort((a, b) => a - b), 50);
const fixed = (n: number, digits = 2): string => n.toFixed(digits);

async function rssMb(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: Math.round(kb('VmRSS') / 1024), peak: Math.round(kb('VmHWM') / 1024) };
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** One scp run: wall seconds and CPU seconds by party (client = scp and its ssh processes). */
async function scpOnce(route: Route, from: string, to: string, pids: RoutePids): Promise<{ seconds: number; cpu: Record<string, number> }> {
  const { args, env } = route.scp(from, to);
  const meter = new TreeCpu({ sshd: pids.sshd, ...(route.name === 'jump' ? { jump: pids.jump } : {}), ...(route.name === 'warden' ? { warden: pids.warden } : {}) });
  await meter.start();
  const t0 = process.hrtime.bigint();
  const child = spawn('scp', args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  meter.add('client', child.pid);
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve, reject) => { child.on('error', reject); child.on('close', resolve); });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const { cpu } = await meter.stop();
  if (code !== 0) throw new Error(`${route.name} scp ${from} ${to} failed (${code}): ${stderr}`);
  return { seconds, cpu };
}

/** scp up and down through every route, ROUNDS times, rotating the order; prints throughput, ratios and CPU. */
async function benchScp(routes: Route[], pids: RoutePids, dir: string, home: string): Promise<void> {
  const file = path.join(dir, 'big.bin');
  const handle = await fs.open(file, 'w');
  const chunk = randomBytes(1024 * 1024);
  for (let i = 0; i < SCP_MB; i++) await handle.write(chunk);
  await handle.close();
  const want = await sha256(file);
  const tag = randomBytes(4).toString('hex');
  const results = new Map<string, Array<{ seconds: number; cpu: Record<string, number> }>>();
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < routes.length; i++) {
        const route = routes[(round + i) % routes.length];
        const remote = `bench-${tag}-${route.name}.bin`;
        const local = path.join(dir, `down-${route.name}.bin`);
        const up = await scpOnce(route, file, `REMOTE:${remote}`, pids);
        const down = await scpOnce(route, `REMOTE:${remote}`, local, pids);
        if (round === 0 && (await sha256(path.join(home, remote)) !== want || await sha256(local) !== want)) {
          throw new Error(`the file copied through ${route.name} differs`);
        }
        for (const [dirName, r] of [['up', up], ['down', down]] as const) {
          const key = `${dirName} ${route.name}`;
          results.set(key, [...(results.get(key) ?? []), r]);
        }
        await fs.rm(local, { force: true });
      }
    }
  } finally {
    await fs.rm(file, { force: true });
    for (const route of routes) await fs.rm(path.join(home, `bench-${tag}-${route.name}.bin`), { force: true });
  }
  console.log(`scp of ${SCP_MB} MiB (SFTP protocol), median of ${ROUNDS} rounds, ${os.cpus().length} cores shared by scp, ssh, sshd and Warden:`);
  for (const dirName of ['up', 'down']) {
    const rate = (name: string) => median(results.get(`${dirName} ${name}`)!.map((r) => SCP_MB / r.seconds));
    const [d, w, j] = [rate('direct'), rate('warden'), rate('jump')];
    console.log(`  ${dirName.padEnd(4)} direct ${fixed(d, 1)} MiB/s, Warden ${fixed(w, 1)} MiB/s, jump host ${fixed(j, 1)} MiB/s;`
      + ` Warden/direct ${fixed(w / d)} (goal >= 0.7), jump/direct ${fixed(j / d)}, Warden/jump ${fixed(w / j)}`);
  }
  console.log(`  CPU seconds per GiB moved (median; client = scp and ssh; the hop is Warden or the jump host's sshd):`);
  for (const dirName of ['up', 'down']) {
    for (const route of routes) {
      const runs = results.get(`${dirName} ${route.name}`)!;
      const part = (p: string) => median(runs.map((r) => ((r.cpu[p] ?? 0) * 1024) / SCP_MB));
      const hop = route.name === 'warden' ? ` Warden ${fixed(part('warden'))}` : route.name === 'jump' ? ` jump sshd ${fixed(part('jump'))}` : '';
      const total = median(runs.map((r) => (Object.values(r.cpu).reduce((a, b) => a + b, 0) * 1024) / SCP_MB));
      console.log(`    ${dirName.padEnd(4)} ${route.name.padEnd(6)} client ${fixed(part('client'))}, target sshd ${fixed(part('sshd'))},${hop}; total ${fixed(total)}`);
    }
  }
}

async function timeExecs(client: Client, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    const r = await execSsh2(client, 'true');
    if (r.code !== 0) throw new Error(`exec true failed: ${JSON.stringify(r)}`);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return times;
}

/** exec `true` on one connection per route, interleaved in batches of 10; prints p50/p99 and what each hop adds. */
async function benchExec(routes: Route[]): Promise<void> {
  const clients = await Promise.all(routes.map((r) => r.connect()));
  const times = routes.map(() => [] as number[]);
  try {
    for (const c of clients) await timeExecs(c, 10); // warm-up
    for (let done = 0; done < EXECS; done += 10) {
      for (let i = 0; i < routes.length; i++) times[i].push(...await timeExecs(clients[i], Math.min(10, EXECS - done)));
    }
  } finally {
    for (const c of clients) c.end();
  }
  const sorted = times.map((t) => [...t].sort((a, b) => a - b));
  const at = (name: string, p: number) => percentile(sorted[routes.findIndex((r) => r.name === name)], p);
  console.log(`exec true x${EXECS} per route (one connection each, a channel per exec):`);
  for (const p of [50, 99]) {
    console.log(`  p${p} direct ${fixed(at('direct', p))} ms, Warden ${fixed(at('warden', p))} ms (adds ${fixed(at('warden', p) - at('direct', p))} ms),`
      + ` jump host ${fixed(at('jump', p))} ms (adds ${fixed(at('jump', p) - at('direct', p))} ms)${p === 50 ? '; goal: Warden adds <= 5 ms at p50' : ''}`);
  }
}

/** SESSIONS concurrent sessions per route, each running PER_SESSION execs; prints success, time and Warden's memory. */
async function benchSessions(routes: Route[], wardenPid: number): Promise<boolean> {
  console.log(`${SESSIONS} concurrent sessions x ${PER_SESSION} execs of \`echo N\`:`);
  let ok = true;
  for (const route of routes) {
    const before = route.name === 'warden' ? await rssMb(wardenPid) : undefined;
    const t0 = Date.now();
    let failed = 0;
    await Promise.all(Array.from({ length: SESSIONS }, async () => {
      let c: Client;
      try {
        c = await route.connect();
      } catch {
        failed += PER_SESSION;
        return;
      }
      try {
        for (let i = 0; i < PER_SESSION; i++) {
          const r = await execSsh2(c, `echo ${i}`).catch(() => undefined);
          if (r?.stdout !== `${i}\n`) failed++;
        }
      } finally {
        c.end();
      }
    }));
    const total = SESSIONS * PER_SESSION;
    const memory = before ? await rssMb(wardenPid).then((after) => `; Warden RSS ${before.rss} MB before, ${after.rss} MB after, peak ${after.peak} MB`) : '';
    console.log(`  ${route.name.padEnd(6)} ${total - failed}/${total} succeeded in ${fixed((Date.now() - t0) / 1000, 1)} s${memory}`);
    if (failed > 0) ok = false;
  }
  return ok;
}

async function main(): Promise<void> {
  // BENCH_WARDEN_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles Warden during the run.
  const nodeArgs = process.env.BENCH_WARDEN_NODE_ARGS?.split(/\s+/).filter(Boolean);
  const stack = await startSshStack({ policy: POLICY, wardenArgs: ['--log-level', 'warn'], nodeArgs });
  const jump = await startSshd().catch(async (err: unknown) => { await stack.stop(); throw err; });
  try {
    const token = await stack.token('bench', '--ttl', '12h');
    const { routes, pids } = await makeRoutes(stack, jump, token);
    const only = process.env.BENCH_ONLY?.split(/[\s,]+/) ?? ['scp', 'exec', 'sessions'];
    if (only.includes('scp')) await benchScp(routes, pids, stack.tempDir, stack.sshd.account.home);
    if (only.includes('exec')) await benchExec(routes);
    if (only.includes('sessions') && !await benchSessions(routes, pids.warden!)) process.exitCode = 1;
  } finally {
    await jump.stop();
    await stack.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
