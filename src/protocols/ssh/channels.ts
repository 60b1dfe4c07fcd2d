/**
 * One `session` channel of an SSH caller, relayed to one session channel on the target. It collects what the caller
 * asks before the program starts (`pty-req`, `env` from an allow-list, `window-change`, agent and X11 forwarding
 * judged by channel-forwards.ts), asks the pipeline about the program (`exec` text, an interactive `shell`, a
 * `subsystem`), opens the matching channel upstream only when allowed, and relays data, stderr, EOF, `signal`,
 * `window-change` and the exit status or signal back. A refused request becomes one line on the caller's stderr and
 * exit status 1; nothing reaches the target.
 * It never decides on its own; interactive input goes through shell-input.ts, which judges each line, and SFTP through
 * sftp-relay.ts, which records each file operation.
 */
import type { Readable, Writable } from 'node:stream';
import type { ClientChannel, PseudoTtyInfo, ServerChannel, Session as SshSession, X11Options } from 'ssh2';
import type { Command, Verdict } from '../../session/types.js';
import { REFUSED_EXIT_STATUS } from './errors.js';
import { requestAgent, requestX11 } from './channel-forwards.js';
import type { ConnectionContext } from './context.js';
import { ShellInput } from './shell-input.js';
import { relaySftp } from './sftp-relay.js';
import { clampTerminal, hostTerminalModes } from './pty-request.js';
import { TerminalRecorder } from '../../recording/asciicast.js';

/** Environment variables a caller may set on the target (RFC 4254 `env`); anything else is refused. */
export function envAllowed(name: string): boolean {
  return name === 'LANG' || name === 'TERM' || /^LC_[A-Z_]+$/.test(name);
}

type Kind = 'exec' | 'shell' | 'subsystem';

/** Agent and X11 forwarding the pipeline allowed for this channel. */
interface Forwards {
  agent?: true;
  x11?: X11Options;
}

/** How a channel's program ended upstream. */
interface ExitInfo {
  code: number | null;
  signal?: string;
  coreDumped?: boolean;
  description?: string;
}

/** Serves one accepted `session` channel. */
export function serveSessionChannel(conn: ConnectionContext, sess: SshSession): void {
  let pty: PseudoTtyInfo | undefined;
  const env: Record<string, string> = {};
  let started = false;
  let upstream: ClientChannel | undefined;
  let opened: OpenedChannel | undefined;
  let recording: TerminalRecorder | undefined;
  let forwards: Forwards = {};

  sess.on('pty', (accept, reject, info) => {
    if (started) return reject?.();
    // The host gets only modes that leave its reading of input bytes at the defaults the line editor models, and a
    // bounded size (pty-request.ts).
    const { modes, dropped } = hostTerminalModes(info.modes);
    if (dropped.length > 0) conn.pipeline.onEvent(conn.session, 'ssh.pty.modes_dropped', { modes: dropped });
    pty = clampTerminal({ ...info, modes });
    accept?.();
  });
  sess.on('env', (accept, reject, info) => {
    if (started || !envAllowed(info.key) || Object.keys(env).length >= 64) return reject?.();
    env[info.key] = String(info.val).slice(0, 4096);
    accept?.();
  });
  sess.on('window-change', (accept, _reject, raw) => {
    const info = clampTerminal(raw);
    if (upstream) upstream.setWindow(info.rows, info.cols, info.height, info.width);
    else if (pty) pty = { ...pty, rows: info.rows, cols: info.cols, width: info.width, height: info.height };
    recording?.resize(info.cols, info.rows);
    accept?.();
  });
  sess.on('signal', (accept, _reject, info) => {
    upstream?.signal(info.name);
    conn.pipeline.onEvent(conn.session, 'ssh.signal', { name: info.name });
    accept?.();
  });
  // Agent and X11 forwarding hand the target a way back into the caller's machine: only when a rule allows class forward.
  sess.on('auth-agent', (accept, reject) => {
    if (started || !requestAgent(conn)) return reject?.();
    forwards = { ...forwards, agent: true };
    accept?.();
  });
  sess.on('x11', (accept, reject, info) => {
    const x11 = started ? undefined : requestX11(conn, info);
    if (x11 === undefined) return reject?.();
    forwards = { ...forwards, x11 };
    accept?.();
  });

  const start = (kind: Kind, text: string, accept: () => ServerChannel): void => {
    if (started) return;
    started = true;
    const stream = accept();
    const nl = pty ? '\r\n' : '\n';
    const untrack = conn.track({
      tell: (message) => { if (stream.writable) stream.stderr.write(`${message}${nl}`); },
      end: () => {
        if (!stream.writable) return;
        stream.exit(REFUSED_EXIT_STATUS);
        stream.end();
      },
    });
    stream.on('close', untrack);
    stream.on('error', () => {});
    stream.pause();
    const command: Command = { protocol: 'ssh', kind, text };
    const refuse = (message: string): void => {
      stream.stderr.write(`warden: ${message}${nl}`);
      stream.exit(REFUSED_EXIT_STATUS);
      stream.end();
    };
    let verdict: Verdict | Promise<Verdict>;
    try {
      verdict = conn.pipeline.onCommand(conn.session, command, { notify: (m) => stream.stderr.write(`warden: ${m}${nl}`) });
    } catch (err) {
      conn.logger.error({ err, session: conn.session.id }, 'could not judge an ssh request');
      return refuse('Warden could not judge this request');
    }
    void Promise.resolve(verdict).then(async (v) => {
      if (v.effect === 'deny') return refuse(v.message);
      if (conn.ending !== undefined || !stream.writable) return;
      command.decision = v.note;
      try {
        opened = await openUpstream(conn, kind, text, { pty, env, forwards });
        upstream = opened.channel;
      } catch (err) {
        conn.logger.warn({ err: (err as Error).message, session: conn.session.id }, 'the target refused a channel');
        return refuse(`the target refused the ${kind} request`);
      }
      // A terminal is recorded as asciicast (what the caller saw, masked; keyframes for seeking).
      if (pty !== undefined) {
        const session = conn.session;
        recording = new TerminalRecorder({ recorder: { append: (_id, type, data) => conn.pipeline.onEvent(session, type, data) },
          sessionId: session.id, channel: String(conn.nextChannel()), width: pty.cols, height: pty.rows, term: pty.term });
      }
      relay(conn, stream, opened, command, pty !== undefined && kind === 'shell', recording);
    }, (err: unknown) => {
      conn.logger.error({ err, session: conn.session.id }, 'an ssh request failed while held');
      refuse('Warden could not judge this request');
    }).catch((err: unknown) => {
      // Starting the channel failed after the decision (e.g. the recording): end this channel, never the process.
      conn.logger.error({ err, session: conn.session.id }, 'could not start an ssh channel');
      upstream?.close();
      if (stream.writable) refuse('Warden could not start this channel');
    });
  };

  sess.on('exec', (accept, reject, info) => (started ? reject?.() : start('exec', info.command, accept)));
  sess.on('shell', (accept, reject) => (started ? reject?.() : start('shell', 'interactive shell', accept)));
  sess.on('subsystem', (accept, reject, info) => (started ? reject?.() : start('subsystem', info.name, accept)));
}

/** A target channel with how it ended, watched from the moment it opened. */
interface OpenedChannel {
  channel: ClientChannel;
  exit(): ExitInfo | undefined;
  /** Resolves when the target closed the channel. */
  closed: Promise<void>;
}

/**
 * Watches a freshly opened channel synchronously, inside ssh2's callback: a short program's exit status and close
 * can arrive in the same packet batch as the open confirmation, before any promise continuation would run.
 */
function watch(channel: ClientChannel): OpenedChannel {
  let exit: ExitInfo | undefined;
  channel.on('exit', (code: number | null, signal?: string, coreDumped?: boolean, description?: string) => {
    exit = { code, signal, coreDumped, description };
  });
  channel.on('error', () => {});
  const closed = new Promise<void>((resolve) => channel.once('close', () => resolve()));
  return { channel, exit: () => exit, closed };
}

/** What the caller asked for its program before it started. */
interface ProgramOptions {
  pty: PseudoTtyInfo | undefined;
  env: Record<string, string>;
  forwards: Forwards;
}

/** Opens the matching channel on the target, with the caller's terminal, allowed environment and allowed forwards. */
function openUpstream(conn: ConnectionContext, kind: Kind, text: string, { pty, env, forwards }: ProgramOptions): Promise<OpenedChannel> {
  const ptyOptions = pty ? { term: pty.term, rows: pty.rows, cols: pty.cols, width: pty.width, height: pty.height, modes: pty.modes } : undefined;
  // ssh2 asks the target for agent forwarding (with the relay it was given at login) when `agentForward` is set.
  const extra = { ...(forwards.x11 ? { x11: forwards.x11 } : {}), ...(forwards.agent ? { agentForward: true } : {}) };
  return new Promise((resolve, reject) => {
    const done = (err: Error | undefined, channel: ClientChannel): void => (err ? reject(err) : resolve(watch(channel)));
    const client = conn.upstream;
    if (kind === 'exec') client.exec(text, { pty: ptyOptions ?? false, env, ...extra }, done);
    else if (kind === 'shell') client.shell(ptyOptions ?? false, { env, ...extra }, done);
    else client.subsys(text, done);
  });
}

/** Sends one output stream of the target to the caller, masked when rules say so; resolves once it all went. */
function route(conn: ConnectionContext, from: Readable, to: Writable, terminal: boolean, seen?: (bytes: Buffer) => void): Promise<void> {
  const source = conn.mask ? from.pipe(conn.mask(terminal)) : from;
  source.pipe(to, { end: false });
  if (seen) source.on('data', seen);
  // end:false: the caller's channel must get the exit status before it closes, or ssh reports 255.
  return new Promise((resolve) => {
    source.once('end', resolve);
    source.once('close', resolve);
  });
}

/** Relays a started channel until both sides closed; records how the program ended. */
function relay(conn: ConnectionContext, stream: ServerChannel, opened: OpenedChannel, command: Command, interactive: boolean,
  recording?: TerminalRecorder): void {
  const upstream = opened.channel;
  const started = Date.now();
  let bytesOut = 0;
  upstream.on('data', (d: Buffer) => { bytesOut += d.length; conn.touch(); });
  upstream.stderr.on('data', (d: Buffer) => { bytesOut += d.length; conn.touch(); });
  const seen = recording ? (bytes: Buffer) => recording.output(bytes) : undefined;
  const sftp = command.kind === 'subsystem' && command.text === 'sftp';
  // SFTP is framed both ways (file operations recorded, READ data masked in place); other output is a byte stream.
  const outputs = Promise.all([sftp ? new Promise<void>((resolve) => { upstream.once('end', resolve); upstream.once('close', resolve); }) : route(conn, upstream, stream, recording !== undefined, seen),
    route(conn, upstream.stderr, stream.stderr, recording !== undefined, seen)]);
  if (recording) stream.on('data', (d: Buffer) => recording.input(d));
  if (sftp) {
    relaySftp(conn, stream, upstream, conn.sftpMasker());
  } else if (interactive) {
    const input = new ShellInput(conn, stream, upstream);
    upstream.on('data', (d: Buffer) => input.observeOutput(d));
    stream.on('data', (d: Buffer) => { conn.touch(); input.push(d); });
    stream.on('end', () => upstream.end());
  } else {
    stream.on('data', () => conn.touch());
    stream.pipe(upstream);
  }
  stream.resume();
  opened.closed.then(() => {
    const exit = opened.exit();
    // Everything the target sent (masked output may still be flushing) reaches the caller before its exit status.
    const flushed = Promise.race([outputs, new Promise((r) => setTimeout(r, 2000).unref())]);
    flushed.then(() => {
      if (stream.writable) {
        if (exit?.signal) stream.exit(exit.signal.replace(/^SIG/, ''), exit.coreDumped ?? false, exit.description ?? '');
        else if (exit && exit.code !== null) stream.exit(exit.code);
        stream.end();
      }
      const outcome = exit?.signal ? `signal ${exit.signal}` : exit && exit.code !== null ? `exit ${exit.code}` : 'closed';
      conn.pipeline.onOutcome(conn.session, command, { durationMs: Date.now() - started, tag: outcome });
      conn.pipeline.onEvent(conn.session, 'ssh.channel.end', { kind: command.kind, outcome, bytesOut });
      return recording?.close();
    }).catch((err: unknown) => conn.logger.error({ err, session: conn.session.id }, 'could not finish an ssh channel'));
  }, () => {});
  // The caller closed its channel first (ssh killed, Ctrl-C on a forward): close the target's too.
  stream.on('close', () => upstream.close());
}
