/**
 * Port forwarding through Warden: local forwards (`ssh -L`, channel `direct-tcpip`) and remote forwards (`ssh -R`,
 * global request `tcpip-forward`). Each one is a command of kind `forward` (class `forward`) with its host and port,
 * judged by the pipeline before anything is opened on the target: refused unless a rule allows class `forward`, and
 * recorded with host and port when allowed. Unix-socket forwards (streamlocal) are never offered. The X11 channels
 * a target opens are relayed to the caller only once the caller's X11 request was allowed (channel-forwards.ts).
 * It never opens a connection on the target that the pipeline did not allow.
 */
import type { ClientChannel, Connection, ServerChannel, TcpConnectionDetails, X11Details } from 'ssh2';
import type { Command, Verdict } from '../../session/types.js';
import type { ConnectionContext } from './context.js';

/**
 * Asks the pipeline about one forward (a port forward with its host and port, agent or X11 forwarding with what was
 * asked); recorded either way. A thrown error counts as a refusal.
 */
export async function judgeForward(conn: ConnectionContext, text: string, attributes: Record<string, string>): Promise<Verdict> {
  const command: Command = { protocol: 'ssh', kind: 'forward', text, attributes };
  try {
    return recordAllowed(conn, command, await conn.pipeline.onCommand(conn.session, command, { notify: () => {} }));
  } catch (err) {
    return couldNotJudge(conn, err);
  }
}

/**
 * judgeForward for a request that must be answered at once (agent, X11: before the channel's program starts): a
 * rule that requires approval refuses it.
 */
export function judgeForwardNow(conn: ConnectionContext, text: string, attributes: Record<string, string>): Verdict {
  const command: Command = { protocol: 'ssh', kind: 'forward', text, attributes };
  try {
    const verdict = conn.pipeline.onCommand(conn.session, command, { notify: () => {}, cannotWait: true });
    if (verdict instanceof Promise) throw new Error('the pipeline held a request that cannot wait');
    return recordAllowed(conn, command, verdict);
  } catch (err) {
    return couldNotJudge(conn, err);
  }
}

function recordAllowed(conn: ConnectionContext, command: Command, verdict: Verdict): Verdict {
  if (verdict.effect === 'allow') conn.pipeline.onOutcome(conn.session, { ...command, decision: verdict.note }, { durationMs: 0 });
  return verdict;
}

function couldNotJudge(conn: ConnectionContext, err: unknown): Verdict {
  conn.logger.error({ err, session: conn.session.id }, 'could not judge a forward');
  return { effect: 'deny', message: 'Warden could not judge this forward', note: { effect: 'deny', classes: [] } };
}

function judge(conn: ConnectionContext, text: string, host: string, port: number): Promise<Verdict> {
  return judgeForward(conn, text, { host, port: String(port) });
}

/** Pipes two channels into each other and counts the bytes for the idle clock. */
export function join(conn: ConnectionContext, a: ServerChannel | ClientChannel, b: ServerChannel | ClientChannel): void {
  a.on('error', () => {});
  b.on('error', () => {});
  a.on('data', () => conn.touch());
  b.on('data', () => conn.touch());
  a.pipe(b).pipe(a);
  a.on('close', () => b.close());
  b.on('close', () => a.close());
}

/** Serves forwarding requests of one caller connection. */
export function serveForwarding(conn: ConnectionContext, client: Connection): void {
  client.on('tcpip', (accept, reject, info) => {
    if (conn.ending !== undefined) return reject();
    judge(conn, `direct-tcpip ${info.destIP}:${info.destPort}`, info.destIP, info.destPort).then((verdict) => {
      if (verdict.effect !== 'allow' || conn.ending !== undefined) return reject();
      conn.upstream.forwardOut(info.srcIP, info.srcPort, info.destIP, info.destPort, (err, channel) => {
        if (err) return reject();
        join(conn, accept(), channel);
      });
    }, () => reject());
  });
  client.on('openssh.streamlocal', (_accept, reject) => reject());
  client.on('request', (accept, reject, name, info) => {
    if (name === 'tcpip-forward') {
      const bind = info as { bindAddr: string; bindPort: number };
      judge(conn, `tcpip-forward ${bind.bindAddr}:${bind.bindPort}`, bind.bindAddr, bind.bindPort).then((verdict) => {
        if (verdict.effect !== 'allow' || conn.ending !== undefined) return reject?.();
        conn.upstream.forwardIn(bind.bindAddr, bind.bindPort, (err, port) => (err ? reject?.() : accept?.(port)));
      }, () => reject?.());
    } else if (name === 'cancel-tcpip-forward') {
      const bind = info as { bindAddr: string; bindPort: number };
      conn.upstream.unforwardIn(bind.bindAddr, bind.bindPort, (err) => (err ? reject?.() : accept?.()));
    } else reject?.();
  });
  // An X11 connection on the target's display, once the caller's X11 forwarding was allowed: to the caller's X server.
  conn.upstream.on('x11', (details: X11Details, accept, reject) => {
    if (!conn.forwards.x11 || conn.ending !== undefined) return reject();
    conn.pipeline.onEvent(conn.session, 'ssh.x11.channel', { origin: `${details.srcIP}:${details.srcPort}` });
    client.x11(details.srcIP, details.srcPort, (err, channel) => {
      if (err) return reject();
      join(conn, channel, accept());
    });
  });
  // A connection to a remote forward the target accepted: hand it to the caller, like sshd would.
  conn.upstream.on('tcp connection', (details: TcpConnectionDetails, accept, reject) => {
    if (conn.ending !== undefined) return reject();
    client.forwardOut(details.destIP, details.destPort, details.srcIP, details.srcPort, (err, channel) => {
      if (err) return reject();
      join(conn, channel, accept());
    });
  });
}
