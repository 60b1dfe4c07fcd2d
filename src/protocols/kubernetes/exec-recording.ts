/**
 * The asciicast recording of one exec or attach stream (recording/asciicast.ts, as for an SSH terminal): output as
 * the caller saw it, input the program echoed, and the terminal's size. With a terminal, kubectl sends its size just
 * after the stream opens, often after the program's first output (a prompt): what comes before the first size (at
 * most WAIT_MS, at most HOLD_BYTES) is held and recorded once the size is known, so the cast starts at the caller's
 * real size. Without a terminal the size is the default 80x24. It records; it never changes what the caller gets.
 */
import { TerminalRecorder } from '../../recording/asciicast.js';
import type { Session } from '../../session/session.js';
import type { TerminalSize } from './channel-codec.js';
import type { RelayPipeline } from './relay-context.js';

/** The size recorded until (or unless) the caller sends one. */
export const DEFAULT_SIZE: TerminalSize = { width: 80, height: 24 };
/** How long output waits for the terminal's first size. */
const WAIT_MS = 1000;
/** How much output waits for it at most. */
const HOLD_BYTES = 64 * 1024;

const terminals = new WeakMap<object, number>();

/** Records one stream's terminal. */
export class ExecRecording {
  private recorder: TerminalRecorder | undefined;
  private held: Array<['o' | 'i', Buffer]> = [];
  private heldBytes = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly session: Session, private readonly pipeline: RelayPipeline, tty: boolean) {
    if (tty) this.timer = setTimeout(() => this.start(DEFAULT_SIZE), WAIT_MS).unref();
    else this.start(DEFAULT_SIZE);
  }

  /** Output as the caller saw it (masked). */
  output(bytes: Buffer): void {
    if (this.recorder) this.recorder.output(bytes);
    else this.hold('o', bytes);
  }

  /** Input the caller sent (recorded only when echoed). */
  input(bytes: Buffer): void {
    if (this.recorder) this.recorder.input(bytes);
    else this.hold('i', bytes);
  }

  /** The caller's terminal size, first or changed. */
  resize(size: TerminalSize): void {
    if (this.recorder) this.recorder.resize(size.width, size.height);
    else this.start(size);
  }

  /** Ends the recording. */
  async close(): Promise<void> {
    this.start(DEFAULT_SIZE);
    await this.recorder?.close();
  }

  private hold(kind: 'o' | 'i', bytes: Buffer): void {
    this.held.push([kind, Buffer.from(bytes)]);
    this.heldBytes += bytes.length;
    if (this.heldBytes > HOLD_BYTES) this.start(DEFAULT_SIZE);
  }

  private start(size: TerminalSize): void {
    if (this.recorder) return;
    if (this.timer) clearTimeout(this.timer);
    const { session, pipeline } = this;
    const n = terminals.get(session) ?? 0;
    terminals.set(session, n + 1);
    this.recorder = new TerminalRecorder({ recorder: { append: (_id, type, data) => pipeline.onEvent(session, type, data) },
      sessionId: session.id, channel: String(n), width: size.width, height: size.height });
    for (const [kind, bytes] of this.held) {
      if (kind === 'o') this.recorder.output(bytes);
      else this.recorder.input(bytes);
    }
    this.held = [];
  }
}
