/**
 * The PostgreSQL engine: takes one caller connection from startup to the end of its session. It negotiates TLS and
 * the protocol version, asks for the password (the caller's Warden token), lets the pipeline authenticate and
 * authorise, logs in upstream with the vaulted credentials, hands the caller Warden's own cancel key and relays.
 * It never decides anything itself and never sends a backend secret or internal detail to the caller.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { WardenError, toWardenError } from '../../errors.js';
import type { SessionPipeline } from '../../session/pipeline.js';
import type { SessionRegistry } from '../../session/registry.js';
import type { Session } from '../../session/session.js';
import {
  PROTOCOL_3_0, decodePassword, encodeAuthenticationCleartextPassword, encodeAuthenticationOk, encodeBackendKeyData,
  encodeErrorResponse, encodeNegotiateProtocolVersion, encodeParameterStatus, encodeReadyForQuery, type StartupPacket,
} from './codec.js';
import { encodeWardenError } from './errors.js';
import type { CancelKeys } from './cancel-keys.js';
import { postgresTarget } from './definition.js';
import { filterStartupParams } from './params.js';
import { Relay } from './relay.js';
import { ResultMasker } from './result-masking.js';
import { TableCatalog } from './catalog.js';
import { checkStartupSettings } from './session-settings.js';
import { StartupChannel } from './startup.js';
import { UpstreamStartupError, cancelUpstream, connectUpstream, type UpstreamConnection } from './upstream.js';

/** Everything the engine needs from the server. */
export interface PostgresEngineDeps {
  pipeline: SessionPipeline;
  registry: SessionRegistry;
  /** Warden's own cancel keys of this listener's sessions (the listener creates them when absent). */
  cancelKeys: CancelKeys;
  tls: { cert: string; key: string };
  /** True when callers may authenticate without TLS (loopback listener and the operator allowed it). */
  allowPlaintext: boolean;
  maxMessageBytes: number;
  logger: Logger;
  /** How long a caller may take from connecting to being authenticated (default 30 s). */
  startupTimeoutMs?: number;
  /** How long a caller may take from connecting to sending its first byte (default 10 s). */
  firstByteTimeoutMs?: number;
}

/** A caller that finished the startup phase: who it says it is and where it wants to go. */
interface StartupResult {
  user: string;
  targetName: string;
  database?: string;
  token: string;
  forwardParams: Record<string, string>;
  applicationName?: string;
}

/**
 * Serves one caller connection to its end. Never throws. `loginDone` is called once the login phase is over
 * (authenticated or refused), so the listener stops counting the connection as unauthenticated.
 */
export async function handleConnection(socket: Socket, deps: PostgresEngineDeps, loginDone?: () => void): Promise<void> {
  socket.setNoDelay(true);
  const clientAddress = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
  const channel = new StartupChannel(socket);
  // A caller that connects and says nothing holds a socket for free: give it less time than one that is logging in.
  const firstByte = setTimeout(() => socket.destroy(), deps.firstByteTimeoutMs ?? 10_000);
  socket.once('data', () => clearTimeout(firstByte));
  const timer = setTimeout(() => socket.destroy(), deps.startupTimeoutMs ?? 30_000);
  let startup: StartupResult | null;
  let session: Session;
  try {
    startup = await initialize(channel, deps);
    if (!startup) return;
    session = await deps.pipeline.open({ protocol: 'postgres', credential: { kind: 'token', token: startup.token }, user: startup.user,
      targetName: startup.targetName, database: startup.database, clientAddress, applicationName: startup.applicationName });
  } catch (err) {
    refuse(channel, toWardenError(err), deps.logger, clientAddress);
    return;
  } finally {
    clearTimeout(firstByte);
    clearTimeout(timer);
    loginDone?.();
  }
  await serve(channel, session, startup, deps);
}

/** Runs the startup phase; returns null when the connection was a CancelRequest (already handled). */
async function initialize(channel: StartupChannel, deps: PostgresEngineDeps): Promise<StartupResult | null> {
  let packet: StartupPacket;
  for (;;) {
    packet = await channel.readStartupPacket();
    if (packet.kind === 'ssl') {
      if (channel.encrypted) throw new WardenError('WARDEN_ERR_PROTOCOL', 'SSL request on an encrypted connection');
      await channel.upgradeTls(deps.tls);
    } else if (packet.kind === 'gssenc') {
      channel.write(Buffer.from('N')); // GSSAPI encryption is not offered; libpq then tries TLS or plaintext.
    } else if (packet.kind === 'cancel') {
      await forwardCancel(packet.processId, packet.secretKey, deps);
      channel.close();
      return null;
    } else break;
  }
  if (packet.kind !== 'startup') throw new WardenError('WARDEN_ERR_PROTOCOL', 'expected a startup message');
  const { forward, extensions } = filterStartupParams(packet.params);
  if (packet.minor > 0 || extensions.length > 0) {
    // Protocol 3.2 (and _pq_ extensions) are negotiated down: Warden speaks 3.0 with the caller.
    channel.write(encodeNegotiateProtocolVersion(PROTOCOL_3_0 & 0xffff, extensions));
  }
  const user = packet.params.user;
  if (!user) throw new WardenError('WARDEN_ERR_PROTOCOL', 'no user name given in the startup message');
  if (!channel.encrypted && !deps.allowPlaintext) {
    throw new WardenError('WARDEN_ERR_TLS_REQUIRED',
      'Warden requires TLS: connect with sslmode=require (or prefer), the token is never sent in plain text');
  }
  channel.write(encodeAuthenticationCleartextPassword());
  const message = await channel.readMessage();
  if (message.type !== 0x70 /* p */) throw new WardenError('WARDEN_ERR_PROTOCOL', 'expected a password message');
  const token = decodePassword(message.body);
  const { targetName, database } = splitDatabase(packet.params.database ?? user);
  return { user, targetName, database, token, forwardParams: forward, applicationName: packet.params.application_name };
}

/** `target` or `target/database`: the caller may pick another database on the target's server. */
function splitDatabase(dbname: string): { targetName: string; database?: string } {
  const slash = dbname.indexOf('/');
  if (slash < 0) return { targetName: dbname };
  const targetName = dbname.slice(0, slash);
  const database = dbname.slice(slash + 1);
  if (!targetName || !database) throw new WardenError('WARDEN_ERR_PROTOCOL', `invalid database name "${dbname}": use TARGET or TARGET/DATABASE`);
  return { targetName, database };
}

/** Connects upstream, completes the caller's login and relays until the session ends. */
async function serve(channel: StartupChannel, session: Session, startup: StartupResult, deps: PostgresEngineDeps): Promise<void> {
  const { pipeline, registry, logger } = deps;
  let upstream: UpstreamConnection;
  const target = postgresTarget(session.target);
  try {
    const credentials = await pipeline.credentials(session);
    upstream = await connectUpstream({ target, credentials, database: session.database,
      startupParams: startup.forwardParams });
    // The server must read statements as Warden does (a role default or login trigger could say otherwise).
    try {
      checkStartupSettings(upstream.parameters);
    } catch (err) {
      upstream.socket.destroy();
      throw err;
    }
  } catch (err) {
    const error = toWardenError(err);
    const reason = `upstream login failed: ${error.code}`;
    if (err instanceof UpstreamStartupError && err.fields.C) {
      channel.close(encodeErrorResponse({ severity: 'FATAL', code: err.fields.C, message: err.fields.M ?? err.message }));
    } else refuse(channel, error, logger, session.clientAddress);
    // The recording says why the session never started, in the caller-safe words the caller got (never `detail`).
    pipeline.onEvent(session, 'upstream.error', { code: error.code, message: error.callerMessage,
      ...(err instanceof UpstreamStartupError && err.fields.C ? { sqlstate: err.fields.C } : {}) });
    logger.warn({ session: session.id, code: error.code, detail: error.detail }, reason);
    await pipeline.close(session, reason);
    return;
  }
  const cancelKey = deps.cancelKeys.issue(session.id);
  const { socket: client, leftover } = channel.detach();
  client.write(Buffer.concat([
    encodeAuthenticationOk(),
    ...Object.entries(upstream.parameters).map(([name, value]) => encodeParameterStatus(name, value)),
    encodeBackendKeyData(cancelKey.processId, cancelKey.secretKey),
    ...upstream.notices,
    encodeReadyForQuery(upstream.readyStatus),
  ]));
  const masking = pipeline.masking(session);
  const masker = masking.rules.length > 0 ? new ResultMasker(masking.rules, masking.hashKey,
    TableCatalog.shared(target, session.database, () => pipeline.credentials(session)), upstream.parameters) : undefined;
  const relay = new Relay({ session, pipeline, client, upstream: upstream.socket, logger, maxMessageBytes: deps.maxMessageBytes, masker });
  registry.add({
    session,
    terminate: async (reason, options) => void (await relay.terminate(reason, options)),
    get ending() { return relay.ending; },
    // A statement held for approval is withdrawn; anything else is cancelled on the server.
    cancel: async () => void (await relay.cancel(() => cancelUpstream(target, upstream.processId, upstream.secretKey))),
    // Warden speaks unasked (a token about to expire) only between exchanges, never inside a result.
    notify: (message) => relay.notify(message),
  });
  logger.info({ session: session.id, user: session.subject.id, target: session.target.name }, 'session started');
  const idle = watchIdle(session.idleTimeoutMs ?? 0, relay);
  const reason = await relay.run(leftover, upstream.leftover);
  if (idle) clearInterval(idle);
  registry.remove(session.id);
  deps.cancelKeys.remove(session.id);
  await pipeline.close(session, reason);
  logger.info({ session: session.id, reason }, 'session ended');
}

/**
 * Ends a session idle for `idleMs` (the policies' `session.idleTimeout`, there is no PostgreSQL flag): the caller
 * gets FATAL 57P01 "terminating connection: idle for N s" between messages, like the kill switch's. Undefined when
 * there is no timeout.
 */
function watchIdle(idleMs: number, relay: Relay): NodeJS.Timeout | undefined {
  if (idleMs <= 0) return undefined;
  const timer = setInterval(() => {
    if (relay.ending || relay.idleFor() < idleMs) return;
    clearInterval(timer);
    // terminate() resolves with the end reason, which run() also returns; it never rejects.
    relay.terminate(`idle for ${Math.round(idleMs / 1000)} s`).catch(() => {});
  }, Math.min(idleMs, 5000));
  timer.unref();
  return timer;
}

/** A CancelRequest names Warden's key; the upstream's own key never left Warden. Unknown keys are ignored, as PostgreSQL does. */
async function forwardCancel(processId: number, secretKey: Buffer, deps: PostgresEngineDeps): Promise<void> {
  const sessionId = deps.cancelKeys.find(processId, secretKey);
  const live = sessionId === undefined ? undefined : deps.registry.get(sessionId);
  if (!live?.cancel) return;
  // Recorded while the session is known live, before any await: after one, its recording may have ended.
  deps.pipeline.onEvent(live.session, 'cancel', {});
  try {
    await live.cancel();
  } catch (err) {
    deps.logger.warn({ err, session: live.session.id }, 'could not forward a cancel request upstream');
  }
}

function refuse(channel: StartupChannel, err: WardenError, logger: Logger, clientAddress: string): void {
  if (err.kind === 'internal') logger.error({ detail: err.detail, client: clientAddress }, 'startup failed');
  else logger.debug({ code: err.code, client: clientAddress }, `startup refused: ${err.message}`);
  channel.close(encodeWardenError(err));
}
