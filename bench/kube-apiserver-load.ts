/**
 * The test API server loaded for the Kubernetes benchmark (bench/kube.sh): `startLoadedApiServer` seeds 10,000 pods
 * (BENCH_KUBE_OBJECTS) in namespace `bench`; `measureList` and `measureKubectlGet` time a full list and `kubectl get
 * pods` against any URL (direct or through Warden), so both sides are measured the same way. Run on its own
 * (`node --import tsx bench/kube-apiserver-load.ts`) it prints the direct figures: the floor Warden is compared to.
 * Not a test: it prints numbers, and fails only if a request fails.
 */
import http from 'node:http';
import https from 'node:https';
import { startKubeApiServer, type KubeApiServer } from '../test/harness/kube-apiserver.js';
import type { KubectlHome } from '../test/harness/kube/kubectl.js';

/** The namespace holding the seeded pods. */
export const BENCH_NAMESPACE = 'bench';

/** A test API server with `count` pods in namespace `bench` (and `web` in `default`). */
export async function startLoadedApiServer(count = Number(process.env.BENCH_KUBE_OBJECTS ?? 10_000)): Promise<KubeApiServer> {
  const server = await startKubeApiServer();
  server.seedPods(BENCH_NAMESPACE, count, 'load');
  return server;
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/**
 * Lists `path` `rounds` times over one keep-alive connection; returns items/s and the bytes of one list. An http://
 * URL (a `kubectl proxy` peer) is listed without TLS.
 */
export async function measureList(url: string, token: string, ca: string, path: string, rounds = 10): Promise<{ itemsPerSecond: number; bytes: number; ms: number[] }> {
  const plain = url.startsWith('http:');
  const agent = plain ? new http.Agent({ keepAlive: true, maxSockets: 1 }) : new https.Agent({ keepAlive: true, maxSockets: 1, ca });
  const get = plain ? http.get : https.get;
  const ms: number[] = [];
  let bytes = 0;
  let items = 0;
  try {
    for (let i = 0; i < rounds; i++) {
      const start = performance.now();
      const body = await new Promise<Buffer>((resolve, reject) => {
        get(`${url}${path}`, { agent, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), accept: 'application/json' } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`list answered ${res.statusCode}`))));
        }).on('error', reject);
      });
      ms.push(performance.now() - start);
      bytes = body.length;
      items += (JSON.parse(body.toString()) as { items: unknown[] }).items.length;
    }
  } finally {
    agent.destroy();
  }
  return { itemsPerSecond: items / (ms.reduce((a, b) => a + b, 0) / 1000), bytes, ms };
}

/** Runs `kubectl get pods ARGS` `rounds` times; returns the p50 and p99 wall time in ms. */
export async function measureKubectlGet(home: KubectlHome, args: string[], rounds = 20): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = performance.now();
    const r = await home.run(['get', 'pods', ...args]);
    if (r.code !== 0) throw new Error(`kubectl get pods failed: ${r.stderr}`);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const seedStart = performance.now();
  const server = await startLoadedApiServer();
  console.log(`seeded in ${(performance.now() - seedStart).toFixed(0)} ms`);
  try {
    const list = await measureList(server.url, server.token, server.caCert, `/api/v1/namespaces/${BENCH_NAMESPACE}/pods`);
    console.log(`direct list of ${BENCH_NAMESPACE}/pods: ${Math.round(list.itemsPerSecond)} items/s, ${(list.bytes / 1e6).toFixed(1)} MB per list, ` +
      `${list.ms.map((m) => m.toFixed(0)).join(' ')} ms`);
    const home = await server.kubectl();
    const get = await measureKubectlGet(home, ['-n', 'default']);
    console.log(`direct kubectl get pods (1 pod): p50 ${get.p50.toFixed(1)} ms, p99 ${get.p99.toFixed(1)} ms`);
  } finally {
    await server.stop();
  }
}
