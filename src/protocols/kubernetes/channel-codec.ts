/**
 * The framing of Kubernetes' streaming subresources over WebSocket, pure (no I/O), for the relay
 * (websocket-relay.ts) to inspect what it passes.
 *
 * Remote commands (exec, attach) over `v4.channel.k8s.io` and `v5.channel.k8s.io`: every binary WebSocket message is
 * one channel byte then data. Channel 0 is stdin (caller to server), 1 stdout, 2 stderr, 3 the error channel (the
 * server's final `Status`, JSON), 4 the resize channel (caller to server: a stream of JSON objects
 * `{"Width":W,"Height":H}`, as Go's json.Decoder reads it: several in one message or one split over several). v5 adds
 * channel 255, whose data is the number of a channel the sender closes (`[255, 0]`: stdin ended). A message with no
 * byte at all carries nothing (the API server skips it too).
 *
 * Port forwarding over `v4.channel.k8s.io` (the WebSocket port-forward of client libraries; kubectl itself tunnels
 * SPDY, which Warden does not inspect): for the i-th port of the request's `ports` query, channel 2i carries data and
 * 2i+1 errors; the first two bytes the server sends on each channel are the port number, little-endian, and they may
 * arrive split over messages.
 * What it must never do: guess. A frame it cannot read is `malformed` with the reason, for the relay to refuse.
 */

/** The subprotocols of exec and attach Warden can inspect, most preferred first. */
export const STREAM_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const;
/** The subprotocol of WebSocket port forwarding Warden can inspect. */
export const PORT_FORWARD_PROTOCOLS = ['v4.channel.k8s.io'] as const;

/** Channel numbers of remote commands. */
export const CHANNEL = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const;

/** The longest JSON object Warden reads on the resize and error channels (a Status is well under it). */
export const MAX_CONTROL_JSON = 64 * 1024;

/** One message of a remote command, as read. */
export type StreamFrame =
  | { kind: 'data'; channel: number; data: Buffer }
  | { kind: 'close'; channel: number }
  | { kind: 'empty' }
  | { kind: 'malformed'; reason: string };

/** Reads one message of a remote command. `v5` says whether the close channel exists. */
export function decodeStreamFrame(message: Buffer, v5: boolean): StreamFrame {
  if (message.length === 0) return { kind: 'empty' };
  const channel = message[0];
  if (channel === CHANNEL.close) {
    if (!v5) return { kind: 'malformed', reason: 'channel 255 does not exist in v4.channel.k8s.io' };
    if (message.length !== 2) return { kind: 'malformed', reason: 'a close message names exactly one channel' };
    return { kind: 'close', channel: message[1] };
  }
  if (channel > CHANNEL.resize) return { kind: 'malformed', reason: `no channel ${channel} in a remote command` };
  return { kind: 'data', channel, data: message.subarray(1) };
}

/** One message on a channel. */
export function encodeFrame(channel: number, data: Uint8Array | string): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = channel;
  out.set(body, 1);
  return out;
}

/** The v5 message closing one channel. */
export function encodeClose(channel: number): Buffer {
  return Buffer.from([CHANNEL.close, channel]);
}

/**
 * Splits a byte stream into the JSON values in it, as Go's json.Decoder reads a stream: values one after another,
 * whitespace between them, any of them split anywhere. Only objects are accepted (the resize and error channels
 * carry nothing else). Keeps at most MAX_CONTROL_JSON bytes of an unfinished value.
 */
export class JsonObjectSplitter {
  private buffered: Buffer[] = [];
  private size = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private failed: string | null = null;

  /** Bytes of an unfinished value held. */
  get pending(): number {
    return this.size;
  }

  /** Takes bytes; returns the complete objects' texts, or the reason the stream cannot be read (then for good). */
  push(bytes: Uint8Array): { objects: string[] } | { error: string } {
    if (this.failed !== null) return { error: this.failed };
    const objects: string[] = [];
    let from = 0;
    for (let i = 0; i < bytes.length; i++) {
      const c = bytes[i];
      if (this.depth === 0) {
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
          from = i + 1;
          continue;
        }
        if (c !== 0x7b) return this.fail('not a JSON object');
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c) this.escaped = true;
        else if (c === 0x22) this.inString = false;
      } else if (c === 0x22) this.inString = true;
      else if (c === 0x7b || c === 0x5b) this.depth++;
      else if (c === 0x7d || c === 0x5d) {
        this.depth--;
        if (this.depth === 0) {
          this.buffered.push(Buffer.from(bytes.subarray(from, i + 1)));
          objects.push(Buffer.concat(this.buffered).toString('utf8'));
          this.buffered = [];
          this.size = 0;
          from = i + 1;
        }
      }
    }
    if (this.depth > 0 && from < bytes.length) {
      this.buffered.push(Buffer.from(bytes.subarray(from)));
      this.size += bytes.length - from;
      if (this.size > MAX_CONTROL_JSON) return this.fail(`a JSON value longer than ${MAX_CONTROL_JSON} bytes`);
    }
    return { objects };
  }

  private fail(reason: string): { error: string } {
    this.failed = reason;
    this.buffered = [];
    this.size = 0;
    return { error: reason };
  }
}

/** The JSON object a text holds, or null when it holds anything else. */
function jsonObject(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : null;
  } catch {
    return null;
  }
}

/** A terminal size from the resize channel. */
export interface TerminalSize {
  width: number;
  height: number;
}

/**
 * Reads one resize object the way the API server's Go decoder fills `TerminalSize{Width, Height uint16}`: field names
 * match case-insensitively, the last duplicate wins, other fields are ignored, a missing field is 0. Anything Go would
 * refuse (a value that is not an integer from 0 to 65535, text that is not JSON) is null.
 */
export function parseResize(json: string): TerminalSize | null {
  const value = jsonObject(json);
  if (value === null) return null;
  const size = { width: 0, height: 0 };
  for (const [key, v] of Object.entries(value)) {
    const field = key.toLowerCase();
    if (field !== 'width' && field !== 'height') continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) return null;
    size[field] = v;
  }
  return size;
}

/** The resize message for a size, as the API server reads it. */
export function encodeResize(size: TerminalSize): Buffer {
  return encodeFrame(CHANNEL.resize, JSON.stringify({ Width: size.width, Height: size.height }));
}

/** How a remote command ended, from its error channel's Status. */
export interface CommandExit {
  /** The exit code (0 on success), or null when the Status is an error that is not an exit code. */
  code: number | null;
  /** The Status message of a failure. */
  message?: string;
}

/**
 * Reads the Status of the error channel: `status: Success` is exit 0; a failure whose `details.causes` has a cause
 * with reason `ExitCode` is that exit code (reason `NonZeroExitCode`); any other failure is its message. Null when it
 * is not a Status at all.
 */
export function parseExitStatus(json: string): CommandExit | null {
  const value = jsonObject(json);
  if (value === null) return null;
  const status = value as { status?: unknown; message?: unknown; details?: { causes?: unknown } };
  if (status.status === 'Success') return { code: 0 };
  if (status.status !== 'Failure') return null;
  const message = typeof status.message === 'string' ? status.message : undefined;
  const causes = Array.isArray(status.details?.causes) ? status.details.causes as Array<{ reason?: unknown; message?: unknown }> : [];
  const exit = causes.find((c) => c?.reason === 'ExitCode' && typeof c.message === 'string' && /^\d{1,10}$/.test(c.message));
  return { code: exit ? Number(exit.message) : null, ...(message !== undefined ? { message } : {}) };
}

/** One port-forward message from the server, as read. */
export type PortForwardFrame =
  | { kind: 'data' | 'error'; portIndex: number; data: Buffer }
  | { kind: 'port'; portIndex: number; error: boolean; port: number }
  | { kind: 'empty' }
  | { kind: 'malformed'; reason: string };

/**
 * Reads the server's side of a `v4.channel.k8s.io` port forward: the port prefix of each channel (possibly split
 * over messages; it must name the port the request asked for at that index), then data or error text.
 */
export class PortForwardDecoder {
  /** Per channel: bytes of its port prefix read so far (2 when done). */
  private readonly prefix = new Map<number, number[]>();

  constructor(private readonly ports: readonly number[]) {}

  /** Reads one message from the server. Several results: a prefix and data can share a message. */
  push(message: Buffer): PortForwardFrame[] {
    if (message.length === 0) return [{ kind: 'empty' }];
    const channel = message[0];
    const portIndex = channel >> 1;
    if (portIndex >= this.ports.length) return [{ kind: 'malformed', reason: `no channel ${channel} for ${this.ports.length} port(s)` }];
    const error = (channel & 1) === 1;
    let body = message.subarray(1);
    const out: PortForwardFrame[] = [];
    const seen = this.prefix.get(channel) ?? [];
    if (seen.length < 2) {
      const take = Math.min(2 - seen.length, body.length);
      seen.push(...body.subarray(0, take));
      this.prefix.set(channel, seen);
      body = body.subarray(take);
      if (seen.length === 2) {
        const port = seen[0] | (seen[1] << 8);
        if (port !== this.ports[portIndex]) return [{ kind: 'malformed', reason: `channel ${channel} names port ${port}, not ${this.ports[portIndex]}` }];
        out.push({ kind: 'port', portIndex, error, port });
      }
    }
    if (body.length > 0) out.push({ kind: error ? 'error' : 'data', portIndex, data: body });
    return out;
  }

  /** True once the server sent the port prefix of this channel (so a message Warden adds needs none). */
  prefixed(channel: number): boolean {
    return (this.prefix.get(channel)?.length ?? 0) === 2;
  }
}

/** The channel of a port's data (error: its error channel). */
export function portChannel(portIndex: number, error: boolean): number {
  return portIndex * 2 + (error ? 1 : 0);
}

/** A channel's port prefix: the port, little-endian. */
export function encodePortPrefix(port: number): Buffer {
  return Buffer.from([port & 0xff, port >> 8]);
}

/**
 * The ports of a port-forward request's query (`ports=8080&ports=9090` or `ports=8080,9090`, as the API server reads
 * them): each an integer from 1 to 65535, at least one. Null when one is not.
 */
export function parseForwardPorts(query: URLSearchParams): number[] | null {
  const values = query.getAll('ports').flatMap((v) => v.split(','));
  if (values.length === 0 || values.length > 128) return null;
  const ports: number[] = [];
  for (const v of values) {
    const t = v.trim();
    if (!/^\d{1,5}$/.test(t)) return null;
    const n = Number(t);
    if (n < 1 || n > 65535) return null;
    ports.push(n);
  }
  return ports;
}
