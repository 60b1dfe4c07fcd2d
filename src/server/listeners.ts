/**
 * The protocol listeners `warden start` opens, registered by protocol: each registration says which config field
 * holds its port, how to word a failure to bind, and how to build its listener from the shared parts (pipeline,
 * session registry, TLS pair, logger). server.ts opens every registered listener and writes the bound ports to
 * ports.json under the protocol's name; adding a protocol adds one registration here and touches nothing else in
 * the server. This module builds listeners; it never opens a socket itself.
 */
import type { Logger } from 'pino';
import { PostgresListener } from '../protocols/postgres/listener.js';
import { loadOrCreateHostKey } from '../protocols/ssh/host-key.js';
import { SshListener } from '../protocols/ssh/listener.js';
import { KubeListener } from '../protocols/kubernetes/listener.js';
import { HttpListener } from '../protocols/http/listener.js';
import { verifyPublicKeyAttempt } from '../identity/ssh-signature.js';
import type { SessionPipeline } from '../session/pipeline.js';
import type { Policy } from '../policy/schema.js';
import type { ProtocolRegistry } from '../session/protocol-registry.js';
import type { SessionRegistry } from '../session/registry.js';
import type { Store } from '../store/types.js';
import type { AdmissionLimits } from './admission.js';
import type { ServerConfig } from './config.js';
import type { TlsMaterial } from './tls.js';

/** A listening front end of one protocol, as the server drives it. */
export interface ProtocolListener {
  /** Starts listening; resolves with the bound port (useful when `port` is 0). */
  listen(host: string, port: number): Promise<number>;
  /** Stops accepting new connections. */
  stopAccepting(): Promise<void>;
  /** Destroys connections still open (after live sessions were terminated). */
  destroyRemaining(): void;
  /** What callers should know beside the port, printed at start-up (e.g. an SSH host key fingerprint). */
  readonly note?: string;
}

/** The shared parts every listener is built from. */
export interface ListenerContext {
  config: ServerConfig;
  pipeline: SessionPipeline;
  registry: SessionRegistry;
  tls: TlsMaterial;
  logger: Logger;
  dataDir: string;
  store: Store;
  /** The policies in force (the Kubernetes engine reads whether a rule grants class `secrets`). */
  policies: { current(): readonly Policy[] };
  /** The protocols this Warden speaks (an engine analyses with its own definition from here). */
  protocols: ProtocolRegistry;
}

/** How the server opens one protocol's listener. */
export interface ListenerRegistration {
  /** The protocol's name: the key of its port in ports.json. */
  protocol: string;
  /** Words for an operator: `PostgreSQL listener`. */
  label: string;
  /** The flag and environment variable that set its port, for error messages. */
  flag: string;
  env: string;
  /** Its port from the configuration (0: a free one). */
  port(config: ServerConfig): number;
  /** Builds the listener (may read or create files in the data dir, e.g. a host key). */
  create(context: ListenerContext): ProtocolListener | Promise<ProtocolListener>;
}

/** True for loopback listen addresses (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The caps on connections in their login phase every listener applies (`--max-unauthenticated` and per source). */
function admissionOf(config: ServerConfig): AdmissionLimits {
  return { maxUnauthenticated: config.maxUnauthenticated, maxUnauthenticatedPerSource: config.maxUnauthenticatedPerSource };
}

const postgres: ListenerRegistration = {
  protocol: 'postgres',
  label: 'PostgreSQL listener',
  flag: '--postgres-port',
  env: 'WARDEN_POSTGRES_PORT',
  port: (config) => config.postgresPort,
  create: ({ config, pipeline, registry, tls, logger }) => {
    if (config.allowPlaintextLoopback && !isLoopback(config.listenHost)) {
      logger.warn({ host: config.listenHost }, 'plaintext logins are allowed on loopback only; this listener requires TLS');
    }
    return new PostgresListener({
      pipeline, registry, tls, logger, maxMessageBytes: config.maxMessageBytes,
      admission: admissionOf(config), firstByteTimeoutMs: config.firstByteTimeout * 1000, startupTimeoutMs: config.loginTimeout * 1000,
      allowPlaintext: config.allowPlaintextLoopback && isLoopback(config.listenHost),
    });
  },
};

const ssh: ListenerRegistration = {
  protocol: 'ssh',
  label: 'SSH listener',
  flag: '--ssh-port',
  env: 'WARDEN_SSH_PORT',
  port: (config) => config.sshPort,
  create: async ({ config, pipeline, registry, logger, dataDir, store }) => {
    const hostKey = await loadOrCreateHostKey(dataDir);
    return new SshListener({
      pipeline, registry, knownHosts: store.sshHostKeys, logger, hostKey,
      // The pipeline maps a key (registered, or a certificate of Warden's CA) to its owner once its signature holds.
      publicKeys: pipeline.acceptsPublicKeys, verifySignature: verifyPublicKeyAttempt,
      admission: admissionOf(config), authTimeoutMs: config.loginTimeout * 1000, idleTimeoutMs: config.sshIdleTimeout * 1000,
    });
  },
};

const kubernetes: ListenerRegistration = {
  protocol: 'kubernetes',
  label: 'Kubernetes listener',
  flag: '--kube-port',
  env: 'WARDEN_KUBE_PORT',
  port: (config) => config.kubePort,
  create: ({ config, pipeline, registry, tls, logger, policies, protocols }) => new KubeListener({
    pipeline, registry, tls, logger, policies, protocol: protocols.require('kubernetes'), admission: admissionOf(config),
    loginTimeoutMs: config.loginTimeout * 1000,
  }),
};

const httpListener: ListenerRegistration = {
  protocol: 'http',
  label: 'HTTP listener',
  flag: '--http-port',
  env: 'WARDEN_HTTP_PORT',
  port: (config) => config.httpPort,
  create: ({ config, pipeline, registry, tls, logger, policies, protocols }) => new HttpListener({
    pipeline, registry, logger, policies, protocol: protocols.require('http'), tlsMaterial: tls, tls: config.httpTls,
    domain: config.httpDomain ?? null, admission: admissionOf(config), loginTimeoutMs: config.loginTimeout * 1000,
    sessionIdleMs: config.httpSessionIdle * 1000, recordBodyBytes: config.httpRecordBodyBytes,
  }),
};

/** Every protocol listener `warden start` opens, in start order. */
export const LISTENERS: readonly ListenerRegistration[] = [postgres, ssh, kubernetes, httpListener];
