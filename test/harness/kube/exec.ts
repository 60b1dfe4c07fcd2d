/**
 * `pods/exec` over WebSocket, as the API server relays it from the kubelet: subprotocols `v5.channel.k8s.io` and
 * `v4.channel.k8s.io` (binary frames whose first byte is the channel: 0 stdin, 1 stdout, 2 stderr, 3 the final
 * Status, 4 terminal resize `{"Width":W,"Height":H}`; v5 adds 255, "close this channel", which kubectl sends when
 * its stdin ends). The command runs in the fake shell (`shell.ts`). Every session is recorded (command, stdin,
 * resizes, exit code) for tests to assert.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { runCommand } from './shell.js';

/** The exec subprotocols served, best first. */
export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];

/** One exec session as the server saw it. */
export interface ExecRecord {
  kind: 'exec' | 'attach';
  namespace: string;
  pod: string;
  container: string;
  command: string[];
  tty: boolean;
  protocol: string;
  /** Everything received on stdin. */
  stdin: string;
  /** Every resize message, in order. */
  resizes: { width: number; height: number }[];
  /** Set when the command ended (undefined while it runs or when the client left first). */
  exitCode?: number;
  /** Whether the WebSocket is closed. */
  closed: boolean;
}

/** The Status sent on channel 3 when a command ends with `code`. */
export function exitStatus(code: number, command: string[]): object {
  if (code === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {}, status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${code}`,
    reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  };
}

const wss = new WebSocketServer({
  noServer: true,
  handleProtocols: (offered) => EXEC_PROTOCOLS.find((p) => offered.has(p)) ?? false,
});

/** Whether an upgrade request offers an exec subprotocol this server speaks. */
export function offersExecProtocol(req: IncomingMessage): boolean {
  const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  return EXEC_PROTOCOLS.some((p) => offered.includes(p));
}

/** Upgrades `req` and runs the exec described by `record` until the command ends or the client goes away. */
export function serveExec(req: IncomingMessage, socket: Duplex, head: Buffer, record: ExecRecord, hostname: string): void {
  wss.handleUpgrade(req, socket, head, (ws) => {
    record.protocol = ws.protocol;
    run(ws, record, hostname);
  });
}

function run(ws: WebSocket, record: ExecRecord, hostname: string): void {
  const abort = new AbortController();
  const chunks: string[] = [];
  let stdinOpen = true;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    wake?.();
    wake = undefined;
  };
  ws.on('message', (data: Buffer) => {
    if (data.length === 0) return;
    const channel = data[0];
    const payload = data.subarray(1);
    if (channel === 0) {
      const text = payload.toString('utf8');
      record.stdin += text;
      chunks.push(text);
      notify();
    } else if (channel === 4) {
      try {
        const size = JSON.parse(payload.toString('utf8')) as { Width?: number; Height?: number };
        record.resizes.push({ width: Number(size.Width), height: Number(size.Height) });
      } catch { /* a malformed resize is ignored, as the kubelet does */ }
    } else if (channel === 255 && ws.protocol === 'v5.channel.k8s.io' && payload[0] === 0) {
      stdinOpen = false;
      notify();
    }
  });
  ws.on('close', () => {
    record.closed = true;
    stdinOpen = false;
    abort.abort();
    notify();
  });
  const send = (channel: number, text: string): void => {
    if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([channel]), Buffer.from(text)]));
  };
  const io = {
    tty: record.tty,
    hostname,
    signal: abort.signal,
    stdout: (t: string) => send(1, t),
    stderr: (t: string) => send(record.tty ? 1 : 2, t),
    read: async (): Promise<string | undefined> => {
      for (;;) {
        if (chunks.length > 0) return chunks.shift();
        if (!stdinOpen) return undefined;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
  };
  runCommand(record.command, io).then((code) => {
    if (ws.readyState !== ws.OPEN) return;
    record.exitCode = code;
    send(3, JSON.stringify(exitStatus(code, record.command)));
    ws.close(1000);
  }, () => ws.terminate());
}
