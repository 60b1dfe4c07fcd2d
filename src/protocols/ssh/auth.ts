/**
 * The SSH login flow: maps what an SSH client offers to a Warden session. The user name names the Warden user and
 * the target (user-name.ts); the proof is the Warden token as the password (methods `password` and
 * `keyboard-interactive`) or a public key whose signature the engine checked (method `publickey`, only when a
 * PublicKeyAuthenticator is configured). The pipeline authenticates and authorises (`pipeline.open`); then the
 * upstream login runs before the caller is told it succeeded, so an unreachable target or a changed host key is a
 * refused login with a clear banner, never a session that dies at once. Unknown user or target: the same refusal,
 * and nothing reaches any host. Failures are rate-limited per source and capped per connection.
 * It never logs or echoes a token, and never tells a caller more than the pipeline's caller-safe message.
 */
import type { AuthContext, Connection, KeyboardAuthContext, PublicKeyAuthContext } from 'ssh2';
import type { Logger } from 'pino';
import { WardenError, toWardenError } from '../../errors.js';
import type { SessionPipeline } from '../../session/pipeline.js';
import type { CallerCredential, Session } from '../../session/session.js';
import type { AuthFailureLimiter } from './auth-limiter.js';
import { callerLine, sendAuthBanner } from './errors.js';
import { parseSshUserName } from './user-name.js';

/** Most failed attempts on one connection before Warden disconnects it (OpenSSH's MaxAuthTries is 6). */
export const MAX_ATTEMPTS_PER_CONNECTION = 6;

/** The keyboard-interactive prompt; it contains "assword" so sshpass and SSH_ASKPASS recognise it. */
export const TOKEN_PROMPT = 'Password (Warden token): ';

/** What the login flow needs. */
export interface LoginDeps {
  pipeline: SessionPipeline;
  logger: Logger;
  limiter: AuthFailureLimiter;
  /** True when public keys are accepted (a PublicKeyAuthenticator is configured). */
  publicKeys: boolean;
  /** Checks the signature of a publickey attempt; false for a query without one, or a bad signature. */
  verifySignature(ctx: PublicKeyAuthContext): boolean;
  /** Runs after the pipeline opened the session and before the caller is accepted (the upstream login). */
  connect(session: Session): Promise<void>;
  /** The configured idle timeout (`--ssh-idle-timeout`), the upper bound of the policies' (0 or absent: none). */
  idleTimeoutMs?: number;
}

/** The outcome of a login: the session, opened and connected upstream. */
export type LoginResult = Session;

/**
 * Handles the `authentication` events of one connection; resolves with the session once a method succeeded.
 * Never rejects: a connection that never logs in is ended by the caller's auth timeout.
 */
export function login(client: Connection, clientAddress: string, sourceIp: string | undefined, deps: LoginDeps): Promise<LoginResult> {
  const methods = deps.publicKeys ? ['publickey', 'password', 'keyboard-interactive'] as const : ['password', 'keyboard-interactive'] as const;
  let failures = 0;
  let busy = false;
  let lastBanner = '';
  return new Promise((resolve) => {
    const refuse = (ctx: AuthContext, err: WardenError | undefined, counts: boolean): void => {
      // Clients try keyboard-interactive and then password with the same token: say the same reason once.
      const banner = err ? callerLine(err) : '';
      if (banner !== '' && banner !== lastBanner) sendAuthBanner(client, banner);
      lastBanner = banner || lastBanner;
      if (counts) {
        failures++;
        deps.limiter.failed(sourceIp);
      }
      ctx.reject([...methods]);
      if (failures >= MAX_ATTEMPTS_PER_CONNECTION) client.end();
    };
    const attempt = async (ctx: AuthContext, credential: () => Promise<CallerCredential | undefined>): Promise<void> => {
      if (!deps.limiter.allowed(sourceIp)) {
        refuse(ctx, new WardenError('WARDEN_ERR_TOO_MANY_CONNECTIONS',
          'too many failed logins from your address; wait a minute before trying again'), false);
        client.end();
        return;
      }
      let session: Session | undefined;
      try {
        const name = parseSshUserName(ctx.username);
        const cred = await credential();
        if (cred === undefined) return;
        session = await deps.pipeline.open({ protocol: 'ssh', credential: cred, user: name.user, targetName: name.target, clientAddress,
          idleTimeoutMs: deps.idleTimeoutMs });
        await deps.connect(session);
      } catch (err) {
        const error = toWardenError(err);
        if (error.kind === 'internal') deps.logger.error({ detail: error.detail, client: clientAddress }, 'ssh login failed');
        else deps.logger.debug({ code: error.code, client: clientAddress }, `ssh login refused: ${error.message}`);
        // Only a wrong identity counts towards the rate limit; a down upstream is not the caller's guess.
        refuse(ctx, error, error.kind === 'unauthenticated' || error.kind === 'not_found' || error.kind === 'denied');
        return;
      }
      ctx.accept();
      resolve(session);
    };
    // attempt() handles its own failures; anything that still escapes ends this connection only.
    const failed = (err: unknown): void => {
      deps.logger.error({ err, client: clientAddress }, 'ssh login handler failed');
      client.end();
    };
    client.on('authentication', (ctx: AuthContext) => {
      if (busy) return ctx.reject([...methods]); // ssh2 queues attempts; one at a time is all a client needs
      busy = true;
      const done = (): void => { busy = false; };
      switch (ctx.method) {
        case 'password':
          attempt(ctx, async () => ({ kind: 'token', token: ctx.password })).finally(done).catch(failed);
          return;
        case 'keyboard-interactive':
          attempt(ctx, () => askToken(ctx)).finally(done).catch(failed);
          return;
        case 'publickey':
          if (!deps.publicKeys) {
            done();
            return refuse(ctx, undefined, false);
          }
          attempt(ctx, async () => publicKeyCredential(ctx, deps)).finally(done).catch(failed);
          return;
        default:
          done();
          // `none` (and hostbased, gssapi): the client is asking which methods exist.
          return ctx.reject([...methods]);
      }
    });
  });
}

/** Asks for the token with one hidden prompt. */
function askToken(ctx: KeyboardAuthContext): Promise<CallerCredential | undefined> {
  return new Promise((resolve) => {
    ctx.prompt([{ prompt: TOKEN_PROMPT, echo: false }], (answers) => {
      const token = answers?.[0] ?? '';
      resolve({ kind: 'token', token });
    });
  });
}

/**
 * A publickey attempt: without a signature the client asks whether the key would do; answering yes costs nothing,
 * since only a signed attempt opens a session. With one, the signature must verify before the key is looked up.
 */
function publicKeyCredential(ctx: PublicKeyAuthContext, deps: LoginDeps): CallerCredential | undefined {
  if (ctx.signature === undefined) {
    ctx.accept();
    return undefined;
  }
  if (!deps.verifySignature(ctx)) {
    throw new WardenError('WARDEN_ERR_UNAUTHENTICATED', 'the public key signature did not verify');
  }
  return { kind: 'publicKey', algorithm: ctx.key.algo, key: ctx.key.data };
}
