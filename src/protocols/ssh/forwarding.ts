/**
 * Port forwarding through Warden: local forwards (`ssh -L`, channel `direct-tcpip`) and remote forwards (`ssh -R`,
 * global request `tcpip-forward`). Each one is a command of kind `forward` (class `forward`) with its host and port,
 * judged by the pipeline before anything is opened on the target: refused unless a rule allows class `forward`, and
 * recorded with host and port when allowed. Unix-socket forwards (streamlocal) are never offered.
 * It never opens a connection on the target that the pipeline did not allow.
 */
import type { ClientChannel, Connection, ServerChannel, TcpConnectionDetails } from 'ssh2';
import type { Command, Verdict } from '../../session/types.js';
import type { ConnectionContext } from './context.js';

/** Asks the pipeline about one forward; a thrown error counts as a refusal. */
async function judge(conn: ConnectionContext, text: string, host: string, port: number): Promise<Verdict> {
  const command: Command = { protocol: 'ssh', kind: 'forward', text, attributes: { host, port: String(port) } };
  try {
    const verdict = await conn.pipeline.onCommand(conn.session, command, { notify: () => {} });
    if (verdict.effect === 'allow') conn.pipeline.onOutcome(conn.session, { ...command, decision: verdict.note }, { durationMs: 0 });
    return verdict;
  } catch (err) {
    conn.logger.error({ err, session: conn.session.id }, 'could not judge a forward');
    return { effect: 'deny', message: 'Warden could not judge this forward', note: { effect: 'deny', classes: [] } };
  }
}

/** Pipes two channels into each other and counts the bytes for the idle clock. */
function join(conn: ConnectionContext, a: ServerChannel | ClientChannel, b: ServerChannel | ClientChannel): void {
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
  // A connection to a remote forward the target accepted: hand it to the caller, like sshd would.
  conn.upstream.on('tcp connection', (details: TcpConnectionDetails, accept, reject) => {
    if (conn.ending !== undefined) return reject();
    client.forwardOut(details.destIP, details.destPort, details.srcIP, details.srcPort, (err, channel) => {
      if (err) return reject();
      join(conn, channel, accept());
    });
  });
}
