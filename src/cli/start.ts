/**
 * `warden start`: parses the configuration, starts the server in this process and stops it cleanly on SIGINT or
 * SIGTERM. Prints the chosen ports and, on first start only, the admin token.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { WardenError } from '../errors.js';
import { START_USAGE, loadServerConfig } from '../server/config.js';
import { createLogger } from '../server/logger.js';
import { startServer } from '../server/server.js';

/** How the start banner names each protocol's listener. */
const PROTOCOL_LABELS: Record<string, string> = { postgres: 'PostgreSQL', ssh: 'SSH' };

/** Runs `warden start`; resolves with the exit code once the server has stopped. */
export async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${START_USAGE}\n`);
    return 0;
  }
  let config;
  try {
    config = loadServerConfig(argv);
  } catch (err) {
    if (!(err instanceof WardenError)) throw err;
    process.stderr.write(`warden: ${err.message}\n\n${START_USAGE}\n`);
    return 2;
  }
  // Everything Warden writes (store, WAL, keys) is private to its user.
  process.umask(0o077);
  const logger = createLogger(config.logLevel);
  const version = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
  let server;
  try {
    server = await startServer(config, logger, version);
  } catch (err) {
    // A busy port or a locked data dir is the operator's to fix: say what and how, without a stack trace.
    if (!(err instanceof WardenError) || !err.public || err.kind === 'internal') throw err;
    logger.flush?.();
    process.stderr.write(`warden: ${err.message}\n`);
    return 1;
  }
  const { api, ...protocols } = server.ports;
  const host = config.listenHost.includes(':') ? `[${config.listenHost}]` : config.listenHost;
  process.stdout.write([
    `Warden ${version} is running (data dir ${config.dataDir})`,
    `  control API  http://${host}:${api}`,
    ...Object.entries(protocols).map(([protocol, port]) => `  ${(PROTOCOL_LABELS[protocol] ?? protocol).padEnd(12)} ${host}:${port}`
      + (server.notes[protocol] ? ` (${server.notes[protocol]})` : '')),
    `  ports written to ${path.join(config.dataDir, 'ports.json')}`,
    '',
  ].join('\n'));
  if (server.newAdminToken) {
    process.stdout.write(`Admin token (shown once, also in ${path.join(config.dataDir, 'admin.token')}):\n${server.newAdminToken}\n`);
  }
  return new Promise<number>((resolve) => {
    const shutdown = (signal: string) => {
      logger.info({ signal }, 'shutting down');
      void server.stop().then(() => { logger.flush?.(); resolve(0); }, (err: unknown) => {
        logger.error({ err }, 'error during shutdown');
        resolve(1);
      });
    };
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.once('SIGTERM', () => shutdown('SIGTERM'));
  });
}
