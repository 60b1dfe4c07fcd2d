/**
 * The upstream side of an SSH session: an ssh2 Client logged in to the target with the vaulted password or private
 * key, after checking the server's host key: the target's pinned fingerprint when it has one, else the key recorded
 * the first time Warden met `host:port` (trust on first use), recorded now when there is none. A changed key refuses
 * the session naming both fingerprints. Errors are WardenErrors whose caller text names the target and the cause,
 * never a secret. It never decides anything about commands.
 */
import net from 'node:net';
import { Client, type BaseAgent, type ClientChannel, type ConnectConfig } from 'ssh2';
import { WardenError } from '../../errors.js';
import type { SshHostKeyRepository } from '../../store/ssh-host-key-types.js';
import { fingerprintOfBlob } from './host-key.js';

/** What upstream needs of an SSH target (no secret). */
export interface SshUpstreamTarget {
  name: string;
  host: string;
  port: number;
  user: string;
  hostKeyFingerprint: string | null;
}

/** Vaulted credentials for the target (decrypted just before the login, never kept). */
export interface SshUpstreamCredentials {
  user: string;
  password: string | null;
  privateKey: string | null;
  passphrase: string | null;
}

/** Options of connectUpstream. */
export interface UpstreamOptions {
  target: SshUpstreamTarget;
  credentials: SshUpstreamCredentials;
  knownHosts: Pick<SshHostKeyRepository, 'get' | 'recordIfAbsent'>;
  /** Connect and handshake deadline (default 15 s). */
  readyTimeoutMs?: number;
  /** Keep-alive interval towards the target (default 15 s; 0 disables). */
  keepaliveMs?: number;
  /**
   * Serves the agent channels the target opens once the caller's agent forwarding is allowed (agent-forwarding.ts).
   * It is never offered as a way to log in: the login uses the vaulted credentials only.
   */
  agent?: BaseAgent;
}

/** A logged-in upstream connection. */
export interface UpstreamConnection {
  client: Client;
  /** The server's host key fingerprint, as checked. */
  hostKeyFingerprint: string;
  /** True when this connection recorded the key (first use). */
  firstUse: boolean;
}

/** The TCP socket under each upstream client (engine.ts coalesces its writes with the caller's). */
const sockets = new WeakMap<Client, net.Socket>();

/** The socket a client made by connectUpstream runs on. */
export function upstreamSocket(client: Client): net.Socket | undefined {
  return sockets.get(client);
}

/** The `host:port` key of the known-hosts table. */
export function endpointOf(target: { host: string; port: number }): string {
  return `${target.host.toLowerCase()}:${target.port}`;
}

type HostCheck = { ok: true; firstUse: boolean } | { ok: false; error: WardenError };

/** Decides whether the key `blob` may be the target's; records it on first use. */
async function checkHostKey(blob: Buffer, options: UpstreamOptions): Promise<HostCheck> {
  const { target } = options;
  const seen = fingerprintOfBlob(blob);
  if (target.hostKeyFingerprint !== null) {
    if (seen === target.hostKeyFingerprint) return { ok: true, firstUse: false };
    return { ok: false, error: mismatch(target, target.hostKeyFingerprint, seen, 'pinned') };
  }
  const endpoint = endpointOf(target);
  const before = await options.knownHosts.get(endpoint);
  const known = before ?? await options.knownHosts.recordIfAbsent({ endpoint, fingerprint: seen,
    publicKey: `${keyType(blob)} ${blob.toString('base64')}`, target: target.name, firstSeenAt: new Date().toISOString() });
  if (known.fingerprint === seen) return { ok: true, firstUse: before === undefined };
  return { ok: false, error: mismatch(target, known.fingerprint, seen, 'recorded on first use') };
}

function mismatch(target: SshUpstreamTarget, expected: string, seen: string, how: string): WardenError {
  return new WardenError('WARDEN_ERR_UPSTREAM_HOST_KEY',
    `the host key of SSH target "${target.name}" changed: expected ${expected} (${how}), the server presented ${seen}; `
    + 'if the server was rebuilt, an administrator must confirm the new key (warden targets update --host-key-fingerprint)');
}

/** The key type name at the start of an SSH public key blob. */
function keyType(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + Math.min(len, 64)).toString('latin1');
}

/** Connects and logs in; resolves once the upstream accepted Warden's credentials. */
export function connectUpstream(options: UpstreamOptions): Promise<UpstreamConnection> {
  const { target, credentials } = options;
  const client = new Client();
  // Warden's own socket, with Nagle off: small writes (SFTP READ requests, window adjusts) must not wait for the ACK
  // of the previous one, which stalled downloads. ssh2 connects through it and owns it from here on.
  const sock = net.connect({ host: target.host, port: target.port, noDelay: true });
  sock.on('error', () => {}); // ssh2 reports socket errors itself, once connect() attached its handlers
  sockets.set(client, sock);
  let hostCheck: HostCheck | undefined;
  let fingerprint = '';
  const config: ConnectConfig = {
    sock, host: target.host, port: target.port, username: credentials.user,
    readyTimeout: options.readyTimeoutMs ?? 15_000,
    keepaliveInterval: options.keepaliveMs ?? 15_000,
    keepaliveCountMax: 3,
    hostVerifier: (key: Buffer, verify: (valid: boolean) => void) => {
      fingerprint = fingerprintOfBlob(key);
      checkHostKey(key, options).then((check) => {
        hostCheck = check;
        verify(check.ok);
      }, (err: unknown) => {
        hostCheck = { ok: false, error: err instanceof WardenError ? err
          : new WardenError('WARDEN_ERR_STORE_UNAVAILABLE', 'could not check the host key of the target', { public: true }) };
        verify(false);
      });
    },
  };
  if (credentials.password !== null) {
    config.password = credentials.password;
    config.tryKeyboard = true;
  }
  if (credentials.privateKey !== null) {
    config.privateKey = credentials.privateKey;
    if (credentials.passphrase !== null) config.passphrase = credentials.passphrase;
  }
  if (options.agent !== undefined) {
    config.agent = options.agent;
    // ssh2 would otherwise try an agent it is given as a login method: name the vaulted methods only.
    config.authHandler = ['none', ...(credentials.password !== null ? ['password'] : []),
      ...(credentials.privateKey !== null ? ['publickey'] : []), ...(credentials.password !== null ? ['keyboard-interactive'] : [])] as ConnectConfig['authHandler'];
  }
  if (credentials.password !== null) {
    // Servers that only offer keyboard-interactive get the vaulted password as the answer to every prompt.
    client.on('keyboard-interactive', (_name, _instructions, _lang, prompts, finish) => finish(prompts.map(() => credentials.password!)));
  }
  return new Promise((resolve, reject) => {
    client.once('ready', () => {
      client.removeAllListeners('error');
      client.on('error', () => {}); // later errors end the session through 'close'
      resolve({ client, hostKeyFingerprint: fingerprint, firstUse: hostCheck?.ok === true && hostCheck.firstUse });
    });
    client.once('error', (err: Error & { level?: string; code?: string }) => {
      client.on('error', () => {});
      client.end();
      reject(upstreamError(err, target, hostCheck));
    });
    try {
      client.connect(config);
    } catch (err) {
      sock.destroy();
      // ssh2 throws synchronously on a private key it cannot parse (or a wrong passphrase).
      reject(new WardenError('WARDEN_ERR_UPSTREAM_AUTH', `the vaulted private key of SSH target "${target.name}" could not be used`,
        { detail: err instanceof Error ? err.message : String(err) }));
    }
  });
}

/** The caller-safe error for an ssh2 client failure; the raw text goes to `detail` only. */
function upstreamError(err: Error & { level?: string; code?: string }, target: SshUpstreamTarget, hostCheck: HostCheck | undefined): WardenError {
  if (hostCheck && !hostCheck.ok) return hostCheck.error;
  const where = `SSH target "${target.name}" (${target.host}:${target.port})`;
  if (err.level === 'client-authentication') {
    return new WardenError('WARDEN_ERR_UPSTREAM_AUTH', `${where} rejected Warden's vaulted credentials`, { detail: err.message });
  }
  if (err.level === 'client-timeout' || /timed out/i.test(err.message)) {
    return new WardenError('WARDEN_ERR_UPSTREAM_UNAVAILABLE', `${where} did not answer in time`, { detail: err.message });
  }
  if (err.level === 'client-socket' || err.code !== undefined) {
    const cause = err.code === 'ECONNREFUSED' ? 'connection refused' : err.code === 'ENOTFOUND' ? 'host not found'
      : err.code === 'EHOSTUNREACH' ? 'host unreachable' : 'network error';
    return new WardenError('WARDEN_ERR_UPSTREAM_UNAVAILABLE', `could not reach ${where}: ${cause}`, { detail: err.message });
  }
  return new WardenError('WARDEN_ERR_UPSTREAM_PROTOCOL', `${where} failed during the SSH handshake`, { detail: err.message });
}

/** Opens a channel-level request on the upstream as a promise. */
export function channelOf(open: (cb: (err: Error | undefined, channel: ClientChannel) => void) => void): Promise<ClientChannel> {
  return new Promise((resolve, reject) => open((err, channel) => (err ? reject(err) : resolve(channel))));
}
