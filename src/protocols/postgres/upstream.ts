/**
 * Opens Warden's own connection to an upstream PostgreSQL server for one session: TCP, TLS negotiated with libpq's
 * sslmode meanings, the startup packet, authentication (trust, cleartext, MD5, SCRAM-SHA-256) and the startup
 * messages up to ReadyForQuery; and sends CancelRequests to it.
 * It must never put the backend password into an error, a message or a log line, never send the password before
 * the server asks for it, and never leave a socket open after a failure. It decides nothing about policy.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { serialize } from 'pg-protocol';
import { WardenError } from '../../errors.js';
import type { Credentials, PostgresTarget } from '../../session/types.js';
import { chooseMechanism, ScramClient } from './scram.js';
import {
  UpstreamStartupError, address, authFailed, badProtocol, socketFailure, startupFailure, tlsFailure, tlsRefused, unreachable,
} from './upstream-errors.js';

export { UpstreamStartupError } from './upstream-errors.js';

const DEFAULT_TIMEOUT_MS = 10_000;
const PROTOCOL_3_0 = 196608;
const CANCEL_REQUEST_CODE = 80877102;
/** Startup-phase messages are small; a huge length means garbage, not data worth buffering. */
const MAX_STARTUP_MESSAGE = 1 << 20;
/**
 * Startup parameters never forwarded from the caller: identity is Warden's (user, database), `replication` would
 * open a walsender instead of a SQL session, and `_pq_.*` protocol extensions are not negotiated by Warden.
 */
const WITHHELD_PARAMS = new Set(['user', 'database', 'replication']);

/** What connectUpstream needs: where, as whom, and the caller's startup parameters to pass on. */
export interface UpstreamOptions {
  target: PostgresTarget;
  credentials: Credentials;
  database: string;
  /** The caller's startup parameters (application_name, client_encoding, DateStyle, options, ...). */
  startupParams: Record<string, string>;
  connectTimeoutMs?: number;
  signal?: AbortSignal;
}

/** A logged-in upstream session, ready for the engine's relay. */
export interface UpstreamConnection {
  /** Returned paused and without Warden's listeners: attach 'error' at once and call resume() to read. */
  socket: net.Socket | tls.TLSSocket;
  tls: boolean;
  /** Every ParameterStatus received during startup. */
  parameters: Record<string, string>;
  processId: number;
  secretKey: Buffer;
  readyStatus: 'I' | 'T' | 'E';
  /** Raw NoticeResponse messages seen during startup, to pass on to the caller. */
  notices: Buffer[];
  /** Bytes read after ReadyForQuery (normally empty). */
  leftover: Buffer;
}

/**
 * Rejects when the timeout passes or the signal aborts; race() lets every await of an attempt lose to it. The
 * attempt's catch then destroys the socket, which settles whatever was still pending.
 */
class Deadline {
  readonly expired: Promise<never>;
  private readonly timer: NodeJS.Timeout;
  private readonly onAbort: () => void;
  phase = 'connecting';

  constructor(private readonly target: PostgresTarget, ms: number, private readonly signal?: AbortSignal) {
    let fail!: (err: WardenError) => void;
    this.expired = new Promise<never>((_, reject) => (fail = reject));
    this.expired.catch(() => undefined);
    this.timer = setTimeout(() => fail(unreachable(target,
      `no answer from ${address(target)} within ${ms / 1000} s while ${this.phase}`)), ms);
    this.onAbort = () => fail(this.abortError());
    signal?.addEventListener('abort', this.onAbort, { once: true });
    if (signal?.aborted) this.onAbort();
  }

  abortError(): WardenError {
    const reason: unknown = this.signal?.reason;
    if (reason instanceof WardenError) return reason;
    return new WardenError('WARDEN_ERR_UPSTREAM_UNAVAILABLE', `connection to target "${this.target.name}" was cancelled`,
      { detail: `aborted while ${this.phase}: ${reason instanceof Error ? reason.message : String(reason)}` });
  }

  race<T>(work: Promise<T>): Promise<T> {
    work.catch(() => undefined); // it may reject after we stopped waiting for it
    return Promise.race([work, this.expired]);
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.signal?.removeEventListener('abort', this.onAbort);
  }
}

/** Resolves once the socket connects; rejects with the system error otherwise (also used by diagnose.ts). */
export function connected(socket: net.Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      socket.off('connect', onConnect).off('error', done).off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onConnect = (): void => done();
    const onClose = (): void => done(new Error('socket closed before connecting'));
    socket.once('connect', onConnect).once('error', done).once('close', onClose);
  });
}

export function openTcp(target: PostgresTarget): net.Socket {
  const socket = net.connect({ host: target.host, port: target.port });
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 30_000); // as libpq: notice a dead peer on an idle session
  return socket;
}

/** Reads the one-byte answer to SSLRequest. More bytes before the TLS handshake would be injected data (CVE-2021-23222). */
export function sslAnswer(socket: net.Socket, target: PostgresTarget): Promise<number> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      socket.off('data', onData).off('error', onError).off('close', onClose);
      socket.pause();
    };
    const onData = (chunk: Buffer): void => {
      done();
      if (chunk.length !== 1) reject(badProtocol(target, `${chunk.length} bytes in answer to SSLRequest`));
      else resolve(chunk[0]);
    };
    const onError = (err: Error): void => (done(), reject(err));
    const onClose = (): void => (done(), reject(unreachable(target,
      `the server at ${address(target)} closed the connection in answer to the TLS request`)));
    socket.on('data', onData).once('error', onError).once('close', onClose);
  });
}

export function tlsOptions(socket: net.Socket, target: PostgresTarget): tls.ConnectionOptions {
  const verify = target.tls === 'verify-full';
  const options: tls.ConnectionOptions = { socket, host: target.host, minVersion: 'TLSv1.2', rejectUnauthorized: verify };
  // SNI must not carry an IP address; the identity check then matches the IP against the certificate's IP SANs.
  if (!net.isIP(target.host)) options.servername = target.host;
  if (verify && target.ca) options.ca = [...tls.rootCertificates, target.ca];
  return options;
}

/** Performs libpq's sslmode negotiation; returns the socket to speak on (plain or TLS). */
async function negotiateTls(raw: net.Socket, target: PostgresTarget, deadline: Deadline,
  track: (s: tls.TLSSocket) => void): Promise<{ socket: net.Socket | tls.TLSSocket; tls: boolean }> {
  if (target.tls === 'disable') return { socket: raw, tls: false };
  deadline.phase = 'negotiating TLS';
  raw.write(serialize.requestSsl());
  const answer = await deadline.race(sslAnswer(raw, target));
  if (answer === 0x4e /* N */) {
    if (target.tls === 'prefer') return { socket: raw, tls: false };
    throw tlsRefused(target);
  }
  if (answer !== 0x53 /* S */) throw badProtocol(target, `answer 0x${answer.toString(16)} to SSLRequest`);
  const secure = tls.connect(tlsOptions(raw, target));
  track(secure);
  // The TLS socket reports transport errors now; keep the wrapped socket's own 'error' from crashing the process.
  raw.on('error', () => undefined);
  await deadline.race(new Promise<void>((resolve, reject) => {
    secure.once('secureConnect', () => {
      secure.off('error', reject);
      resolve();
    }).once('error', reject);
  })).catch((err: unknown) => {
    if (err instanceof WardenError) throw err;
    throw tlsFailure(target, err);
  });
  return { socket: secure, tls: true };
}

/** One backend message: its type byte, its body, and the whole message as received. */
type Frame = { type: number; body: Buffer; raw: Buffer };

/** Splits backend messages during startup and keeps what follows ReadyForQuery for the relay. */
class FrameReader {
  private buffer: Buffer = Buffer.alloc(0);
  private failure: Error | null = null;
  private wake: (() => void) | null = null;

  constructor(private readonly socket: net.Socket, private readonly target: PostgresTarget) {
    socket.on('data', this.onData).on('error', this.onError).on('close', this.onClose);
    socket.resume();
  }

  private readonly onData = (chunk: Buffer): void => {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    this.wake?.();
  };

  private readonly onError = (err: Error): void => {
    this.failure ??= err;
    this.wake?.();
  };

  private readonly onClose = (): void => {
    this.failure ??= unreachable(this.target, `the server at ${address(this.target)} closed the connection during startup`);
    this.wake?.();
  };

  /** The next complete message; waits for more bytes when needed. */
  async next(): Promise<Frame> {
    for (;;) {
      const frame = this.take();
      if (frame !== null) return frame;
      if (this.failure !== null) throw this.failure;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = null;
    }
  }

  private take(): Frame | null {
    if (this.buffer.length < 5) return null;
    const length = this.buffer.readUInt32BE(1);
    if (length < 4 || length > MAX_STARTUP_MESSAGE) {
      throw badProtocol(this.target, `message '${String.fromCharCode(this.buffer[0])}' with length ${length}`);
    }
    if (this.buffer.length < length + 1) return null;
    const raw = this.buffer.subarray(0, length + 1);
    this.buffer = this.buffer.subarray(length + 1);
    return { type: raw[0], body: raw.subarray(5), raw };
  }

  /** Stops reading: removes our listeners, pauses the socket and hands over unread bytes. */
  detach(): Buffer {
    this.socket.off('data', this.onData).off('error', this.onError).off('close', this.onClose);
    this.socket.pause();
    const rest = this.buffer;
    this.buffer = Buffer.alloc(0);
    return rest;
  }
}

/** Reads NUL-terminated strings from a message body; throws on a missing terminator. */
function cstrings(body: Buffer, target: PostgresTarget, from = 0): string[] {
  const out: string[] = [];
  let at = from;
  while (at < body.length) {
    const end = body.indexOf(0, at);
    if (end < 0) throw badProtocol(target, 'unterminated string');
    out.push(body.toString('utf8', at, end));
    at = end + 1;
  }
  return out;
}

/** ErrorResponse/NoticeResponse fields: (type byte, string)* then a zero byte. */
function errorFields(body: Buffer, target: PostgresTarget): Record<string, string> {
  const fields: Record<string, string> = {};
  let at = 0;
  while (at < body.length && body[at] !== 0) {
    const end = body.indexOf(0, at + 1);
    if (end < 0) throw badProtocol(target, 'unterminated ErrorResponse field');
    fields[String.fromCharCode(body[at])] = body.toString('utf8', at + 1, end);
    at = end + 1;
  }
  if (at >= body.length) throw badProtocol(target, 'ErrorResponse without terminator');
  return fields;
}

/** The startup packet, built here because pg-protocol's serializer appends client_encoding=UTF8 after ours. */
function startupPacket(opts: UpstreamOptions): Buffer {
  const params: Record<string, string> = { user: opts.credentials.user, database: opts.database };
  for (const [name, value] of Object.entries(opts.startupParams)) {
    if (WITHHELD_PARAMS.has(name) || name.startsWith('_pq_.')) continue;
    params[name] = value;
  }
  const parts: Buffer[] = [Buffer.alloc(8)];
  for (const [name, value] of Object.entries(params)) {
    if (name.length === 0 || name.includes('\0') || value.includes('\0')) {
      throw new WardenError('WARDEN_ERR_BAD_REQUEST', `invalid startup parameter "${name.replace(/\0/g, '')}"`);
    }
    parts.push(Buffer.from(`${name}\0${value}\0`, 'utf8'));
  }
  parts.push(Buffer.from([0]));
  const packet = Buffer.concat(parts);
  packet.writeInt32BE(packet.length, 0);
  packet.writeInt32BE(PROTOCOL_3_0, 4);
  return packet;
}

const AUTH_METHOD_NAMES: Record<number, string> = { 2: 'KerberosV5', 6: 'SCM credentials', 7: 'GSSAPI',
  8: 'GSSAPI continue', 9: 'SSPI' };

/** Answers the server's authentication requests; knows whether (and how) the server accepted us. */
class AuthFlow {
  private scram: ScramClient | null = null;
  authenticated = false;

  constructor(private readonly target: PostgresTarget, private readonly credentials: Credentials) {}

  private password(): string {
    if (this.credentials.password === null) {
      throw authFailed(this.target, 'the server asked for a password but none is stored for the target');
    }
    return this.credentials.password;
  }

  /** Handles one AuthenticationRequest body; returns the reply to send, if any. */
  async handle(body: Buffer): Promise<Buffer | null> {
    if (body.length < 4) throw badProtocol(this.target, 'short authentication request');
    if (this.authenticated) throw badProtocol(this.target, 'authentication request after AuthenticationOk');
    const code = body.readInt32BE(0);
    const expectLength = (n: number): void => {
      if (body.length !== n) throw badProtocol(this.target, `authentication request ${code} of ${body.length} bytes`);
    };
    switch (code) {
      case 0:
        expectLength(4);
        // A server that skips SCRAM's final step has not proven it knows the password (libpq refuses this too).
        if (this.scram !== null && !this.scram.completed) {
          throw authFailed(this.target, 'the server skipped the end of the SCRAM exchange, so it did not prove it knows the password');
        }
        this.authenticated = true;
        return null;
      case 3:
        expectLength(4);
        return serialize.password(this.password());
      case 5:
        expectLength(8);
        return serialize.password(md5Response(this.credentials.user, this.password(), body.subarray(4, 8)));
      case 10: case 11: case 12:
        return this.sasl(code, body.subarray(4));
      default:
        throw authFailed(this.target, `the server asked for ${AUTH_METHOD_NAMES[code] ?? `authentication method ${code}`}, ` +
          'which Warden does not support (use scram-sha-256, md5, password or trust)');
    }
  }

  private async sasl(code: number, data: Buffer): Promise<Buffer | null> {
    if (code === 10) {
      if (this.scram !== null) throw badProtocol(this.target, 'second AuthenticationSASL');
      const mechanism = chooseMechanism(cstrings(data, this.target).filter((m) => m.length > 0));
      this.scram = new ScramClient(this.password());
      return serialize.sendSASLInitialResponseMessage(mechanism, this.scram.clientFirstMessage());
    }
    if (this.scram === null) throw badProtocol(this.target, `SASL message ${code} before AuthenticationSASL`);
    try {
      if (code === 11) return serialize.sendSCRAMClientFinalMessage(await this.scram.handleServerFirst(data.toString('utf8')));
      this.scram.verifyServerFinal(data.toString('utf8'));
      return null;
    } catch (err) {
      // The SCRAM client does not know the target: name it, keeping the error's code.
      if (!(err instanceof WardenError)) throw err;
      const detail = `${err.message}${err.detail ? `: ${err.detail}` : ''}`;
      throw err.code === 'WARDEN_ERR_UPSTREAM_AUTH'
        ? authFailed(this.target, `the SCRAM exchange failed (${err.message})`, detail, err)
        : badProtocol(this.target, detail);
    }
  }
}

/** PostgreSQL's MD5 response: 'md5' + md5hex(md5hex(password + user) + salt). */
function md5Response(user: string, password: string, salt: Buffer): string {
  const inner = createHash('md5').update(password, 'utf8').update(user, 'utf8').digest('hex');
  return `md5${createHash('md5').update(inner).update(salt).digest('hex')}`;
}

type StartupState = Omit<UpstreamConnection, 'socket' | 'tls' | 'leftover'>;

/** Reads startup messages until ReadyForQuery, answering authentication requests on the way. */
async function runStartup(reader: FrameReader, socket: net.Socket, opts: UpstreamOptions,
  deadline: Deadline): Promise<StartupState> {
  const { target } = opts;
  const auth = new AuthFlow(target, opts.credentials);
  const state: StartupState = { parameters: {}, processId: 0, secretKey: Buffer.alloc(0), readyStatus: 'I', notices: [] };
  deadline.phase = 'authenticating';
  for (;;) {
    const { type, body, raw } = await deadline.race(reader.next());
    const letter = String.fromCharCode(type);
    if (!auth.authenticated && !'RENv'.includes(letter)) throw badProtocol(target, `'${letter}' before authentication`);
    switch (letter) {
      case 'R': {
        const reply = await deadline.race(auth.handle(body));
        if (reply !== null) socket.write(reply);
        if (auth.authenticated) deadline.phase = 'waiting for ReadyForQuery';
        break;
      }
      case 'E': throw startupFailure(target, errorFields(body, target));
      case 'N': errorFields(body, target); state.notices.push(Buffer.from(raw)); break;
      case 'v': break; // NegotiateProtocolVersion: we asked for 3.0 without extensions, nothing to adjust
      case 'S': {
        const [name, value] = cstrings(body, target);
        if (name === undefined || value === undefined) throw badProtocol(target, 'malformed ParameterStatus');
        state.parameters[name] = value;
        break;
      }
      case 'K':
        if (body.length < 8 || body.length > 260) throw badProtocol(target, `BackendKeyData of ${body.length} bytes`);
        state.processId = body.readInt32BE(0);
        state.secretKey = Buffer.from(body.subarray(4));
        break;
      case 'Z': {
        const status = String.fromCharCode(body[0] ?? 0);
        if (body.length !== 1 || !'ITE'.includes(status)) throw badProtocol(target, 'malformed ReadyForQuery');
        state.readyStatus = status as 'I' | 'T' | 'E';
        return state;
      }
      default: throw badProtocol(target, `unexpected message '${letter}' during startup`);
    }
  }
}

/** Wraps anything thrown during an attempt into a caller-safe WardenError and scrubs the password from it. */
function finalError(err: unknown, target: PostgresTarget, password: string | null): WardenError {
  let error = err instanceof WardenError ? err : socketFailure(target, err);
  // Defence in depth: nothing above puts the password in text, but server-supplied text is not ours to trust.
  if (password !== null && password.length >= 4) {
    const leaks = (s?: string): boolean => s !== undefined && s.includes(password);
    const scrub = (s: string): string => s.split(password).join('***');
    if (error instanceof UpstreamStartupError && Object.values(error.fields).some(leaks)) {
      error = new UpstreamStartupError(target.name,
        Object.fromEntries(Object.entries(error.fields).map(([k, v]) => [k, scrub(v)])));
    } else if (leaks(error.message) || leaks(error.detail)) {
      error = new WardenError(error.code, scrub(error.message),
        { detail: scrub(error.detail ?? ''), public: error.public, cause: error.cause });
    }
  }
  return error;
}

/**
 * Connects to the target, negotiates TLS per `target.tls`, logs in with the vaulted credentials and reads the
 * startup messages up to ReadyForQuery. Fails with WARDEN_ERR_UPSTREAM_UNAVAILABLE (unreachable, timeout, TLS),
 * WARDEN_ERR_UPSTREAM_AUTH (credentials refused, unsupported method), WARDEN_ERR_UPSTREAM_PROTOCOL (malformed
 * bytes) or UpstreamStartupError (any other server error, with its fields). The socket is destroyed on failure.
 */
export async function connectUpstream(opts: UpstreamOptions): Promise<UpstreamConnection> {
  const { target } = opts;
  const deadline = new Deadline(target, opts.connectTimeoutMs ?? DEFAULT_TIMEOUT_MS, opts.signal);
  let secure: tls.TLSSocket | null = null;
  let raw: net.Socket | null = null;
  try {
    if (opts.signal?.aborted) throw deadline.abortError();
    raw = openTcp(target);
    await deadline.race(connected(raw));
    const link = await negotiateTls(raw, target, deadline, (s) => (secure = s));
    const reader = new FrameReader(link.socket, target);
    link.socket.write(startupPacket(opts));
    const state = await runStartup(reader, link.socket, opts, deadline);
    return { socket: link.socket, tls: link.tls, ...state, leftover: reader.detach() };
  } catch (err) {
    (secure as tls.TLSSocket | null)?.destroy();
    raw?.destroy();
    throw finalError(err, target, opts.credentials.password);
  } finally {
    deadline.dispose();
  }
}

/** Options of cancelUpstream. */
export interface CancelOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Asks the target to cancel the query running on backend `processId`: a new connection (TLS per the target's
 * mode, as libpq 17's cancel API does), a CancelRequest, then wait for the server to close it. Resolving says the
 * request was delivered, not that a query was cancelled (PostgreSQL never answers a CancelRequest).
 */
export async function cancelUpstream(target: PostgresTarget, processId: number, secretKey: Buffer,
  options: CancelOptions = {}): Promise<void> {
  const deadline = new Deadline(target, options.timeoutMs ?? DEFAULT_TIMEOUT_MS, options.signal);
  let secure: tls.TLSSocket | null = null;
  const raw = openTcp(target);
  try {
    await deadline.race(connected(raw));
    const link = await negotiateTls(raw, target, deadline, (s) => (secure = s));
    const request = Buffer.alloc(12 + secretKey.length);
    request.writeInt32BE(request.length, 0);
    request.writeInt32BE(CANCEL_REQUEST_CODE, 4);
    request.writeInt32BE(processId, 8);
    secretKey.copy(request, 12);
    deadline.phase = 'sending CancelRequest';
    const closed = new Promise<void>((resolve) => link.socket.once('close', () => resolve()).on('error', () => undefined));
    link.socket.resume(); // the server answers nothing; reading lets us see its close
    link.socket.end(request);
    await deadline.race(closed);
  } catch (err) {
    throw finalError(err, target, null);
  } finally {
    (secure as tls.TLSSocket | null)?.destroy();
    raw.destroy();
    deadline.dispose();
  }
}
