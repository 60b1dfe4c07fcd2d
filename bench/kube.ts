/**
 * The Kubernetes benchmark behind bench/kube.sh: the test API server with 10,000 pods (bench/kube-apiserver-load.ts),
 * Warden in front of it (recording on, a policy allowing reads), and `kubectl proxy` in front of it as the peer
 * (what people put in front of a cluster without Warden), all measured the same way in one run:
 * - one API request (GET a pod) over a kept-alive connection, p50 and p99 (Warden's added latency per request);
 * - `kubectl get pods` wall time, p50 and p99 (each run is a new kubectl process: a new connection, so a new Warden
 *   session, discovery from kubectl's cache);
 * - a list of the 10,000 pods, items per second (throughput ratio).
 * Not a test: it prints numbers and ratios, and fails only if a request fails.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../test/harness/ports.js';
import { runProcess } from '../test/harness/process.js';
import { KUBECTL, type KubectlHome } from '../test/harness/kube/kubectl.js';
import { startWarden } from '../test/harness/warden.js';
import { BENCH_NAMESPACE, measureList, startLoadedApiServer } from './kube-apiserver-load.js';

const GETS = Number(process.env.BENCH_KUBE_GETS ?? 30);
const REQUESTS = Number(process.env.BENCH_KUBE_REQUESTS ?? 500);
const LISTS = Number(process.env.BENCH_KUBE_LISTS ?? 10);
const POLICY = `kind: Policy
name: bench-kube
rules:
  - name: reads
    match: { classes: [read] }
    effect: allow
`;

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** GETs `path` `count` times over one kept-alive connection; returns sorted times in ms. */
async function timeRequests(url: string, token: string, ca: string | undefined, pathName: string, count: number): Promise<number[]> {
  const plain = url.startsWith('http:');
  const agent = plain ? new http.Agent({ keepAlive: true, maxSockets: 1 }) : new https.Agent({ keepAlive: true, maxSockets: 1, ca });
  const get = plain ? http.get : https.get;
  const times: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      await new Promise<void>((resolve, reject) => {
        get(`${url}${pathName}`, { agent, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), accept: 'application/json' } }, (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`GET ${pathName} answered ${res.statusCode}`))));
        }).on('error', reject);
      });
      times.push(performance.now() - t0);
    }
  } finally {
    agent.destroy();
  }
  return times.sort((a, b) => a - b);
}

/** A kubectl runner for one kubeconfig file, with its own HOME (discovery cache). */
async function kubectlFor(kubeconfig: string): Promise<KubectlHome> {
  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'warden-bench-kubectl-'));
  const file = path.join(home, 'kubeconfig');
  await fs.writeFile(file, kubeconfig, { mode: 0o600 });
  const env = { ...process.env, KUBECONFIG: file, HOME: home, KUBECACHEDIR: path.join(home, 'cache') };
  return { home, kubeconfig: file, env, run: (args, o = {}) => runProcess(KUBECTL, args, { env, stdin: o.stdin }),
    spawn: () => { throw new Error('not used'); }, remove: () => fs.rm(home, { recursive: true, force: true }) };
}

const ms = (n: number): string => `${n.toFixed(2)} ms`;

async function main(): Promise<void> {
  const api = await startLoadedApiServer();
  const warden = await startWarden({ args: ['--log-level', 'warn'] });
  const proxyPort = await freePort();
  const cleanup: Array<() => Promise<unknown>> = [() => warden.stop(), () => api.stop()];
  try {
    const res = await fetch(`${warden.url}/api/targets`, { method: 'POST',
      headers: { authorization: `Bearer ${warden.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bench-k8s', type: 'kubernetes', server: api.url, caCert: api.caCert, token: api.token }) });
    if (res.status !== 201) throw new Error(`target: ${res.status} ${await res.text()}`);
    await warden.applyPolicy(POLICY);
    const created = await warden.cli(['tokens', 'create', '--user', 'bench', '--ttl', '12h']);
    if (created.code !== 0) throw new Error(created.stderr);
    const token = created.stdout.trim();
    const printed = await warden.cli(['kubeconfig', 'bench-k8s', '--token', token], { env: { WARDEN_DATA_DIR: warden.dataDir } });
    if (printed.code !== 0) throw new Error(printed.stderr);
    const wardenCa = await fs.readFile(path.join(warden.dataDir, 'tls.crt'), 'utf8');
    const wardenUrl = `https://127.0.0.1:${warden.ports.kubernetes}/k8s/bench-k8s`;

    const direct = await api.kubectl();
    cleanup.push(() => direct.remove());
    const viaWarden = await kubectlFor(printed.stdout);
    cleanup.push(() => viaWarden.remove());
    // The peer: kubectl proxy (plain HTTP on loopback, its own credential), and a kubectl pointed at it.
    const proxy = spawn(KUBECTL, ['proxy', '--port', String(proxyPort), '--address', '127.0.0.1'], { env: direct.env, stdio: 'ignore' });
    cleanup.unshift(async () => proxy.kill());
    const proxyUrl = `http://127.0.0.1:${proxyPort}`;
    for (let i = 0; i < 100 && !(await fetch(`${proxyUrl}/version`).then((r) => r.ok, () => false)); i++) await new Promise((r) => setTimeout(r, 100));
    const viaProxy = await kubectlFor(JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'p', cluster: { server: proxyUrl } }],
      contexts: [{ name: 'p', context: { cluster: 'p', user: 'p' } }], users: [{ name: 'p', user: {} }], 'current-context': 'p' }));
    cleanup.push(() => viaProxy.remove());

    const pod = '/api/v1/namespaces/default/pods/web';
    const sides = [
      { name: 'direct', url: api.url, token: api.token, ca: api.caCert, kubectl: direct },
      { name: 'warden', url: wardenUrl, token, ca: wardenCa, kubectl: viaWarden },
      { name: 'kubectl proxy', url: proxyUrl, token: '', ca: undefined, kubectl: viaProxy },
    ];
    // Interleaved rounds (each side a slice in turn), so a busy machine slows every side alike.
    const results = Object.fromEntries(sides.map((side) => [side.name, { req: [] as number[], get: [] as number[], items: 0, listMs: 0, bytes: 0 }]));
    for (const side of sides) {
      await timeRequests(side.url, side.token, side.ca, pod, 20); // warm-up
      await side.kubectl.run(['get', 'pods', '-n', 'default']); // discovery into kubectl's cache
    }
    for (let round = 0; round < 10; round++) {
      for (const side of sides) {
        const r = results[side.name];
        r.req.push(...await timeRequests(side.url, side.token, side.ca, pod, Math.ceil(REQUESTS / 10)));
        for (let i = 0; i < Math.ceil(GETS / 10); i++) {
          const t0 = performance.now();
          const got = await side.kubectl.run(['get', 'pods', '-n', 'default']);
          if (got.code !== 0) throw new Error(`kubectl get pods (${side.name}) failed: ${got.stderr}`);
          r.get.push(performance.now() - t0);
        }
        const list = await measureList(side.url, side.token, side.ca ?? '', `/api/v1/namespaces/${BENCH_NAMESPACE}/pods`, Math.ceil(LISTS / 10));
        r.items += list.itemsPerSecond * list.ms.reduce((a, b) => a + b, 0) / 1000;
        r.listMs += list.ms.reduce((a, b) => a + b, 0);
        r.bytes = list.bytes;
      }
    }
    const summary = (name: string) => {
      const r = results[name];
      r.req.sort((a, b) => a - b);
      r.get.sort((a, b) => a - b);
      return { req: r.req, get: { p50: percentile(r.get, 50), p99: percentile(r.get, 99) }, list: r.items / (r.listMs / 1000), bytes: r.bytes };
    };
    for (const side of sides) {
      const r = summary(side.name);
      console.log(`${side.name.padEnd(14)} GET pod p50 ${ms(percentile(r.req, 50))} p99 ${ms(percentile(r.req, 99))} | `
        + `kubectl get pods p50 ${ms(r.get.p50)} p99 ${ms(r.get.p99)} | list ${Math.round(r.list)} items/s `
        + `(${(r.bytes / 1e6).toFixed(1)} MB per list)`);
    }
    const [d, w, p] = sides.map((side) => summary(side.name));
    console.log('\nthrough Warden vs direct:');
    console.log(`  GET pod added p50 ${ms(percentile(w.req, 50) - percentile(d.req, 50))}, p99 ${ms(percentile(w.req, 99) - percentile(d.req, 99))}`);
    console.log(`  kubectl get pods added p50 ${ms(w.get.p50 - d.get.p50)} (goal <= 2 ms), p99 ${ms(w.get.p99 - d.get.p99)}`);
    console.log(`  list throughput ratio ${(w.list / d.list).toFixed(2)} (goal >= 0.8)`);
    console.log('kubectl proxy (peer) vs direct:');
    console.log(`  GET pod added p50 ${ms(percentile(p.req, 50) - percentile(d.req, 50))}; kubectl get pods added p50 ${ms(p.get.p50 - d.get.p50)}; `
      + `list ratio ${(p.list / d.list).toFixed(2)}`);
  } finally {
    for (const f of cleanup) await f().catch(() => {});
  }
}

await main();
