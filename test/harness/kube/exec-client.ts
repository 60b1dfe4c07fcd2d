/**
 * A bare exec/attach WebSocket client for tests that need to speak the channel protocol themselves (a chosen
 * subprotocol, stdin in pieces, resizes, half-close) instead of through kubectl: it opens
 * `wss://.../pods/NAME/exec?...`, sends channel-framed stdin and resizes, and collects stdout, stderr and the final
 * Status from channel 3.
 */
import WebSocket from 'ws';

/** An open exec stream. */
export interface ExecClient {
  /** The subprotocol the server chose. */
  protocol: string;
  stdin(text: string): void;
  resize(width: number, height: number): void;
  /** Closes stdin (v5 only: channel 255), leaving the stream open for output. */
  closeStdin(): void;
  /** Closes the WebSocket. */
  close(): void;
  stdout(): string;
  stderr(): string;
  /** Resolves when the WebSocket closed: the Status from channel 3 (if any) and the close code. */
  done: Promise<{ status?: { status: string; reason?: string; details?: { causes?: { reason: string; message: string }[] } }; code: number }>;
}

/** Options of openExec. */
export interface OpenExecOptions {
  /** `https://host:port` (a prefix path is kept: Warden serves targets under one). */
  url: string;
  /** Path after the server URL, with its query (`/api/v1/namespaces/default/pods/web/exec?command=cat&stdin=true...`). */
  path: string;
  ca: string;
  headers?: Record<string, string>;
  /** Offered subprotocols, best first (default v5 then v4, as kubectl offers). */
  protocols?: string[];
}

/** Opens an exec (or attach) stream; rejects when the upgrade is refused (with the HTTP status and body). */
export function openExec(options: OpenExecOptions): Promise<ExecClient> {
  const wsUrl = options.url.replace(/^https:/, 'wss:') + options.path;
  const ws = new WebSocket(wsUrl, options.protocols ?? ['v5.channel.k8s.io', 'v4.channel.k8s.io'], { ca: options.ca, headers: options.headers });
  const out = { stdout: '', stderr: '' };
  let status: { status: string } | undefined;
  ws.on('message', (data: Buffer) => {
    const channel = data[0];
    const text = data.subarray(1).toString('utf8');
    if (channel === 1) out.stdout += text;
    else if (channel === 2) out.stderr += text;
    else if (channel === 3) status = JSON.parse(text) as { status: string };
  });
  const done = new Promise<Awaited<ExecClient['done']>>((resolve) => ws.on('close', (code) => resolve({ status: status as never, code })));
  const frame = (channel: number, payload: string | Buffer): void => ws.send(Buffer.concat([Buffer.from([channel]), Buffer.from(payload)]));
  return new Promise((resolve, reject) => {
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d));
      res.on('end', () => reject(Object.assign(new Error(`exec upgrade refused: ${res.statusCode} ${body}`), { statusCode: res.statusCode, body })));
    });
    ws.on('error', reject);
    ws.on('open', () => resolve({
      protocol: ws.protocol,
      stdin: (text) => frame(0, text),
      resize: (width, height) => frame(4, JSON.stringify({ Width: width, Height: height })),
      closeStdin: () => frame(255, Buffer.from([0])),
      close: () => ws.close(1000),
      stdout: () => out.stdout,
      stderr: () => out.stderr,
      done,
    }));
  });
}
