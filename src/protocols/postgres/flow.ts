/**
 * Flow control of one session's two sockets, with one owner: each socket is paused for a set of reasons (the other
 * side is slow, a statement is held for its verdict, masking is reading the catalog) and resumed only when no
 * reason remains. Nobody else calls `pause()` or `resume()` on a relayed socket, so one side's `drain` can never
 * undo a hold for another reason (which would turn backpressure into an unbounded queue). Also owns the helper that
 * wires a session's asynchronous continuations to its failure path. No I/O of its own beyond pause and resume.
 */

/** Why a socket is paused; a bit each, so a socket can be paused for several reasons at once. */
export const PauseReason = {
  /** The caller's socket: the upstream's write buffer is full. */
  upstreamSlow: 1,
  /** The upstream's socket: the caller's write buffer is full. */
  clientSlow: 2,
  /** The caller's socket: a statement waits for its verdict (approval). */
  heldForVerdict: 4,
  /** The upstream's socket: masking looks up tables in the catalog before the rows can be masked. */
  catalogLookup: 8,
} as const;

/** One of the PauseReason values. */
export type PauseReasonBit = (typeof PauseReason)[keyof typeof PauseReason];

/** The socket side flow control needs (a net.Socket or a test double). */
export interface Pausable {
  pause(): unknown;
  resume(): unknown;
}

/** Pauses one socket for reasons and resumes it when the last reason is gone. */
export class SocketFlow {
  private reasons = 0;
  private started = false;

  constructor(private readonly socket: Pausable) {}

  /** Adds a reason; the socket stops reading at once. */
  pause(reason: PauseReasonBit): void {
    this.reasons |= reason;
    this.socket.pause();
  }

  /** Removes a reason; the socket reads again when it was the last one (and relaying has started). */
  resume(reason: PauseReasonBit): void {
    if ((this.reasons & reason) === 0) return;
    this.reasons &= ~reason;
    if (this.reasons === 0 && this.started) this.socket.resume();
  }

  /** Relaying starts: the socket reads unless some reason already holds it. */
  start(): void {
    this.started = true;
    if (this.reasons === 0) this.socket.resume();
  }

  /** True while `reason` holds the socket. */
  has(reason: PauseReasonBit): boolean {
    return (this.reasons & reason) !== 0;
  }

  /** True while any reason holds the socket. */
  get paused(): boolean {
    return this.reasons !== 0;
  }
}

/**
 * Runs a session's continuation after `pending` settles and routes anything it throws or rejects with (and a
 * rejection of `pending` itself) to `fail`, the session's failure path: an asynchronous step of one session can end
 * that session, never the process. `fail` itself must not throw.
 */
export function continueSession<T>(pending: Promise<T>, then: (value: T) => void | Promise<void>, fail: (err: unknown) => void): void {
  pending.then(then).catch((err: unknown) => {
    try {
      fail(err);
    } catch {
      // The failure path threw: nothing more can be done for this session, and nothing must reach the process.
    }
  });
}
