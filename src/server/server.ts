/**
 * Process wiring for `warden start`: the only module that knows every part. It prepares the data directory, opens
 * the store, loads or creates the keys, the TLS pair and the admin token, then starts the control API and the
 * protocol listeners, and on stop ends everything in order so no recording is lost.
 */
import path from 'node:path';
import fs from 'node:fs/promises';
import type { Logger } from 'pino';
import { ApprovalService } from '../approvals/service.js';
import { Notifier } from '../approvals/notifier.js';
import { buildControlApi } from '../control/app.js';
import { signInWithIdToken } from '../identity/oidc.js';
import { ServiceAccounts } from '../identity/service-accounts.js';
import { SignInService } from '../identity/signin.js';
import { KillSwitch } from '../session/kill-switch.js';
import { SshCertificateAuthority } from '../identity/ssh-ca.js';
import { SshKeys, SshPublicKeys } from '../identity/ssh-keys.js';
import { installPolicyProtocols } from '../policy/vocabulary.js';
import { builtinProtocols } from '../protocols/builtin.js';
import { ADMIN_GROUP, TokenService } from '../identity/tokens.js';
import { Recorder } from '../recording/recorder.js';
import { SessionPipeline } from '../session/pipeline.js';
import { PolicyCatalog } from '../session/policy-catalog.js';
import { SessionRegistry } from '../session/registry.js';
import { openStore } from '../store/index.js';
import { Vault } from '../vault/vault.js';
import type { ServerConfig } from './config.js';
import { exists, prepareDataDir, writePorts, writePrivateFile } from './datadir.js';
import { installProcessGuard } from './guard.js';
import { API_LISTENER, listenFailure } from './listen-errors.js';
import { builtinDiagnosers } from '../protocols/diagnosers.js';
import { LISTENERS, type ListenerRegistration, type ProtocolListener } from './listeners.js';
import { lockDataDir } from './lock.js';
import { loadOrCreateTls, type TlsMaterial } from './tls.js';

/** The admin token lives a year; deleting `admin.token` and restarting issues a new one. */
const ADMIN_TOKEN_TTL_SECONDS = 365 * 24 * 3600;

/** The ports Warden bound: the control API's and each protocol listener's, by protocol (as in ports.json). */
export type ServerPorts = { api: number } & Record<string, number>;

/** A started Warden. */
export interface RunningServer {
  ports: ServerPorts;
  /** What callers should know beside a listener's port, by protocol (e.g. the SSH host key fingerprint). */
  notes: Record<string, string>;
  /** The admin token when this start created it (first start), to print once. */
  newAdminToken: string | null;
  /** Stops accepting, ends live sessions telling callers why, flushes recordings and closes the store. */
  stop(reason?: string): Promise<void>;
}

/** Starts every part of Warden in this process. */
export async function startServer(config: ServerConfig, logger: Logger, version: string): Promise<RunningServer> {
  await prepareDataDir(config.dataDir);
  const lock = lockDataDir(config.dataDir);
  try {
    return await startLocked(config, logger, version, lock.release);
  } catch (err) {
    lock.release();
    throw err;
  }
}

/** startServer once the data directory is ours; `unlock` runs when the server has stopped. */
async function startLocked(config: ServerConfig, logger: Logger, version: string, unlock: () => void): Promise<RunningServer> {
  const store = await openStore({ kind: 'sqlite', path: path.join(config.dataDir, 'warden.db') });
  const dangling = await store.sessions.endDangling(new Date().toISOString(), 'Warden stopped before the session ended');
  if (dangling > 0) logger.warn({ sessions: dangling }, 'closed sessions left open by an earlier run');
  const vault = await Vault.loadOrCreate(config.dataDir, config.vaultKey);
  // The protocols this Warden speaks; the pipeline, policy validation, delegation and the API get them from here.
  const protocols = builtinProtocols();
  installPolicyProtocols(protocols);
  const tokens = await TokenService.create({ store, dataDir: config.dataDir, maxTtlSeconds: ADMIN_TOKEN_TTL_SECONDS,
    classes: protocols.classes() });
  const tls = await loadOrCreateTls(config.dataDir);
  const apiTls = await apiTlsMaterial(config, tls);
  const newAdminToken = await ensureAdminToken(config.dataDir, tokens);

  await protocols.init();
  const policies = await PolicyCatalog.load(store);

  const recorder = new Recorder({ sessions: store.sessions, logger });
  const registry = new SessionRegistry();
  // Links in notifications name the port actually bound (not 0) unless the operator said how approvers reach us;
  // notifications raised before the API is bound (recovery at start-up) wait for it.
  let apiPort: number | undefined;
  /** The bound ports by protocol, once every listener listens (the API shows them with `GET /api/whoami`). */
  let boundPorts: Record<string, number> | undefined;
  const host = config.listenHost.includes(':') ? `[${config.listenHost}]` : config.listenHost;
  const publicUrl = () => config.publicUrl ?? (apiPort === undefined ? undefined : `${apiTls ? 'https' : 'http'}://${host}:${apiPort}`);
  const notifier = new Notifier({ webhookUrls: config.webhookUrls, slackWebhookUrls: config.slackWebhookUrls, publicUrl, logger });
  const approvals = await ApprovalService.create({ store, logger, notifier });
  const { defaultEffect } = config;
  const sshKeys = new SshKeys({ store });
  const sshCa = await SshCertificateAuthority.loadOrCreate(config.dataDir, { store, tokens });
  const publicKeys = new SshPublicKeys(sshKeys, sshCa);
  const pipeline = new SessionPipeline({ store, tokens, vault, recorder, policies, approvals, defaultEffect, logger, protocols,
    publicKeys });
  const signIn = new SignInService({ store, tokens, vault });
  const serviceAccounts = new ServiceAccounts({ store, tokens });
  const killSwitch = new KillSwitch({ registry, tokens, store, logger, expiry: pipeline.expiry, sshKeys,
    record: (live, type, data) => pipeline.onEvent(live.session, type, data) });
  const api = await buildControlApi({ store, tokens, vault, logger, recorder, version, policies, approvals, defaultEffect, protocols,
    signIn, serviceAccounts, killSwitch, sshKeys, sshCa, publicUrl: config.publicUrl, diagnosers: builtinDiagnosers(),
    http: { tls: apiTls, trustProxy: config.trustProxy, requestTimeoutMs: config.apiRequestTimeout * 1000 },
    idTokenExchange: (idToken) => signInWithIdToken(signIn, idToken),
    listeners: () => (boundPorts === undefined ? [] : listeners.map((l) => ({ protocol: l.registration.protocol,
      port: boundPorts![l.registration.protocol], ...(l.listener.note !== undefined ? { note: l.listener.note } : {}) }))
      .filter((l) => l.port !== undefined)) });
  const listeners: Array<{ registration: ListenerRegistration; listener: ProtocolListener }> = [];
  for (const registration of LISTENERS) {
    const listener = await registration.create({ config, pipeline, registry, tls, logger, dataDir: config.dataDir, store, policies, protocols });
    listeners.push({ registration, listener });
  }

  let stopping: Promise<void> | null = null;
  const stop = (reason = 'Warden is shutting down') => (stopping ??= (async () => {
    guard.uninstall();
    killSwitch.stop();
    await Promise.all([...listeners.map((l) => l.listener.stopAccepting()), registry.terminateAll(reason)]);
    await approvals.shutdown(reason);
    for (const { listener } of listeners) listener.destroyRemaining();
    await api.close();
    await recorder.close();
    await notifier.idle(2000);
    await store.close();
    unlock();
  })());
  // Contains what slipped past every session's failure path instead of letting Node end the process (guard.ts).
  const guard = installProcessGuard(logger, () => {
    stop('Warden is restarting after internal errors').finally(() => process.exit(70)).catch(() => process.exit(70));
  });
  let ports: RunningServer['ports'];
  try {
    ports = await listenAll(config, api, listeners);
    boundPorts = ports;
    apiPort = ports.api;
    notifier.addressKnown();
  } catch (err) {
    await stop('Warden could not start');
    throw err;
  }
  if (config.publicUrl === undefined) {
    logger.info({ url: publicUrl() }, 'links in approval notifications use the API\'s bound address; behind a proxy or ' +
      'on another host set --public-url (WARDEN_PUBLIC_URL) to the address approvers reach');
  }
  killSwitch.start();
  const notes = Object.fromEntries(listeners.filter((l) => l.listener.note !== undefined)
    .map((l) => [l.registration.protocol, l.listener.note!]));
  return { ports, notes, newAdminToken, stop };
}

/** Opens the control API and every protocol listener, then writes ports.json; a port in use names its flag. */
async function listenAll(config: ServerConfig, api: Awaited<ReturnType<typeof buildControlApi>>,
  listeners: ReadonlyArray<{ registration: ListenerRegistration; listener: ProtocolListener }>): Promise<ServerPorts> {
  await api.listen({ host: config.listenHost, port: config.apiPort }).catch((err: unknown) => {
    throw listenFailure(err, API_LISTENER, config.apiPort, config);
  });
  const ports: ServerPorts = { api: (api.server.address() as { port: number }).port };
  for (const { registration, listener } of listeners) {
    const port = registration.port(config);
    ports[registration.protocol] = await listener.listen(config.listenHost, port).catch((err: unknown) => {
      throw listenFailure(err, registration, port, config);
    });
  }
  await writePorts(config.dataDir, ports);
  return ports;
}

/**
 * The control API's certificate: the configured files (`--api-tls-cert`/`--api-tls-key`), else Warden's own
 * listener certificate when `--api-tls` is on, else none (plain HTTP).
 */
async function apiTlsMaterial(config: ServerConfig, own: TlsMaterial): Promise<TlsMaterial | undefined> {
  if (config.apiTlsCert !== undefined && config.apiTlsKey !== undefined) {
    return { cert: await fs.readFile(config.apiTlsCert, 'utf8'), key: await fs.readFile(config.apiTlsKey, 'utf8') };
  }
  return config.apiTls ? own : undefined;
}

/** Issues the admin token on first start (or after its file was deleted) and writes it 0600. */
async function ensureAdminToken(dataDir: string, tokens: TokenService): Promise<string | null> {
  const file = path.join(dataDir, 'admin.token');
  if (await exists(file)) {
    await fs.chmod(file, 0o600);
    return null;
  }
  const issued = await tokens.issue({ subject: 'admin', kind: 'user', groups: [ADMIN_GROUP], targets: ['*'],
    ttlSeconds: ADMIN_TOKEN_TTL_SECONDS });
  await writePrivateFile(file, `${issued.token}\n`);
  return issued.token;
}
