/**
 * Buffered, append-only session recording. Engines and the pipeline append events in memory on the hot path; a
 * timer writes them to the store in batches, off the data path, so a crash loses at most one flush interval
 * (default 250 ms, well under the one second we promise). Events keep their order per session (`seq`).
 * This module never decides anything and never blocks a caller on a store write.
 */
import type { Logger } from 'pino';
import type { SessionEventRecord, SessionRepository } from '../store/types.js';
import { recordingRedactor, type Redactor } from './redact.js';

/** The redaction every caller gets (detector hits in literals, parameters and messages). */
const EVERYONE = recordingRedactor([]);

/** Most events held in memory while the store refuses writes; past it the oldest are dropped (and logged). */
const MAX_BUFFERED_EVENTS = 200_000;

/** Options of a Recorder. */
export interface RecorderOptions {
  sessions: SessionRepository;
  logger: Logger;
  flushIntervalMs?: number;
}

/** Collects session events and writes them to the store in batches. */
export class Recorder {
  private buffer: SessionEventRecord[] = [];
  private readonly nextSeq = new Map<string, number>();
  private readonly redactors = new Map<string, Redactor>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly options: RecorderOptions) {
    this.timer = setInterval(() => void this.flush(), options.flushIntervalMs ?? 250);
    this.timer.unref();
  }

  /**
   * Starts numbering a session's events; call once when the session opens. `redact` rewrites every event's data
   * before it is kept (literals and parameters the caller sent, recording/redact.ts).
   */
  begin(sessionId: string, redact?: Redactor): void {
    this.nextSeq.set(sessionId, 1);
    if (redact) this.redactors.set(sessionId, redact);
  }

  /** Appends one event; cheap and synchronous. `data` must hold no Warden secret; the session's redactor runs on it. */
  append(sessionId: string, type: string, data: Record<string, unknown>): void {
    if (this.closed) return;
    const seq = this.nextSeq.get(sessionId) ?? 1;
    this.nextSeq.set(sessionId, seq + 1);
    // A session begun without rules (or an event after its end) still gets the detectors everyone gets.
    const redact = this.redactors.get(sessionId) ?? EVERYONE;
    this.buffer.push({ sessionId, seq, at: new Date().toISOString(), type, data: redact(data) });
    if (this.buffer.length > MAX_BUFFERED_EVENTS) {
      const dropped = this.buffer.splice(0, this.buffer.length - MAX_BUFFERED_EVENTS);
      this.options.logger.error({ dropped: dropped.length }, 'recording buffer full: store not accepting writes');
    }
  }

  /** Stops numbering a session (after its last event was appended). */
  end(sessionId: string): void {
    this.nextSeq.delete(sessionId);
    this.redactors.delete(sessionId);
  }

  /** Writes everything appended so far; concurrent callers share one write. Never throws. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    this.flushing = this.options.sessions.appendEvents(batch).catch((err: unknown) => {
      // Keep the batch for the next attempt, ahead of newer events so order is preserved.
      this.buffer = batch.concat(this.buffer);
      this.options.logger.error({ err, events: batch.length }, 'recording flush failed; will retry');
    }).finally(() => {
      this.flushing = null;
    });
    await this.flushing;
  }

  /** Flushes what is left and stops the timer; later appends are ignored. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
    this.closed = true;
  }
}
