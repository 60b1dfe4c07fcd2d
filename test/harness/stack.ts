/**
 * The usual end-to-end setup: a throwaway real PostgreSQL, a Warden process in front of it with one target, and
 * helpers to mint tokens and to run real `psql` and the `pg` driver through Warden.
 */
import pg from 'pg';
import { runProcess, type ProcessResult } from './process.js';
import { startPostgres, type PgServer, type StartPostgresOptions } from './postgres.js';
import { ALLOW_ALL_POLICY, startWarden, type WardenProcess } from './warden.js';

/** A PostgreSQL server with Warden in front of it. */
export interface Stack {
  pg: PgServer;
  warden: WardenProcess;
  /** Name of the target that reaches `pg` as its SCRAM role, database `app`. */
  target: string;
  /** Mints a token with the CLI; `extra` are more `tokens create` flags. */
  token(user: string, ...extra: string[]): Promise<string>;
  /** Runs real psql through Warden. */
  psql(args: string[], options?: PsqlOptions): Promise<ProcessResult>;
  /** A `pg` client connected through Warden (TLS without verification unless `ssl` says otherwise). */
  client(options: { user: string; password: string; database?: string; ssl?: pg.ClientConfig['ssl'] }): Promise<pg.Client>;
  /** Runs `sql` directly on the server as its superuser (not through Warden): to set up or check the real effect. */
  superuserRows(sql: string, values?: unknown[]): Promise<Record<string, unknown>[]>;
  stop(): Promise<void>;
}

/** Options of one psql run. */
export interface PsqlOptions {
  user: string;
  token: string;
  database?: string;
  sslmode?: string;
  stdin?: string;
  env?: Record<string, string>;
}


/** Starts PostgreSQL and Warden, registers the target `pg-main` and applies `policy` (default: allow everything). */
export async function startStack(options: { pg?: StartPostgresOptions; wardenArgs?: string[]; policy?: string } = {}): Promise<Stack> {
  const server = await startPostgres(options.pg);
  let warden: WardenProcess;
  try {
    warden = await startWarden({ args: options.wardenArgs });
  } catch (err) {
    await server.stop();
    throw err;
  }
  const target = 'pg-main';
  const added = await warden.cli(['targets', 'add', target, '--type', 'postgres', '--host', server.host, '--port',
    String(server.port), '--database', server.database, '--user', server.scram.user, '--password-stdin', '--tls', 'disable'],
  { stdin: `${server.scram.password}\n` });
  if (added.code !== 0) throw new Error(`targets add failed: ${added.stderr}`);
  await warden.applyPolicy(options.policy ?? ALLOW_ALL_POLICY);
  return {
    pg: server, warden, target,
    token: async (user, ...extra) => {
      const r = await warden.cli(['tokens', 'create', '--user', user, ...extra]);
      if (r.code !== 0) throw new Error(`tokens create failed: ${r.stderr}`);
      return r.stdout.trim();
    },
    psql: (args, o) => runPsql(warden.ports.postgres, args, o!),
    client: async (o) => {
      const client = new pg.Client({ host: '127.0.0.1', port: warden.ports.postgres, user: o.user, password: o.password,
        database: o.database ?? target, ssl: o.ssl ?? { rejectUnauthorized: false } });
      client.on('error', () => {});
      await client.connect();
      return client;
    },
    superuserRows: async (sql, values) => {
      const admin = new pg.Client({ host: server.socketDir, port: server.port, user: server.superuser, database: server.database });
      await admin.connect();
      try {
        return (await admin.query(sql, values)).rows as Record<string, unknown>[];
      } finally {
        await admin.end();
      }
    },
    stop: async () => {
      await warden.stop();
      await server.stop();
    },
  };
}

/** Runs `psql -X -A -t` against Warden's PostgreSQL port with the token as the password. */
export function runPsql(port: number, args: string[], o: PsqlOptions): Promise<ProcessResult> {
  return runProcess('psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(port),
    '-U', o.user, '-d', o.database ?? 'pg-main', ...args], {
    env: { ...process.env, PGPASSWORD: o.token, PGSSLMODE: o.sslmode ?? 'require', PGCONNECT_TIMEOUT: '10', ...o.env },
    stdin: o.stdin,
  });
}
