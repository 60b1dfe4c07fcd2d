/**
 * Agent forwarding through Warden (`ssh -A`), once a policy rule allowed it (class `forward`, request
 * `auth-agent-req@openssh.com`): the target gets an agent socket, and each `auth-agent@openssh.com` channel the
 * target opens is relayed to a channel Warden opens back to the caller, whose ssh hands it to the caller's agent.
 *
 * A forwarded agent lets the target's users (and root) use the caller's keys for as long as the session lasts: log
 * in elsewhere as the caller, sign git commits. That is why it is refused unless a policy allows it. Warden narrows
 * what passes (agent-codec.ts): the target may list keys and ask for signatures, and nothing else (it cannot add,
 * remove or lock the caller's keys); every request is recorded (`ssh.agent`, with the fingerprint of the key asked
 * to sign). Before it is allowed, or once the session ends, the target's agent channels are refused.
 *
 * ssh2 1.17's server has no call to open an agent channel towards its client (mscdex/ssh2#1374), though its
 * protocol layer writes the message: `openAgentChannel` reaches it through the connection's channel table, checked
 * at run time, and refuses agent forwarding when those internals are missing. It never passes a request the codec
 * did not allow, and never answers the target out of order.
 */
import { createRequire } from 'node:module';
import { Duplex } from 'node:stream';
import { BaseAgent, type Connection, type ServerChannel } from 'ssh2';
import { AGENT_FAILURE_FRAME, AgentFrames, agentRequest } from './agent-codec.js';

const { MAX_WINDOW, PACKET_SIZE } = createRequire(import.meta.url)('ssh2/lib/Channel.js') as { MAX_WINDOW: number; PACKET_SIZE: number };

type Opened = (err: Error | undefined, channel?: ServerChannel) => void;

interface ConnectionInternals {
  _chanMgr?: { add(wrapper: unknown): number };
  _protocol?: { openssh_authAgent?(id: number, window: number, packetSize: number): void };
}

/** True when this ssh2 can open agent channels towards its clients (see the module comment). */
export function canOpenAgentChannels(client: Connection): boolean {
  const internals = client as unknown as ConnectionInternals;
  return typeof internals._chanMgr?.add === 'function' && typeof internals._protocol?.openssh_authAgent === 'function';
}

/** Opens an `auth-agent@openssh.com` channel to the caller, as sshd does for a forwarded agent. */
function openAgentChannel(client: Connection, done: Opened): void {
  if (!canOpenAgentChannels(client)) return done(new Error('this ssh2 cannot open agent channels'));
  const internals = client as unknown as Required<ConnectionInternals>;
  // ssh2 calls the table entry back with the channel once the caller confirms (or with the error if it refuses).
  const wrapper = Object.assign((err: Error | undefined, channel?: ServerChannel) => done(err, channel), { type: 'auth-agent@openssh.com' });
  const id = internals._chanMgr.add(wrapper);
  if (id === -1) return done(new Error('no free channel'));
  internals._protocol.openssh_authAgent!(id, MAX_WINDOW, PACKET_SIZE);
}

/** What the relay tells the session about each request the target sent (for the recording). */
export type AgentAudit = (request: { name: string; allowed: boolean; key?: string }) => void;

/**
 * The target's side of one agent channel: requests it writes are judged frame by frame and go to the caller's
 * agent or are answered with a failure; replies come back in request order.
 */
class AgentFilter extends Duplex {
  private readonly frames = new AgentFrames();
  private readonly replies = new AgentFrames();
  /** For each request in flight, in order: null when the caller's agent answers it, else Warden's own answer. */
  private readonly pending: Array<Buffer | null> = [];

  constructor(private readonly caller: ServerChannel, private readonly audit: AgentAudit) {
    super();
    caller.on('data', (chunk: Buffer) => this.fromCaller(chunk));
    caller.on('close', () => this.destroy());
    caller.on('error', () => this.destroy());
    this.on('close', () => caller.close());
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    let frames: Buffer[];
    try {
      frames = this.frames.push(chunk);
    } catch (err) {
      return callback(err as Error);
    }
    for (const frame of frames) {
      const request = agentRequest(frame);
      this.audit({ name: request.name, allowed: request.allowed, ...(request.key ? { key: request.key } : {}) });
      this.pending.push(request.allowed ? null : AGENT_FAILURE_FRAME);
      if (request.allowed) this.caller.write(frame);
    }
    this.answerLocal();
    callback();
  }

  override _read(): void {}

  override _final(callback: () => void): void {
    this.caller.end();
    callback();
  }

  private fromCaller(chunk: Buffer): void {
    let frames: Buffer[];
    try {
      frames = this.replies.push(chunk);
    } catch {
      return void this.destroy();
    }
    for (const frame of frames) {
      // A reply nobody asked for: the caller's side is not an agent Warden can relay.
      if (this.pending[0] !== null) return void this.destroy();
      this.pending.shift();
      this.push(frame);
      this.answerLocal();
    }
  }

  /** Sends Warden's own answers that are next in order. */
  private answerLocal(): void {
    while (this.pending.length > 0 && this.pending[0] !== null) this.push(this.pending.shift());
  }
}

/**
 * The agent the upstream ssh2 client is given: it is never used to log in (the upstream login offers only the
 * vaulted credentials); `getStream` serves the target's agent channels once `allow` has named the caller.
 */
export class AgentRelay extends BaseAgent {
  private caller: { client: Connection; audit: AgentAudit; live(): boolean } | undefined;

  /** Relays agent channels to `client` from now on (the caller's agent forwarding was allowed). */
  allow(client: Connection, audit: AgentAudit, live: () => boolean): void {
    this.caller = { client, audit, live };
  }

  /** True once allowed. */
  get allowed(): boolean {
    return this.caller !== undefined;
  }

  override getIdentities(cb: (err: Error | null, keys?: Buffer[]) => void): void {
    cb(new Error('the caller agent is not used to log in'));
  }

  override sign(_key: unknown, _data: Buffer, options: unknown, cb?: (err: Error | null) => void): void {
    const done = typeof options === 'function' ? options as (err: Error | null) => void : cb;
    done?.(new Error('the caller agent is not used to log in'));
  }

  /** Called by ssh2 for each agent channel the target opens. */
  override getStream(cb: (err: Error | undefined, stream?: Duplex) => void): void {
    const caller = this.caller;
    if (caller === undefined || !caller.live()) return cb(new Error('agent forwarding is not allowed'));
    openAgentChannel(caller.client, (err, channel) => {
      if (err || channel === undefined) return cb(err ?? new Error('the caller refused the agent channel'));
      const filter = new AgentFilter(channel, caller.audit);
      filter.on('error', () => filter.destroy());
      cb(undefined, filter);
    });
  }
}
