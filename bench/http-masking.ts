/**
 * HTTP response masking benchmark: a 100 MB JSON array of customers (names, e-mails, SSNs, card numbers, notes
 * holding e-mail addresses) served by a local HTTP server in 64 KiB chunks and read by a Node client, passed
 * through the masking Transform (field selectors and detectors, src/protocols/http/response-masking.ts) or through
 * a plain PassThrough. Also the Transform alone, with no network in between. Prints times, the ratio and the peak
 * RSS of this process (which holds the server, the client and the masker: it stays flat because no stage holds the
 * body). Run: `node --import tsx bench/http-masking.ts` (BENCH_MB, BENCH_RUNS to change the size and runs; the best
 * run of each is kept).
 */
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { PassThrough, Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { MaskItem } from '../src/policy/schema.js';
import { planResponseBody } from '../src/protocols/http/response-masking.js';
import type { ResultMasking } from '../src/session/pipeline.js';

const MB = Number(process.env.BENCH_MB ?? 100);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CHUNK = 64 * 1024;

const ITEMS: MaskItem[] = [
  { fields: ['$[*].email'], strategy: 'partial' },
  { fields: ['**.ssn'], strategy: 'redact' },
  { detectors: ['email', 'card'], strategy: 'redact' },
];
const MASKING: ResultMasking = { rules: [{ rule: 'bench/mask', items: ITEMS }], hashKey: Buffer.from('bench'), contentItems: [] };

/** About 1 MiB of distinct records, cut into CHUNK-sized buffers; the body is these repeated, framed as one array. */
function pool(): Buffer[] {
  const records: string[] = [];
  let bytes = 0;
  for (let i = 0; bytes < 1024 * 1024; i++) {
    const record = JSON.stringify({
      id: i, name: `Customer ${i}`, email: `customer${i}@example.com`, ssn: `${100 + (i % 800)}-45-${1000 + (i % 9000)}`,
      card: '4111 1111 1111 1111', active: i % 2 === 0, balance: i * 3.25,
      address: { street: `${i} Main Street`, city: 'Springfield', zip: String(10000 + i) },
      note: i % 10 === 0 ? `call back, or write to alt${i}@example.org` : 'no remarks',
    });
    records.push(record);
    bytes += record.length + 1;
  }
  const all = Buffer.from(records.join(',') + ',');
  const chunks: Buffer[] = [];
  for (let i = 0; i < all.length; i += CHUNK) chunks.push(all.subarray(i, i + CHUNK));
  return chunks;
}

const POOL = pool();
const POOL_BYTES = POOL.reduce((n, c) => n + c.length, 0);

function* body(): Generator<Buffer> {
  yield Buffer.from('[');
  const rounds = Math.ceil((MB * 1024 * 1024) / POOL_BYTES);
  for (let r = 0; r < rounds; r++) yield* POOL;
  yield Buffer.from('{"id":-1}]');
}

function sink(): Writable & { bytes: number } {
  const w = new Writable({ write(chunk: Buffer, _e, cb) { w.bytes += chunk.length; cb(); } }) as Writable & { bytes: number };
  w.bytes = 0;
  return w;
}

function transform(masked: boolean): Transform {
  if (!masked) return new PassThrough();
  const plan = planResponseBody(MASKING, { 'content-type': 'application/json' });
  if (plan.kind !== 'mask') throw new Error(`expected a mask plan, got ${plan.kind}`);
  return plan.open().stream;
}

async function local(masked: boolean): Promise<number> {
  const start = performance.now();
  await pipeline(Readable.from(body(), { objectMode: false }), transform(masked), sink());
  return performance.now() - start;
}

async function overHttp(server: Server, masked: boolean): Promise<number> {
  const { port } = server.address() as AddressInfo;
  const start = performance.now();
  await new Promise<void>((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/' }, (res) => void pipeline(res, transform(masked), sink()).then(resolve, reject)).on('error', reject);
  });
  return performance.now() - start;
}

/** The best wall time of RUNS runs, and the CPU time (user + system, this process) of that run. */
async function best(run: () => Promise<number>): Promise<{ wall: number; cpu: number }> {
  let min = { wall: Infinity, cpu: Infinity };
  for (let i = 0; i < RUNS; i++) {
    const before = process.cpuUsage();
    const wall = await run();
    const used = process.cpuUsage(before);
    if (wall < min.wall) min = { wall, cpu: (used.user + used.system) / 1000 };
  }
  return min;
}

const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  void pipeline(Readable.from(body(), { objectMode: false }), res).catch(() => undefined);
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const size = `${MB} MB`;
const report = (label: string, plain: { wall: number; cpu: number }, masked: { wall: number; cpu: number }): void => {
  console.log(`${label}: unmasked ${plain.wall.toFixed(0)} ms (CPU ${plain.cpu.toFixed(0)} ms), masked ${masked.wall.toFixed(0)} ms`
    + ` (CPU ${masked.cpu.toFixed(0)} ms), ratio ${(masked.wall / plain.wall).toFixed(2)}, masked ${(MB / (masked.wall / 1000)).toFixed(0)} MB/s`);
};
const plainHttp = await best(() => overHttp(server, false));
const maskedHttp = await best(() => overHttp(server, true));
report(`${size} JSON over local HTTP`, plainHttp, maskedHttp);
const plainLocal = await best(() => local(false));
const maskedLocal = await best(() => local(true));
report(`${size} JSON through the Transform alone`, plainLocal, maskedLocal);
console.log(`peak RSS ${Math.round(process.resourceUsage().maxRSS / 1024)} MB (goal: ratio <= 1.5 over HTTP; memory flat)`);
server.close();
