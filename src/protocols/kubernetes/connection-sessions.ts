/**
 * What a Warden session is for Kubernetes: one caller TCP connection to one target. The session opens at the
 * connection's first request for that target (`pipeline.open` with the request's bearer token) and ends when the
 * connection closes or Warden ends it; every later request on it must carry the same token (else 401), so a
 * connection never mixes callers. kubectl keeps connections alive and opens one per concurrent request (a watch
 * holds its own), so one kubectl command is one session or a few. Each session is in the live-session registry:
 * revocation, `sessions kill` and shutdown end its requests (a watch gets an ERROR event, a followed log a last
 * line) and close the connection. The vaulted credentials are read once, when the session opens, and kept only
 * in memory for its life, like an SSH upstream login.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { WardenError } from '../../errors.js';
import type { SessionPipeline } from '../../session/pipeline.js';
import type { SessionRegistry, TerminateOptions } from '../../session/registry.js';
import type { Session } from '../../session/session.js';
import type { KubernetesCredentials, KubernetesTarget } from '../../session/types.js';
import { callerAndChain, asWardenClaims } from '../../identity/claims.js';
import { decodeJwt } from 'jose';
import { kubernetesCredentials } from './definition.js';
import { upstreamTls, type UpstreamTls } from './upstream.js';

/** A request in flight on a session, which Warden can end. */
export interface ActiveRequest {
  /** Ends the request now, telling the caller `reason` as well as its answer allows. */
  end(reason: string): void;
}

/** One open Kubernetes session. */
export interface KubeSession {
  session: Session;
  target: KubernetesTarget;
  credentials: KubernetesCredentials;
  tls: UpstreamTls;
  active: Set<ActiveRequest>;
  /** Notices for the caller (token expiry), sent as Warning headers on the next answer. */
  warnings: string[];
  /** Set once Warden ends the session. */
  ending?: string;
}

interface Entry {
  digest: Buffer;
  opening: Promise<KubeSession>;
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/**
 * The user a Warden token names (the caller of a delegated token), read without verifying it: the pipeline verifies
 * the token and refuses it unless it was issued to exactly this user. Anything unreadable names no user.
 */
export function tokenUser(token: string): string {
  try {
    const claims = asWardenClaims(decodeJwt(token));
    return claims === undefined ? '' : callerAndChain(claims).caller.id;
  } catch {
    return '';
  }
}

/** Everything the sessions need. */
export interface ConnectionSessionDeps {
  pipeline: SessionPipeline;
  registry: SessionRegistry;
  logger: Logger;
  /** Called once a session opened on `socket`: the connection has left its login phase (the listener's admission). */
  authenticated?(socket: Socket): void;
}

/** The sessions of every caller connection. */
export class ConnectionSessions {
  private readonly byConnection = new WeakMap<Socket, Map<string, Entry>>();

  constructor(private readonly deps: ConnectionSessionDeps) {}

  /** The session of this connection and target, opened now when it is the first request; checks the token. */
  async get(socket: Socket, targetName: string, token: string, clientAddress: string): Promise<KubeSession> {
    let sessions = this.byConnection.get(socket);
    if (sessions === undefined) {
      sessions = new Map();
      this.byConnection.set(socket, sessions);
      const all = sessions;
      socket.once('close', () => { for (const entry of all.values()) this.closed(entry, 'the caller disconnected'); });
    }
    const found = sessions.get(targetName);
    if (found !== undefined) {
      if (!timingSafeEqual(found.digest, digest(token))) {
        throw new WardenError('WARDEN_ERR_UNAUTHENTICATED', 'this connection was opened with another Warden token; '
          + 'open a new connection for another caller');
      }
      return found.opening;
    }
    const entry: Entry = { digest: digest(token), opening: this.open(socket, targetName, token, clientAddress) };
    sessions.set(targetName, entry);
    // A refused open is not kept: the next request on the connection tries again (and is recorded again).
    entry.opening.catch(() => { if (sessions!.get(targetName) === entry) sessions!.delete(targetName); });
    return entry.opening;
  }

  private async open(socket: Socket, targetName: string, token: string, clientAddress: string): Promise<KubeSession> {
    const { pipeline, registry, logger } = this.deps;
    const session = await pipeline.open({ protocol: 'kubernetes', credential: { kind: 'token', token }, user: tokenUser(token),
      targetName, clientAddress });
    this.deps.authenticated?.(socket);
    let credentials: KubernetesCredentials;
    try {
      credentials = kubernetesCredentials(await pipeline.credentials(session));
    } catch (err) {
      await pipeline.close(session, 'the target\'s credentials could not be read');
      throw err;
    }
    const target = session.target as KubernetesTarget;
    const kube: KubeSession = { session, target, credentials, tls: upstreamTls(target, credentials), active: new Set(), warnings: [] };
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const end = (reason: string): Promise<void> => {
      if (kube.ending === undefined) {
        kube.ending = reason;
        for (const request of kube.active) request.end(reason);
        // Let the last words reach the caller, then close the connection (and with it every session on it).
        setTimeout(() => socket.destroy(), kube.active.size > 0 ? 100 : 0).unref();
      }
      return closed;
    };
    const terminate = async (reason: string, options?: TerminateOptions): Promise<void> => {
      if (options?.letStatementsFinish) {
        pipeline.drain(session, reason);
        const deadline = Date.now() + (options.graceMs ?? 30_000);
        while (kube.active.size > 0 && Date.now() < deadline && kube.ending === undefined) await new Promise((r) => setTimeout(r, 100));
      }
      await end(reason);
    };
    registry.add({ session, terminate, get ending() { return kube.ending !== undefined; },
      notify: (message) => { kube.warnings.push(message); } });
    logger.info({ session: session.id, user: session.subject.id, target: target.name }, 'kubernetes session started');
    return kube;
  }

  private closed(entry: Entry, reason: string): void {
    entry.opening.then(async (kube) => {
      this.deps.registry.remove(kube.session.id);
      for (const request of kube.active) request.end(kube.ending ?? reason);
      await this.deps.pipeline.close(kube.session, kube.ending ?? reason);
      this.deps.logger.info({ session: kube.session.id, reason: kube.ending ?? reason }, 'kubernetes session ended');
    }, () => {});
  }
}
