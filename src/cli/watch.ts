/**
 * Commands that keep running until something happens or the user presses Ctrl-C: `approvals list --watch`
 * (reprints the table when it changes) and `access request --wait` (returns once the request is decided, with a
 * countdown on stderr when that is a terminal). Ctrl-C ends them cleanly with exit 0 / 130; they never swallow it
 * for longer than the current request.
 */
import type { ApprovalRequest } from '../store/types.js';
import type { ApiClient } from './client.js';
import { seg } from './client.js';
import { CliError, type Io } from './common.js';
import { shortTime } from './format.js';

/** An AbortSignal that fires on Ctrl-C (SIGINT), or the Io's own signal (tests); `dispose` removes the handler. */
export function interruption(io: Io): { signal: AbortSignal; dispose(): void } {
  if (io.signal !== undefined) return { signal: io.signal, dispose: () => {} };
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => void process.removeListener('SIGINT', onSigint) };
}

/** Waits `ms`, or less when `signal` fires. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Prints `render()` now and again every `intervalMs` whenever it changed, until Ctrl-C. On a terminal the screen
 * is cleared first (like `watch`); otherwise each new state follows a `---` line with the time, so a log of it reads
 * in order.
 */
export async function watchLoop(io: Io, intervalMs: number, title: string, render: () => Promise<string>): Promise<number> {
  const { signal, dispose } = interruption(io);
  try {
    let last: string | undefined;
    while (!signal.aborted) {
      const text = await render();
      if (text !== last && !signal.aborted) {
        const header = `${title}  (every ${intervalMs / 1000}s; Ctrl-C to stop)  ${shortTime(new Date().toISOString())}`;
        io.stdout(io.stdoutIsTTY ? `\u001b[H\u001b[2J${header}\n\n${text}` : `--- ${header}\n${text}`);
        last = text;
      }
      await pause(intervalMs, signal);
    }
    return 0;
  } finally {
    dispose();
  }
}

/** `4m05s` (or `1h02m`) until `iso`. */
export function countdown(iso: string, now = Date.now()): string {
  const total = Math.max(0, Math.round((Date.parse(iso) - now) / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s).padStart(2, '0')}s`;
}

/**
 * Polls an approval request until it leaves `pending`; resolves with its final state, or undefined on Ctrl-C.
 * On a terminal, stderr shows a countdown to its expiry, rewritten in place.
 */
export async function waitForDecision(client: ApiClient, id: string, io: Io, intervalMs = 1000): Promise<ApprovalRequest | undefined> {
  const { signal, dispose } = interruption(io);
  try {
    while (!signal.aborted) {
      const request = await client.get<ApprovalRequest>(`/api/approvals/${seg(id)}`);
      if (request.status !== 'pending') {
        if (io.stderrIsTTY) io.stderr('\r\u001b[K');
        return request;
      }
      if (io.stderrIsTTY) {
        io.stderr(`\r\u001b[KWaiting for a decision on ${id}: ${countdown(request.expiresAt)} left (Ctrl-C stops waiting)`);
      }
      await pause(intervalMs, signal);
    }
    if (io.stderrIsTTY) io.stderr('\r\u001b[K');
    return undefined;
  } finally {
    dispose();
  }
}

/** The exit code and message for a decided request: 0 when approved, else a CliError saying what happened. */
export function decisionOutcome(r: ApprovalRequest): string {
  if (r.status === 'approved') {
    const by = [...new Set(r.decisions.filter((d) => d.decision === 'approve').map((d) => d.by))].join(', ');
    return `request ${r.id} approved by ${by || 'an approver'}`;
  }
  const denial = r.decisions.find((d) => d.decision === 'deny');
  const why = r.status === 'denied' && denial ? ` by ${denial.by}${denial.comment ? `: ${denial.comment}` : ''}`
    : r.statusReason ? `: ${r.statusReason}` : '';
  throw new CliError(`request ${r.id} was ${r.status}${why}`);
}
