/**
 * The SSH agent protocol as Warden relays it (draft-miller-ssh-agent): frames (`uint32 length, byte type, body`)
 * cut out of a byte stream at any split, and which requests a target may send to the caller's forwarded agent.
 * A target can only list the caller's keys and ask for signatures (what `ssh` onwards and `git` need); adding,
 * removing or locking keys, smartcard requests and extensions other than `session-bind@openssh.com` (which only
 * narrows what the agent signs) are answered with SSH_AGENT_FAILURE by Warden and never reach the caller.
 * Pure: no I/O.
 */
import { createHash } from 'node:crypto';

/** The longest agent message relayed (OpenSSH's AGENT_MAX_LEN); a longer one ends the agent channel. */
export const AGENT_MAX_MESSAGE = 256 * 1024;

/** Agent request types (client to agent) a target may send. */
export const AGENTC_REQUEST_IDENTITIES = 11;
export const AGENTC_SIGN_REQUEST = 13;
export const AGENTC_EXTENSION = 27;
/** The reply Warden sends for a refused request. */
export const AGENT_FAILURE_FRAME = Buffer.from([0, 0, 0, 1, 5]);

const NAMES: Record<number, string> = {
  11: 'list keys', 13: 'sign', 17: 'add key', 18: 'remove key', 19: 'remove all keys', 20: 'add smartcard key',
  21: 'remove smartcard key', 22: 'lock', 23: 'unlock', 25: 'add constrained key', 26: 'add constrained smartcard key',
  27: 'extension',
};

/** Cuts agent frames out of a byte stream; each returned frame is whole (length prefix included). */
export class AgentFrames {
  private buffered: Buffer = Buffer.alloc(0);

  /** Takes a chunk; returns the frames it completed. Throws on a frame longer than AGENT_MAX_MESSAGE. */
  push(chunk: Buffer): Buffer[] {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const frames: Buffer[] = [];
    while (this.buffered.length >= 4) {
      const length = this.buffered.readUInt32BE(0);
      if (length === 0 || length > AGENT_MAX_MESSAGE) throw new Error(`agent message of ${length} bytes`);
      if (this.buffered.length < 4 + length) break;
      frames.push(this.buffered.subarray(0, 4 + length));
      this.buffered = this.buffered.subarray(4 + length);
    }
    return frames;
  }
}

/** What a target's request to the caller's agent is, for the relay's decision and the recording. */
export interface AgentRequest {
  /** True when it may reach the caller's agent. */
  allowed: boolean;
  /** A name for the recording: `list keys`, `sign`, `remove all keys`, `type 99`. */
  name: string;
  /** For `sign`: the SHA-256 fingerprint of the key asked to sign. */
  key?: string;
}

/** Reads one SSH string at `at` of `frame`; undefined when it runs past the end. */
function readString(frame: Buffer, at: number): Buffer | undefined {
  if (at + 4 > frame.length) return undefined;
  const length = frame.readUInt32BE(at);
  return at + 4 + length > frame.length ? undefined : frame.subarray(at + 4, at + 4 + length);
}

/** Judges one request frame (from AgentFrames) a target sent towards the caller's agent. */
export function agentRequest(frame: Buffer): AgentRequest {
  const type = frame[4];
  const name = NAMES[type] ?? `type ${type}`;
  if (type === AGENTC_REQUEST_IDENTITIES) return { allowed: frame.length === 5, name };
  if (type === AGENTC_SIGN_REQUEST) {
    const blob = readString(frame, 5);
    if (blob === undefined) return { allowed: false, name };
    return { allowed: true, name, key: `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}` };
  }
  if (type === AGENTC_EXTENSION) {
    const extension = readString(frame, 5)?.toString('latin1');
    return { allowed: extension === 'session-bind@openssh.com', name: `extension ${extension ?? '?'}`.slice(0, 80) };
  }
  return { allowed: false, name };
}
