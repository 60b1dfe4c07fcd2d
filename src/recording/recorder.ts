/**
 * Buffered, append-only session recording. Engines and the pipeline append events in memory on the hot path; a
 * timer writes them to the store in batches, off the data path, so a crash loses at most one flush interval
 * (default 250 ms, well under the one second we promise). Events keep their order per session (`seq`).
 *
 * Robust by construction, because one caller must never be able to stop everyone's recording:
 * - a session's sequence is kept after it ends until its events are written and a grace period passed, so a late
 *   event (a cancel answered after the close) gets the next number, never a reused one; later still it is dropped
 *   with a log line, never renumbered from 1;
 * - each event is serialised once, when appended; the backlog is kept as serialised chunks, so retries during a
 *   store outage cost no re-serialisation;
 * - a batch the store rejects for its content is split in halves until the bad chunk is found; that chunk is
 *   reported and dropped, every other chunk is written;
 * - while the store is down (locked, full, failing) everything is kept and retried with backoff, the real cause is
 *   logged, and memory is capped in bytes: past the cap the oldest chunks are dropped and logged;
 * - session ends the store could not record are retried until it accepts them.
 * This module never decides anything and never blocks a caller on a store write.
 */
import type { Logger } from 'pino';
import { isStoreOutage, storeFailureCause } from '../store/index.js';
import type { EventChunk, SessionRepository } from '../store/types.js';
import { recordingRedactor, type Redactor } from './redact.js';

/** The redaction every caller gets (detector hits in literals, parameters and messages). */
const EVERYONE = recordingRedactor([]);

/** Default cap on the bytes of events held in memory (appended or waiting for the store). */
export const DEFAULT_MAX_BUFFERED_BYTES = 64 * 1024 * 1024;
/** How long an ended session's sequence is kept for late events once its events are written (ms). */
const RETIRE_AFTER_MS = 60_000;
/** Times a chunk may be refused for its content (not for an outage) before it is dropped. */
const MAX_CHUNK_ATTEMPTS = 3;
/** Most chunks written in one store transaction. */
const MAX_BATCH_CHUNKS = 500;
/** Longest wait between two write attempts while the store is down (ms). */
const MAX_BACKOFF_MS = 5000;
/** Repeated log lines about one condition are written at most this often (ms). */
const LOG_INTERVAL_MS = 30_000;

/** Options of a Recorder. */
export interface RecorderOptions {
  sessions: Pick<SessionRepository, 'appendChunks' | 'end'>;
  logger: Logger;
  flushIntervalMs?: number;
  maxBufferedBytes?: number;
  /** How long an ended session's numbering is kept for late events (default one minute). */
  retireAfterMs?: number;
}

/** What the recorder holds and what it had to give up, for logs and tests. */
export interface RecorderStats {
  bufferedBytes: number;
  backlogChunks: number;
  /** Events dropped: past the memory cap, in rejected chunks, or appended for an unknown or retired session. */
  droppedEvents: number;
  /** Chunks the store refused for their content. */
  rejectedChunks: number;
  /** Session ends waiting for the store. */
  pendingEnds: number;
}

/** One session's numbering and its events not yet sealed into a chunk. */
interface SessionLog {
  next: number;
  pending: string[];
  endedAt: number | null;
}

/** A chunk waiting for the store. */
interface PendingChunk extends EventChunk {
  size: number;
  failures: number;
  queued: boolean;
}

/** Collects session events and writes them to the store in batches. */
export class Recorder {
  private readonly logs = new Map<string, SessionLog>();
  private readonly dirty = new Set<string>();
  private readonly ended = new Set<string>();
  private backlog: PendingChunk[] = [];
  private readonly endsPending = new Map<string, { at: string; reason: string }>();
  private bytes = 0;
  private readonly maxBytes: number;
  private readonly redactors = new Map<string, Redactor>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> | null = null;
  private closed = false;
  private outage: { since: number; failures: number; retryAt: number } | null = null;
  private readonly lastLog = new Map<string, number>();
  private readonly counters = { droppedEvents: 0, rejectedChunks: 0 };

  constructor(private readonly options: RecorderOptions) {
    this.maxBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.timer = setInterval(() => {
      this.flush().catch((err: unknown) => this.options.logger.error({ err }, 'recording flush failed'));
    }, options.flushIntervalMs ?? 250);
    this.timer.unref();
  }

  /**
   * Starts numbering a session's events; call once when the session opens (a second call changes nothing). `redact`
   * rewrites every event's data before it is kept (literals and parameters the caller sent, recording/redact.ts).
   */
  begin(sessionId: string, redact?: Redactor): void {
    if (!this.logs.has(sessionId)) this.logs.set(sessionId, { next: 1, pending: [], endedAt: null });
    if (redact) this.redactors.set(sessionId, redact);
  }

  /**
   * Appends one event; cheap and synchronous. `data` must hold no Warden secret; the session's redactor runs on it.
   * Returns the event's sequence number (an index can point at it), or undefined when it was dropped.
   */
  append(sessionId: string, type: string, data: Record<string, unknown>): number | undefined {
    if (this.closed) return undefined;
    const log = this.logs.get(sessionId);
    if (!log) {
      this.counters.droppedEvents++;
      this.rateLimited('unknown', 'warn', { session: sessionId, type },
        'recording event dropped: the session is unknown or ended too long ago');
      return undefined;
    }
    const seq = log.next++;
    // A session begun without rules (or an event after its end) still gets the detectors everyone gets.
    const redact = this.redactors.get(sessionId) ?? EVERYONE;
    const json = serialise(seq, new Date().toISOString(), type, redact(data), this.options.logger, sessionId);
    log.pending.push(json);
    this.bytes += json.length + 1;
    this.dirty.add(sessionId);
    if (this.bytes > this.maxBytes) this.shed();
    return seq;
  }

  /** Marks a session ended (after its last regular event); late events still get the next numbers for a while. */
  end(sessionId: string): void {
    const log = this.logs.get(sessionId);
    if (!log || log.endedAt !== null) return;
    log.endedAt = Date.now();
    this.ended.add(sessionId);
  }

  /** Records a session's end in the store later, when it can: the store refused it when the session ended. */
  deferEnd(sessionId: string, at: string, reason: string): void {
    if (!this.endsPending.has(sessionId)) this.endsPending.set(sessionId, { at, reason });
  }

  /** What the recorder holds now. */
  stats(): RecorderStats {
    return { bufferedBytes: this.bytes, backlogChunks: this.backlog.length, ...this.counters,
      pendingEnds: this.endsPending.size };
  }

  /** Writes everything appended so far; concurrent callers share one write. Never throws. */
  async flush(): Promise<void> {
    await this.exclusive(false);
  }

  /** Flushes what is left (once more even during an outage) and stops the timer; later appends are ignored. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.exclusive(true);
    this.closed = true;
    if (this.backlog.length > 0 || this.endsPending.size > 0) {
      this.options.logger.error({ chunks: this.backlog.length, bytes: this.bytes, ends: this.endsPending.size },
        'recording lost at shutdown: the store did not accept it');
    }
  }

  /** Runs one write at a time: two writers would insert the same chunks twice. */
  private async exclusive(force: boolean): Promise<void> {
    while (this.flushing) await this.flushing;
    this.flushing = this.writeAll(force).finally(() => {
      this.flushing = null;
    });
    await this.flushing;
  }

  /** Seals pending events, writes the backlog in batches, then pending session ends. */
  private async writeAll(force: boolean): Promise<void> {
    this.seal();
    if (!force && this.outage && Date.now() < this.outage.retryAt) return;
    // Only what is here now: chunks sealed while writing wait for the next flush.
    let rounds = Math.ceil(this.backlog.length / MAX_BATCH_CHUNKS);
    while (rounds-- > 0 && this.backlog.length > 0) {
      if (await this.writeBatch(this.backlog.slice(0, MAX_BATCH_CHUNKS)) === 'outage') return;
    }
    if (this.outage) this.recovered();
    await this.writeEnds();
    this.retire();
  }

  /** Writes a batch; on a content error splits it in halves until the bad chunk is isolated. */
  private async writeBatch(batch: PendingChunk[]): Promise<'ok' | 'outage'> {
    try {
      await this.options.sessions.appendChunks(batch.map(({ sessionId, firstSeq, lastSeq, events }) =>
        ({ sessionId, firstSeq, lastSeq, events })));
      this.unqueue(batch);
      return 'ok';
    } catch (err) {
      if (isStoreOutage(err)) {
        this.noteOutage(err);
        return 'outage';
      }
      if (batch.length === 1) {
        this.refused(batch[0], err);
        return 'ok';
      }
      const half = batch.length >> 1;
      if (await this.writeBatch(batch.slice(0, half)) === 'outage') return 'outage';
      return this.writeBatch(batch.slice(half));
    }
  }

  /** A chunk the store refused for its content: kept for a few attempts, then reported and dropped. */
  private refused(chunk: PendingChunk, err: unknown): void {
    chunk.failures++;
    const conflict = (err as { code?: unknown }).code === 'WARDEN_ERR_CONFLICT';
    if (!conflict && chunk.failures < MAX_CHUNK_ATTEMPTS) return;
    this.unqueue([chunk]);
    this.counters.rejectedChunks++;
    this.counters.droppedEvents += chunk.lastSeq - chunk.firstSeq + 1;
    this.options.logger.error({ session: chunk.sessionId, firstSeq: chunk.firstSeq, lastSeq: chunk.lastSeq,
      cause: storeFailureCause(err) }, 'recording chunk refused by the store and dropped; other sessions are unaffected');
  }

  /** Retries session ends the store refused earlier. */
  private async writeEnds(): Promise<void> {
    for (const [sessionId, { at, reason }] of [...this.endsPending]) {
      try {
        await this.options.sessions.end(sessionId, at, reason);
        this.endsPending.delete(sessionId);
      } catch (err) {
        if (isStoreOutage(err)) {
          this.noteOutage(err);
          return;
        }
        this.endsPending.delete(sessionId);
        this.options.logger.error({ session: sessionId, cause: storeFailureCause(err) }, 'could not record the end of a session');
      }
    }
  }

  /** Moves every session's pending events into the backlog as one chunk per session. */
  private seal(): void {
    for (const sessionId of this.dirty) {
      const log = this.logs.get(sessionId);
      if (!log || log.pending.length === 0) continue;
      const events = `[${log.pending.join(',')}]`;
      // Counted as appended (each event's length plus one), so the total returns to exactly 0 once written.
      const size = log.pending.reduce((n, e) => n + e.length + 1, 0);
      this.backlog.push({ sessionId, firstSeq: log.next - log.pending.length, lastSeq: log.next - 1, events,
        size, failures: 0, queued: true });
      log.pending = [];
    }
    this.dirty.clear();
  }

  /** Takes written or dropped chunks out of the backlog. */
  private unqueue(chunks: PendingChunk[]): void {
    for (const c of chunks) {
      if (!c.queued) continue;
      c.queued = false;
      this.bytes -= c.size;
    }
    this.backlog = this.backlog.filter((c) => c.queued);
  }

  /** Drops the oldest chunks until the memory cap holds again, and says so. */
  private shed(): void {
    this.seal();
    let events = 0;
    let chunks = 0;
    for (const c of this.backlog) {
      if (this.bytes <= this.maxBytes * 0.9) break;
      c.queued = false;
      this.bytes -= c.size;
      events += c.lastSeq - c.firstSeq + 1;
      chunks++;
    }
    this.backlog = this.backlog.filter((c) => c.queued);
    this.counters.droppedEvents += events;
    this.rateLimited('shed', 'error', { events, chunks, maxBytes: this.maxBytes },
      'recording buffer full: the store is not keeping up; oldest events dropped');
  }

  /** Forgets ended sessions whose events are all written, once late events are no longer expected. */
  private retire(): void {
    const now = Date.now();
    for (const sessionId of this.ended) {
      const log = this.logs.get(sessionId);
      if (!log) {
        this.ended.delete(sessionId);
      } else if (log.endedAt !== null && now - log.endedAt >= (this.options.retireAfterMs ?? RETIRE_AFTER_MS) && log.pending.length === 0
        && !this.backlog.some((c) => c.sessionId === sessionId)) {
        this.logs.delete(sessionId);
        this.redactors.delete(sessionId);
        this.ended.delete(sessionId);
      }
    }
  }

  private noteOutage(err: unknown): void {
    const now = Date.now();
    const failures = (this.outage?.failures ?? 0) + 1;
    const backoff = Math.min(MAX_BACKOFF_MS, 250 * 2 ** Math.min(failures - 1, 5));
    this.outage = { since: this.outage?.since ?? now, failures, retryAt: now + backoff };
    this.rateLimited('outage', 'error', { cause: storeFailureCause(err), chunks: this.backlog.length, bytes: this.bytes,
      retryInMs: backoff }, 'store not accepting recordings; keeping them in memory and retrying');
  }

  private recovered(): void {
    this.options.logger.warn({ downMs: Date.now() - this.outage!.since }, 'store accepting recordings again');
    this.outage = null;
    this.lastLog.delete('outage');
  }

  private rateLimited(key: string, level: 'warn' | 'error', data: Record<string, unknown>, message: string): void {
    const now = Date.now();
    if (now - (this.lastLog.get(key) ?? -Infinity) < LOG_INTERVAL_MS) return;
    this.lastLog.set(key, now);
    this.options.logger[level](data, message);
  }
}

/** One event as stored (`{ seq, at, type, data }`); data that cannot be serialised is replaced by a note, not lost silently. */
function serialise(seq: number, at: string, type: string, data: Record<string, unknown>, logger: Logger, sessionId: string): string {
  try {
    return JSON.stringify({ seq, at, type, data });
  } catch (err) {
    logger.error({ session: sessionId, type, err }, 'recording event could not be serialised');
    return JSON.stringify({ seq, at, type, data: { error: 'event data could not be serialised' } });
  }
}
