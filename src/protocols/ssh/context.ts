/**
 * What every channel of one SSH connection shares: its Warden session, the pipeline, the logged-in upstream
 * client, the connection's activity clock (idle timeout) and its list of open channels (so revocation can tell
 * each one why it ends). Types only.
 */
import type { Client, Connection } from 'ssh2';
import type { AgentRelay } from './agent-forwarding.js';
import type { Logger } from 'pino';
import type { SessionPipeline } from '../../session/pipeline.js';
import type { Session } from '../../session/session.js';
import type { MaskingStream } from '../output-masking.js';
import type { SameLengthMasker } from '../../masking/same-length.js';

/** An open caller channel, as the connection sees it when it must end. */
export interface TrackedChannel {
  /** Writes one line to the caller (stderr; with a terminal, the terminal). */
  tell(message: string): void;
  /** Ends the channel with exit status 1. */
  end(): void;
}

/** One caller connection after login. */
export interface ConnectionContext {
  session: Session;
  pipeline: SessionPipeline;
  logger: Logger;
  upstream: Client;
  /** The caller's connection (to open channels back to it: X11, agent). */
  caller: Connection;
  /** Agent and X11 forwarding of this connection: what the pipeline allowed so far. */
  forwards: {
    /** Relays the target's agent channels to the caller once allowed. */
    agent: AgentRelay;
    /** True once an X11 request of the caller was allowed: the target's X11 channels reach the caller. */
    x11: boolean;
  };
  /** Makes the masking stream for one output stream, or null when no masking rule scans content. */
  mask: ((terminal: boolean) => MaskingStream) | null;
  /** Makes the same-length masker of one SFTP channel's READ data, or null when no masking rule scans content. */
  sftpMasker: () => SameLengthMasker | null;
  /** Why the connection is ending, once it is; new requests are refused then. */
  readonly ending: string | undefined;
  /** A number for the next channel of this connection (names a PTY's recording). */
  nextChannel(): number;
  /** Marks activity (for the idle timeout). */
  touch(): void;
  /** Registers an open channel; returns the function that unregisters it. */
  track(channel: TrackedChannel): () => void;
}
