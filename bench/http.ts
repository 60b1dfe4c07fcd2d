/**
 * The HTTP benchmark behind bench/http.sh: the test upstream (plain HTTP, `/json/customers`, about 0.7 KB of JSON)
 * measured direct, through nginx as a reverse proxy (the peer: what people put in front of an API) and through
 * Warden (recording on, an allow policy, a target with auth none, reached by path prefix with a Warden token), in
 * one run and the same way:
 * - autocannon at 8 and 64 connections: requests/s, p50 and p99 latency;
 * - one kept-alive connection, sequential GETs: p50 and p99 with sub-millisecond precision (Warden's added p50).
 * Goals: Warden's requests/s >= 0.8 of nginx's; added p50 vs direct <= 1 ms.
 * The upstream runs in a process of its own, so the load generator never steals its event loop.
 * Not a test: it prints numbers and ratios. A side that does not answer 200 (Warden's 501 before the engine) is
 * reported as not measured instead of failing the run.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { createInterface } from 'node:readline';
import autocannon, { type Result } from 'autocannon';
import { startNginxProxy } from '../test/harness/nginx.js';
import { ALLOW_ALL_POLICY, startWarden } from '../test/harness/warden.js';

const SECONDS = Number(process.env.BENCH_HTTP_SECONDS ?? 10);
const SEQUENTIAL = Number(process.env.BENCH_HTTP_SEQUENTIAL ?? 2000);
const CONNECTIONS = [8, 64];
const ROUTE = '/json/customers';

interface Side { name: string; url: string; headers: Record<string, string> }
interface Measured { load: Map<number, Result>; sequential: { p50: number; p99: number } }

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const ms = (n: number): string => `${n.toFixed(2)} ms`;

/** One GET: its status, or the error text (a side that cannot answer is reported, not fatal). */
async function probe(side: Side): Promise<string> {
  try {
    const res = await fetch(side.url, { headers: side.headers });
    await res.arrayBuffer();
    return res.status === 200 ? 'ok' : `answered ${res.status}`;
  } catch (err) {
    return `failed: ${(err as Error).message}`;
  }
}

/** `count` sequential GETs over one kept-alive connection; sorted times in ms. */
async function sequential(side: Side, count: number): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      await new Promise<void>((resolve, reject) => {
        http.get(side.url, { agent, headers: side.headers }, (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`${side.name} answered ${res.statusCode}`))));
        }).on('error', reject);
      });
      times.push(performance.now() - t0);
    }
  } finally {
    agent.destroy();
  }
  return times.sort((a, b) => a - b);
}

async function load(side: Side, connections: number, seconds: number): Promise<Result> {
  const result = await autocannon({ url: side.url, connections, duration: seconds, headers: side.headers });
  if (result.errors > 0 || result.non2xx > 0) {
    console.log(`  note: ${side.name} at ${connections} connections: ${result.errors} errors, ${result.non2xx} non-2xx answers`);
  }
  return result;
}

/** Starts the upstream in its own process (bench/http-upstream-process.ts); resolves with its URL and a stop. */
async function startUpstreamProcess(): Promise<{ url: string; close(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', new URL('./http-upstream-process.ts', import.meta.url).pathname],
    { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  const [line] = await Promise.race([once(createInterface({ input: child.stdout! }), 'line'),
    exited.then(() => { throw new Error('the upstream process exited during start'); })]) as [string];
  return { url: line.trim(), close: async () => { child.stdin!.end(); await exited; } };
}

/** Registers the upstream as an http target with auth none, allows everything, and returns a caller token. */
async function prepareWarden(warden: Awaited<ReturnType<typeof startWarden>>, upstreamUrl: string): Promise<string> {
  const res = await fetch(`${warden.url}/api/targets`, { method: 'POST',
    headers: { authorization: `Bearer ${warden.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench-http', type: 'http', url: upstreamUrl, auth: 'none' }) });
  if (res.status !== 201) throw new Error(`target: ${res.status} ${await res.text()}`);
  await warden.applyPolicy(ALLOW_ALL_POLICY);
  const created = await warden.cli(['tokens', 'create', '--user', 'bench', '--ttl', '12h']);
  if (created.code !== 0) throw new Error(created.stderr);
  return created.stdout.trim();
}

async function main(): Promise<void> {
  const upstream = await startUpstreamProcess();
  const nginx = await startNginxProxy(upstream.url);
  // BENCH_WARDEN_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles Warden during the run.
  const nodeArgs = process.env.BENCH_WARDEN_NODE_ARGS?.split(/\s+/).filter(Boolean);
  const warden = await startWarden({ args: ['--log-level', 'warn'], ...(nodeArgs ? { nodeArgs } : {}) });
  try {
    const token = await prepareWarden(warden, upstream.url);
    const sides: Side[] = [
      { name: 'direct', url: `${upstream.url}${ROUTE}`, headers: {} },
      { name: 'nginx', url: `${nginx.url}${ROUTE}`, headers: {} },
      { name: 'warden', url: `http://127.0.0.1:${warden.ports.http}/t/bench-http${ROUTE}`, headers: { authorization: `Bearer ${token}` } },
    ];
    const results = new Map<string, Measured>();
    for (const side of sides) {
      const state = await probe(side);
      if (state !== 'ok') { console.log(`${side.name}: NOT MEASURED (${state})`); continue; }
      await sequential(side, 200); // warm-up: connections, JIT, Warden's session
      await load(side, 8, 1);
      results.set(side.name, { load: new Map(), sequential: { p50: 0, p99: 0 } });
    }
    // Interleaved: each connection count runs every side in turn, so a busy machine slows every side alike.
    for (const connections of CONNECTIONS) {
      for (const side of sides) {
        const r = results.get(side.name);
        if (r) r.load.set(connections, await load(side, connections, SECONDS));
      }
    }
    for (const side of sides) {
      const r = results.get(side.name);
      if (!r) continue;
      const times = await sequential(side, SEQUENTIAL);
      r.sequential = { p50: percentile(times, 50), p99: percentile(times, 99) };
    }
    report(results);
  } finally {
    await warden.stop();
    await nginx.stop();
    await upstream.close();
  }
}

function report(results: Map<string, Measured>): void {
  console.log(`\nGET ${ROUTE} (${SECONDS} s per load run, ${SEQUENTIAL} sequential requests on one connection)`);
  for (const [name, r] of results) {
    const loads = CONNECTIONS.map((c) => {
      const x = r.load.get(c)!;
      return `${c} conn: ${Math.round(x.requests.average)} req/s p50 ${ms(x.latency.p50)} p99 ${ms(x.latency.p99)}`;
    }).join(' | ');
    console.log(`${name.padEnd(7)} ${loads} | 1 conn: p50 ${ms(r.sequential.p50)} p99 ${ms(r.sequential.p99)}`);
  }
  const [d, n, w] = ['direct', 'nginx', 'warden'].map((k) => results.get(k));
  if (!w) {
    console.log('\nWarden was not measured (no engine answering 200 yet): no ratios.');
    return;
  }
  console.log('\nWarden vs nginx (goal requests/s >= 0.8):');
  for (const c of CONNECTIONS) {
    if (n) console.log(`  ${c} connections: ${(w.load.get(c)!.requests.average / n.load.get(c)!.requests.average).toFixed(2)}`);
  }
  if (d) {
    console.log('Warden vs direct, added p50 (goal <= 1 ms):');
    console.log(`  1 connection: ${ms(w.sequential.p50 - d.sequential.p50)} (p99 ${ms(w.sequential.p99 - d.sequential.p99)})`);
    for (const c of CONNECTIONS) console.log(`  ${c} connections: ${ms(w.load.get(c)!.latency.p50 - d.load.get(c)!.latency.p50)}`);
  }
  if (n && d) console.log(`nginx vs direct, added p50 at 1 connection: ${ms(n.sequential.p50 - d.sequential.p50)}`);
}

await main();
