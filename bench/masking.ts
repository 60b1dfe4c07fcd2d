/**
 * The masking benchmark behind bench/masking.sh. One throwaway PostgreSQL with a 1M-row table of four text
 * columns (id, email, token, note with an e-mail in it), Warden with two targets on it: `plain` (no masking rule
 * applies) and `masked` (the rules: `*.email` partial, content detectors card/email/jwt/aws). psql reads
 * the whole result into /dev/null; the three are run in turn BENCH_RUNS times and the best of each is kept.
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { startPostgres } from '../test/harness/postgres.js';
import { startWarden } from '../test/harness/warden.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const POLICY = `kind: Policy
name: bench
rules:
  - name: everything
    effect: allow
  - name: mask-pii
    targets: ["masked"]
    mask:
      - columns: ["*.email"]
        strategy: partial
      - detectors: [card, email, jwt, aws_access_key]
        strategy: redact
`;
const BIG = 'SELECT id, email, token, note FROM people';
const SMALL = 'SELECT id, email, token, note FROM people WHERE id <= 1000';

function psql(port: number, user: string, password: string, db: string, sql: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn('psql', ['-X', '-q', '-A', '-t', '-h', '127.0.0.1', '-p', String(port), '-U', user, '-d', db, '-c', sql, '-o', '/dev/null'],
      { env: { ...process.env, PGPASSWORD: password, PGSSLMODE: 'disable' }, stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(performance.now() - start) : reject(new Error(`psql exited ${code}`))));
  });
}

/** Mean time of `n` runs of `sql` on one connection. */
async function meanLatency(config: pg.ClientConfig, sql: string, n: number): Promise<number> {
  const client = new pg.Client(config);
  const failed = new Promise<never>((_, reject) => client.on('error', reject));
  failed.catch(() => {});
  await client.connect();
  for (let i = 0; i < 20; i++) await client.query(sql);
  const start = performance.now();
  for (let i = 0; i < n; i++) await client.query(sql);
  const ms = (performance.now() - start) / n;
  await client.end();
  return ms;
}

const server = await startPostgres();
const warden = await startWarden({ args: ['--allow-plaintext-loopback', '--log-level', 'warn'] });
try {
  const admin = new pg.Client({ host: server.socketDir, port: server.port, user: server.superuser, database: 'app' });
  await admin.connect();
  await admin.query(`CREATE TABLE people AS SELECT g AS id, 'user' || g || '@example.com' AS email, md5(g::text) AS token,
    'contact user' || g || '@example.org today' AS note FROM generate_series(1, 1000000) g;
    ALTER TABLE people ADD PRIMARY KEY (id); ALTER TABLE people OWNER TO ${server.scram.user}; ANALYZE people`);
  await admin.end();
  for (const name of ['plain', 'masked']) {
    await warden.cli(['targets', 'add', name, '--type', 'postgres', '--host', '127.0.0.1', '--port', String(server.port),
      '--database', 'app', '--user', server.scram.user, '--password-stdin', '--tls', 'disable'], { stdin: server.scram.password });
  }
  await warden.applyPolicy(POLICY);
  const token = (await warden.cli(['tokens', 'create', '--user', 'bench', '--ttl', '2h'])).stdout.trim();
  // Interleaved, so that a drift in the machine's speed (a shared VM) weighs on all three alike.
  let direct = Infinity;
  let plain = Infinity;
  let masked = Infinity;
  for (let i = 0; i < RUNS; i++) {
    direct = Math.min(direct, await psql(server.port, server.scram.user, server.scram.password, 'app', BIG));
    plain = Math.min(plain, await psql(warden.ports.postgres, 'bench', token, 'plain', BIG));
    masked = Math.min(masked, await psql(warden.ports.postgres, 'bench', token, 'masked', BIG));
  }
  const rate = (ms: number) => `${Math.round(1e6 / (ms / 1000)).toLocaleString('en-US').padStart(10)} rows/s`;
  console.log(`1M rows x 4 columns, psql to /dev/null, best of ${RUNS}`);
  console.log(`  direct            ${rate(direct)}`);
  console.log(`  warden, unmasked  ${rate(plain)}  ${(direct / plain).toFixed(2)} of direct`);
  console.log(`  warden, masked    ${rate(masked)}  ${(direct / masked).toFixed(2)} of direct, ${(masked / plain).toFixed(2)}x the unmasked time`);
  const via = (database: string): pg.ClientConfig => ({ host: '127.0.0.1', port: warden.ports.postgres, user: 'bench', password: token, database });
  const smallPlain = await meanLatency(via('plain'), SMALL, 200);
  const smallMasked = await meanLatency(via('masked'), SMALL, 200);
  console.log(`1,000-row result: ${smallPlain.toFixed(2)} ms unmasked, ${smallMasked.toFixed(2)} ms masked: masking adds ${(smallMasked - smallPlain).toFixed(2)} ms`);
} catch (err) {
  console.error(`benchmark failed: ${(err as Error).message}\n${warden.output().stderr.split('\n').slice(-15).join('\n')}`);
  process.exitCode = 1;
} finally {
  await warden.stop();
  await server.stop();
}
