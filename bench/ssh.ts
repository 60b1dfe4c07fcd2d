/**
 * The SSH benchmark behind bench/ssh.sh: one throwaway sshd, Warden in front of it (recording on, the default
 * policy of a production target: destructive and unknown refused, the rest allowed), and the same operations direct
 * and through Warden in one run. Not a test: it prints numbers and ratios, and fails only if an operation fails.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Client, ConnectConfig } from 'ssh2';
import { runProcess } from '../test/harness/process.js';
import { connectSsh2, execSsh2, startSshStack } from '../test/harness/ssh-stack.js';

const SCP_MB = Number(process.env.BENCH_SCP_MB ?? 1024);
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

async function rssMb(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: Math.round(kb('VmRSS') / 1024), peak: Math.round(kb('VmHWM') / 1024) };
}

async function timeExecs(client: Client, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    const r = await execSsh2(client, 'true');
    if (r.code !== 0) throw new Error(`exec true failed: ${JSON.stringify(r)}`);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return times.sort((a, b) => a - b);
}

async function main(): Promise<void> {
  const stack = await startSshStack({ policy: POLICY, wardenArgs: ['--log-level', 'warn'] });
  const { sshd } = stack;
  try {
    const token = await stack.token('bench', '--ttl', '12h');
    const direct: Partial<ConnectConfig> = { privateKey: sshd.account.privateKey };
    const pid = stack.warden.child.pid!;

    // 1. scp of SCP_MB MiB, each way counted once (upload), direct then through Warden.
    const file = path.join(stack.tempDir, 'big.bin');
    const handle = await fs.open(file, 'w');
    const chunk = randomBytes(1024 * 1024);
    for (let i = 0; i < SCP_MB; i++) await handle.write(chunk);
    await handle.close();
    const remote = `bench-${randomBytes(4).toString('hex')}.bin`;
    const scpDirect = async () => runProcess('scp', ['-q', '-P', String(sshd.port), '-i', sshd.account.privateKeyFile,
      '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-F', '/dev/null',
      file, `${sshd.account.user}@127.0.0.1:${remote}`]);
    const scpWarden = async () => stack.run('scp', ['-q', file, `bench@web-1@127.0.0.1:${remote}`], { token });
    const throughput = async (name: string, f: () => Promise<{ code: number; stderr: string }>) => {
      const t0 = Date.now();
      const r = await f();
      const s = (Date.now() - t0) / 1000;
      if (r.code !== 0) throw new Error(`${name} scp failed: ${r.stderr}`);
      return SCP_MB / s;
    };
    const scpD = await throughput('direct', scpDirect);
    const scpW = await throughput('warden', scpWarden);
    const sum = createHash('sha256').update(await fs.readFile(path.join(sshd.account.home, remote))).digest('hex');
    const want = createHash('sha256').update(await fs.readFile(file)).digest('hex');
    if (sum !== want) throw new Error('the file through Warden differs');
    await fs.rm(path.join(sshd.account.home, remote), { force: true });
    await fs.rm(file, { force: true });
    console.log(`scp ${SCP_MB} MiB: direct ${scpD.toFixed(1)} MiB/s, through Warden ${scpW.toFixed(1)} MiB/s, ratio ${(scpW / scpD).toFixed(2)} (goal >= 0.7)`);

    // 2. exec `true` latency on one connection (a channel per exec), direct vs through Warden.
    const dc = await connectSsh2(sshd.port, sshd.account.user, direct);
    const wc = await connectSsh2(stack.warden.ports.ssh, 'bench:web-1', { password: token });
    await timeExecs(dc, 20);
    await timeExecs(wc, 20);
    const d = await timeExecs(dc, EXECS);
    const w = await timeExecs(wc, EXECS);
    dc.end();
    wc.end();
    const row = (p: number) => `p${p} direct ${percentile(d, p).toFixed(2)} ms, Warden ${percentile(w, p).toFixed(2)} ms, added ${(percentile(w, p) - percentile(d, p)).toFixed(2)} ms`;
    console.log(`exec true x${EXECS}: ${row(50)}; ${row(99)} (goal: added <= 5 ms at p50)`);

    // 3. SESSIONS concurrent sessions through Warden, each running PER_SESSION execs.
    const before = await rssMb(pid);
    const t0 = Date.now();
    let failed = 0;
    await Promise.all(Array.from({ length: SESSIONS }, async () => {
      const c = await connectSsh2(stack.warden.ports.ssh, 'bench:web-1', { password: token });
      try {
        for (let i = 0; i < PER_SESSION; i++) if ((await execSsh2(c, `echo ${i}`)).stdout !== `${i}\n`) failed++;
      } finally {
        c.end();
      }
    }));
    const after = await rssMb(pid);
    console.log(`${SESSIONS} sessions x ${PER_SESSION} execs: ${SESSIONS * PER_SESSION - failed}/${SESSIONS * PER_SESSION} succeeded in `
      + `${((Date.now() - t0) / 1000).toFixed(1)} s; Warden RSS ${before.rss} MB before, ${after.rss} MB after, peak ${after.peak} MB`);
    if (failed > 0) process.exitCode = 1;
  } finally {
    await stack.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
