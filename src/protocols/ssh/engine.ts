/**
 * The SSH engine: takes one caller connection from its login to its end. The login (auth.ts) opens the Warden
 * session through the pipeline and logs in upstream with the vaulted credentials (upstream.ts) before the caller is
 * accepted; then session channels (channels.ts) and forwards (forwarding.ts) are relayed, each request judged by
 * the pipeline. The live session is registered so revocation, `sessions kill` and shutdown end it within the
 * kill switch's second, with a line on every open channel saying why. An idle timeout ends connections with no
 * traffic either way. It never decides anything itself and never sends the caller a backend secret or detail.
 */
import type { Duplex } from 'node:stream';
import type { Client, Connection, PublicKeyAuthContext } from 'ssh2';
import type { Logger } from 'pino';
import { WardenError, toWardenError } from '../../errors.js';
import type { SessionPipeline } from '../../session/pipeline.js';
import type { SessionRegistry, TerminateOptions } from '../../session/registry.js';
import type { Session } from '../../session/session.js';
import type { SshHostKeyRepository } from '../../store/ssh-host-key-types.js';
import { login } from './auth.js';
import type { AuthFailureLimiter } from './auth-limiter.js';
import { serveSessionChannel } from './channels.js';
import type { ConnectionContext, TrackedChannel } from './context.js';
import { serveForwarding } from './forwarding.js';
import { AgentRelay } from './agent-forwarding.js';
import { MaskingStream } from '../output-masking.js';
import { SameLengthMasker } from '../../masking/same-length.js';
import { sshCredentials } from './definition.js';
import { connectUpstream, upstreamSocket } from './upstream.js';
import { coalesceWrites } from './write-batching.js';

/** Everything the engine needs from the server. */
export interface SshEngineDeps {
  pipeline: SessionPipeline;
  registry: SessionRegistry;
  knownHosts: Pick<SshHostKeyRepository, 'get' | 'recordIfAbsent'>;
  limiter: AuthFailureLimiter;
  logger: Logger;
  /** True when public keys are accepted (the pipeline has a PublicKeyAuthenticator). */
  publicKeys: boolean;
  /** Checks a publickey attempt's signature (h4's verifyPublicKeyAttempt). */
  verifySignature(ctx: PublicKeyAuthContext): boolean;
  /** Ends a connection that has not logged in within this time (default 30 s). */
  authTimeoutMs?: number;
  /** Ends a session with no traffic either way for this long (0 or absent: never); policies may set less. */
  idleTimeoutMs?: number;
  /** Keep-alive interval towards the target (default 15 s). */
  keepaliveMs?: number;
  /** Upstream connect and handshake deadline (default 15 s). */
  upstreamTimeoutMs?: number;
}

/** How long channels get to flush the goodbye line before the connection is closed. */
const GOODBYE_FLUSH_MS = 200;

/**
 * Serves one caller connection to its end. Never throws. `loginDone` is called once the login phase is over
 * (authenticated, refused or closed), so the listener stops counting the connection as unauthenticated.
 * `socket` is the caller's TCP socket under `client` (its writes are coalesced with the target's, write-batching.ts).
 */
export async function handleConnection(client: Connection, clientAddress: string, sourceIp: string | undefined,
  deps: SshEngineDeps, loginDone: () => void, socket?: Duplex): Promise<void> {
  let upstream: Client | undefined;
  const agent = new AgentRelay();
  let closed = false;
  const closedPromise = new Promise<void>((resolve) => client.once('close', () => { closed = true; resolve(); }));
  client.on('error', (err: Error) => deps.logger.debug({ err: err.message, client: clientAddress }, 'ssh connection error'));
  const timer = setTimeout(() => client.end(), deps.authTimeoutMs ?? 30_000);
  const session = await Promise.race([
    login(client, clientAddress, sourceIp, {
      pipeline: deps.pipeline, logger: deps.logger, limiter: deps.limiter, publicKeys: deps.publicKeys,
      verifySignature: deps.verifySignature, idleTimeoutMs: deps.idleTimeoutMs,
      connect: async (s) => { upstream = await connectTarget(s, deps, agent); },
    }),
    closedPromise.then(() => undefined),
  ]);
  clearTimeout(timer);
  loginDone();
  if (session === undefined || upstream === undefined) return;
  if (closed) {
    upstream.end();
    await deps.pipeline.close(session, 'the caller disconnected during login');
    return;
  }
  const target = upstreamSocket(upstream);
  const uncoalesce = socket && target ? coalesceWrites(socket, target) : undefined;
  await serve(client, session, { client: upstream, agent }, closedPromise, deps);
  uncoalesce?.();
}

/** Logs in upstream for a freshly opened session; on failure the session is closed with the reason, then rethrown. */
async function connectTarget(session: Session, deps: SshEngineDeps, agent: AgentRelay): Promise<Client> {
  try {
    if (session.target.type !== 'ssh') throw new WardenError('WARDEN_ERR_INTERNAL', 'not an ssh target', { public: false });
    const credentials = sshCredentials(await deps.pipeline.credentials(session));
    const upstream = await connectUpstream({ target: session.target, credentials, knownHosts: deps.knownHosts,
      readyTimeoutMs: deps.upstreamTimeoutMs, keepaliveMs: deps.keepaliveMs, agent });
    if (upstream.firstUse) {
      deps.pipeline.onEvent(session, 'ssh.host_key.recorded', { fingerprint: upstream.hostKeyFingerprint });
      deps.logger.info({ target: session.target.name, fingerprint: upstream.hostKeyFingerprint }, 'recorded the host key of an SSH target on first use');
    }
    return upstream.client;
  } catch (err) {
    const error = toWardenError(err);
    deps.pipeline.onEvent(session, 'upstream.error', { code: error.code, message: error.callerMessage });
    deps.logger.warn({ session: session.id, code: error.code, detail: error.detail }, `ssh upstream login failed: ${error.message}`);
    await deps.pipeline.close(session, `upstream login failed: ${error.code}`);
    throw error;
  }
}

/** Relays a logged-in connection until either side closes or Warden ends it. */
async function serve(client: Connection, session: Session, target: { client: Client; agent: AgentRelay }, closed: Promise<void>,
  deps: SshEngineDeps): Promise<void> {
  const { pipeline, registry, logger } = deps;
  const upstream = target.client;
  const channels = new Set<TrackedChannel>();
  let ending: string | undefined;
  let lastActivity = Date.now();
  let channelCount = 0;
  const masking = pipeline.masking(session);
  const conn: ConnectionContext = {
    session, pipeline, logger, upstream, caller: client, forwards: { agent: target.agent, x11: false },
    mask: masking.rules.length > 0 ? MaskingStream.forRules(masking.rules, masking.hashKey) : null,
    sftpMasker: () => (masking.rules.length > 0 ? SameLengthMasker.forRules(masking.rules) : null),
    get ending() { return ending; },
    touch: () => { lastActivity = Date.now(); },
    nextChannel: () => channelCount++,
    track: (channel) => {
      channels.add(channel);
      return () => channels.delete(channel);
    },
  };
  const end = (reason: string): Promise<void> => {
    if (ending !== undefined) return closed;
    ending = reason;
    for (const channel of channels) channel.tell(`warden: session ended: ${reason}`);
    for (const channel of channels) channel.end();
    setTimeout(() => { client.end(); upstream.end(); }, channels.size > 0 ? GOODBYE_FLUSH_MS : 0).unref();
    return closed;
  };
  const terminate = async (reason: string, options?: TerminateOptions): Promise<void> => {
    if (options?.letStatementsFinish) {
      pipeline.drain(session, reason);
      const deadline = Date.now() + (options.graceMs ?? 30_000);
      while (channels.size > 0 && Date.now() < deadline && ending === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    await end(reason);
  };
  registry.add({
    session, terminate,
    get ending() { return ending !== undefined; },
    notify: (message) => { for (const channel of channels) channel.tell(`warden: ${message}`); },
  });
  // The pipeline set the session's timeout: the smallest of the policies' and --ssh-idle-timeout. Only channel data
  // counts as activity: keep-alives either way (global requests ssh2 answers itself) never touch the clock.
  const idleMs = session.idleTimeoutMs ?? 0;
  const idle = idleMs > 0 ? setInterval(() => {
    if (Date.now() - lastActivity >= idleMs) end(`idle for ${Math.round(idleMs / 1000)} s`).catch(() => {});
  }, Math.min(idleMs, 5000)) : undefined;
  idle?.unref();
  upstream.on('close', () => { end(`the connection to target "${session.target.name}" was closed`).catch(() => {}); });
  client.on('session', (accept, reject) => {
    if (ending !== undefined) return reject();
    serveSessionChannel(conn, accept());
  });
  serveForwarding(conn, client);
  logger.info({ session: session.id, user: session.subject.id, target: session.target.name }, 'ssh session started');
  await closed;
  if (idle) clearInterval(idle);
  upstream.end();
  registry.remove(session.id);
  const reason = ending ?? 'the caller disconnected';
  await pipeline.close(session, reason);
  logger.info({ session: session.id, reason }, 'ssh session ended');
}
