/**
 * The PostgreSQL data-path benchmark behind bench/pg.sh. One throwaway PostgreSQL (scale 10), Warden with
 * recording on (plaintext on loopback, like direct and pgbouncer, so TLS cost is not compared), and pgbouncer
 * in session mode; pgbench -S runs against each in turn. Warden's CPU comes from /proc/<pid>/stat.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../test/harness/ports.js';
import { postgresBinDir, startPostgres, type PgServer } from '../test/harness/postgres.js';
import { startWarden, type WardenProcess } from '../test/harness/warden.js';

const run = promisify(execFile);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CLIENTS = (process.env.BENCH_CLIENTS ?? '1 8 32').split(/\s+/).map(Number);
const MODES = ['simple', 'extended'] as const;
const BENCH_POLICY = `kind: Policy
name: bench-guardrails
rules:
  - name: block-destructive
    match: { classes: [destructive, unknown, admin, privilege] }
    effect: deny
    message: destructive statements are blocked
  - name: reads-and-writes
    match: { classes: [read, write] }
    effect: allow
`;

interface Route { name: string; port: number; user: string; password: string; database: string; pid?: number }
interface Result { tps: number; latencyMs: number; transactions: number; /** the proxy's CPU per transaction */ cpuUs?: number }

async function main(): Promise<void> {
  const pg = await startPostgres({ maxConnections: 200 });
  let warden: WardenProcess | undefined;
  let bouncer: ChildProcess | undefined;
  let pipe: ChildProcess | undefined;
  try {
    await run(path.join(postgresBinDir(), 'pgbench'), ['-i', '-q', '-s', '10', '-h', '127.0.0.1', '-p', String(pg.port),
      '-U', pg.scram.user, pg.database], { env: { ...process.env, PGPASSWORD: pg.scram.password } });
    // BENCH_WARDEN_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles Warden during the run.
    const nodeArgs = process.env.BENCH_WARDEN_NODE_ARGS?.split(/\s+/).filter(Boolean);
    warden = await startWarden({ args: ['--allow-plaintext-loopback', '--log-level', 'warn'], nodeArgs });
    await warden.cli(['targets', 'add', 'bench', '--type', 'postgres', '--host', '127.0.0.1', '--port', String(pg.port),
      '--database', pg.database, '--user', pg.scram.user, '--password-stdin', '--tls', 'disable'], { stdin: pg.scram.password });
    // The guardrails of a production target: every statement is parsed and judged on the data path.
    await warden.applyPolicy(BENCH_POLICY);
    const token = (await warden.cli(['tokens', 'create', '--user', 'bench', '--ttl', '12h'])).stdout.trim();
    const bouncerPort = await freePort();
    bouncer = await startPgbouncer(pg, bouncerPort);
    const pipePort = await freePort();
    pipe = spawn(process.execPath, [new URL('./node-pipe.mjs', import.meta.url).pathname, String(pipePort), String(pg.port)],
      { stdio: 'inherit' });
    await waitForPort(pipePort);
    const routes: Route[] = [
      { name: 'direct', port: pg.port, user: pg.scram.user, password: pg.scram.password, database: pg.database },
      { name: 'warden', port: warden.ports.postgres, user: 'bench', password: token, database: 'bench', pid: warden.child.pid },
      ...(bouncer ? [{ name: 'pgbouncer', port: bouncerPort, user: pg.scram.user, password: pg.scram.password, database: pg.database }] : []),
      { name: 'node-pipe', port: pipePort, user: pg.scram.user, password: pg.scram.password, database: pg.database, pid: pipe.pid },
    ];
    console.log(`pgbench -S, ${SECONDS} s per run (one pgbench after another, same server), ${os.cpus().length} cores, PostgreSQL ${pg.version}; Warden records every statement`);
    for (const mode of MODES) {
      for (const clients of CLIENTS) {
        const results = new Map<string, Result>();
        for (const route of routes) results.set(route.name, await pgbench(route, mode, clients));
        report(mode, clients, results);
      }
    }
  } finally {
    bouncer?.kill('SIGTERM');
    pipe?.kill('SIGTERM');
    await warden?.stop();
    await pg.stop();
  }
}

async function pgbench(route: Route, mode: string, clients: number): Promise<Result> {
  const before = route.pid ? await cpuTicks(route.pid) : 0;
  const { stdout } = await run(path.join(postgresBinDir(), 'pgbench'), ['-n', '-S', '-M', mode, '-c', String(clients),
    '-j', String(Math.min(clients, 2)), '-T', String(SECONDS), '-h', '127.0.0.1', '-p', String(route.port), '-U', route.user,
    route.database], { env: { ...process.env, PGPASSWORD: route.password, PGSSLMODE: 'disable' } });
  const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(stdout)?.[1]);
  const latencyMs = Number(/latency average = ([\d.]+) ms/.exec(stdout)?.[1]);
  const transactions = Number(/number of transactions actually processed: (\d+)/.exec(stdout)?.[1]);
  const result: Result = { tps, latencyMs, transactions };
  if (route.pid) result.cpuUs = ((await cpuTicks(route.pid)) - before) * (1e6 / 100) / transactions;
  return result;
}

/** utime + stime of a process, in clock ticks (100 per second on Linux). */
async function cpuTicks(pid: number): Promise<number> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

function report(mode: string, clients: number, r: Map<string, Result>): void {
  const direct = r.get('direct')!;
  const warden = r.get('warden')!;
  const bouncer = r.get('pgbouncer');
  const pipe = r.get('node-pipe')!;
  const row = (name: string, x: Result) => `  ${name.padEnd(10)} ${x.tps.toFixed(0).padStart(8)} tps  ${x.latencyMs.toFixed(3).padStart(7)} ms`
    + `  ${(x.tps / direct.tps).toFixed(2)} of direct${x.cpuUs === undefined ? '' : `  ${x.cpuUs.toFixed(1)} us CPU/tx`}`;
  console.log(`\n${mode}, ${clients} client${clients > 1 ? 's' : ''}`);
  for (const [name, x] of r) console.log(row(name, x));
  const ratios = [`warden/direct ${(warden.tps / direct.tps).toFixed(2)}`];
  if (bouncer) ratios.push(`warden/pgbouncer ${(warden.tps / bouncer.tps).toFixed(2)}`, `pgbouncer/direct ${(bouncer.tps / direct.tps).toFixed(2)}`);
  ratios.push(`warden/node-pipe ${(warden.tps / pipe.tps).toFixed(2)}`);
  console.log(`  ${ratios.join('   ')}`);
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await run('pg_isready', ['-h', '127.0.0.1', '-p', String(port)]).then(() => true, () => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on port ${port}`);
}

/** Starts pgbouncer (session pooling, like Warden's one upstream connection per session) as the postgres user. */
async function startPgbouncer(pg: PgServer, port: number): Promise<ChildProcess | undefined> {
  const bin = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'];
  const found = (await Promise.all(bin.map((b) => fs.access(b).then(() => b, () => null)))).find(Boolean);
  if (!found) {
    console.log('pgbouncer not installed (apt-get install pgbouncer): skipping the peer');
    return undefined;
  }
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'warden-bouncer-'));
  await fs.writeFile(path.join(dir, 'userlist.txt'), `"${pg.scram.user}" "${pg.scram.password}"\n`);
  await fs.writeFile(path.join(dir, 'pgbouncer.ini'), [
    '[databases]', `${pg.database} = host=127.0.0.1 port=${pg.port} dbname=${pg.database}`,
    '[pgbouncer]', `listen_addr = 127.0.0.1`, `listen_port = ${port}`, `unix_socket_dir =`,
    `auth_type = scram-sha-256`, `auth_file = ${path.join(dir, 'userlist.txt')}`, 'pool_mode = session',
    'max_client_conn = 200', 'default_pool_size = 64', `logfile = ${path.join(dir, 'pgbouncer.log')}`, '',
  ].join('\n'));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) await run('chown', ['-R', 'postgres:postgres', dir]);
  const args = [path.join(dir, 'pgbouncer.ini')];
  const child = asRoot ? spawn('setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', found, ...args], { stdio: 'ignore' })
    : spawn(found, args, { stdio: 'ignore' });
  await waitForPort(port).catch((err: unknown) => { child.kill(); throw err; });
  return child;
}

await main();
