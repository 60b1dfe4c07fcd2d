/**
 * Delivers approval notifications to generic JSON webhooks and Slack-compatible incoming webhooks. `notify` is
 * fire-and-forget: it returns at once, never throws and never makes an approval wait on a slow or dead receiver.
 * Each delivery retries non-2xx answers and network errors after the configured delays, then logs and gives up.
 * Webhook URLs are credentials (a Slack webhook URL alone lets anyone post), so this module must never log a
 * whole URL: only its origin.
 */
import type { Logger } from 'pino';
import type { ApprovalRequest } from '../store/types.js';
import { slackPayload, webhookPayload, type ApprovalEvent } from './messages.js';

export type { ApprovalEvent } from './messages.js';

/** Default waits between attempts: six attempts over about 15 s. */
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [500, 1000, 2000, 4000, 8000];
/** How long one delivery attempt may take. */
const ATTEMPT_TIMEOUT_MS = 10_000;

/** Options of the Notifier. */
export interface NotifierOptions {
  /** Generic webhooks: receive `{ event, request, approveCommand, url }`. */
  webhookUrls: string[];
  /** Slack-compatible incoming webhooks: receive `{ text, blocks }`. */
  slackWebhookUrls: string[];
  /**
   * The control API's address as approvers reach it, for links in messages. A function when it is known only once
   * the API is bound: it returns undefined until then, and notifications wait (see `addressKnown`).
   */
  publicUrl: string | (() => string | undefined);
  logger: Logger;
  fetchImpl?: typeof fetch;
  /** Waits before each retry; its length is the number of retries. */
  retryDelaysMs?: number[];
}

/** The origin of a URL, safe to log (a webhook's path and query are its secret). */
function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid URL)';
  }
}

/** A promise that resolves after `ms`, without keeping the process alive on its own. */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Sends approval events to the configured webhooks in the background. */
export class Notifier {
  readonly #webhooks: string[];
  readonly #slack: string[];
  readonly #publicUrl: () => string | undefined;
  /** Notifications raised before the address was known (e.g. expiries while recovering at start-up). */
  #waiting: Array<[ApprovalEvent, ApprovalRequest]> = [];
  readonly #logger: Logger;
  readonly #fetch: typeof fetch;
  readonly #delays: number[];
  readonly #inFlight = new Set<Promise<void>>();

  constructor(options: NotifierOptions) {
    this.#webhooks = [...options.webhookUrls];
    this.#slack = [...options.slackWebhookUrls];
    const { publicUrl } = options;
    this.#publicUrl = typeof publicUrl === 'string' ? () => publicUrl : publicUrl;
    this.#logger = options.logger.child({ component: 'approvals-notifier' });
    this.#fetch = options.fetchImpl ?? fetch;
    this.#delays = [...(options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS)];
    for (const url of [...this.#webhooks, ...this.#slack]) {
      if (origin(url) === '(invalid URL)') throw new Error(`invalid webhook URL (origin cannot be parsed)`);
    }
  }

  /** True when no webhook is configured (notify is then a no-op). */
  get disabled(): boolean {
    return this.#webhooks.length === 0 && this.#slack.length === 0;
  }

  /** Announces `event` for `request` to every webhook; returns at once and never throws. */
  notify(event: ApprovalEvent, request: ApprovalRequest): void {
    try {
      if (this.disabled) return;
      const publicUrl = this.#publicUrl();
      if (publicUrl === undefined) {
        this.#waiting.push([event, request]);
        return;
      }
      const generic = this.#webhooks.length > 0 ? JSON.stringify(webhookPayload(event, request, publicUrl)) : '';
      const slack = this.#slack.length > 0 ? JSON.stringify(slackPayload(event, request, publicUrl)) : '';
      for (const url of this.#webhooks) this.#track(this.#deliver(url, generic, event, request.id));
      for (const url of this.#slack) this.#track(this.#deliver(url, slack, event, request.id));
    } catch (err) {
      this.#logger.error({ err, event, request: request?.id }, 'cannot build approval notification');
    }
  }

  /** The API is bound: sends what waited for its address, in order. */
  addressKnown(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const [event, request] of waiting) this.notify(event, request);
  }

  /**
   * Resolves once every delivery started so far (and any started meanwhile) has finished or given up, or after
   * `timeoutMs` when given (a shutdown should not wait out a dead receiver's retries).
   */
  async idle(timeoutMs?: number): Promise<void> {
    const drained = (async () => {
      while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    })();
    if (timeoutMs === undefined) return drained;
    await Promise.race([drained, sleep(timeoutMs)]);
  }

  #track(delivery: Promise<void>): void {
    const tracked = delivery.catch(() => undefined).finally(() => this.#inFlight.delete(tracked));
    this.#inFlight.add(tracked);
  }

  /** Posts one body to one URL, retrying after each delay; logs the final failure. */
  async #deliver(url: string, body: string, event: ApprovalEvent, requestId: string): Promise<void> {
    let failure = '';
    for (let attempt = 0; attempt <= this.#delays.length; attempt++) {
      if (attempt > 0) await sleep(this.#delays[attempt - 1]);
      failure = await this.#attempt(url, body);
      if (failure === '') {
        this.#logger.debug({ event, request: requestId, to: origin(url), attempt: attempt + 1 }, 'approval notification sent');
        return;
      }
    }
    this.#logger.warn({ event, request: requestId, to: origin(url), attempts: this.#delays.length + 1, failure },
      'approval notification not delivered; giving up');
  }

  /** One POST; returns '' on a 2xx answer, else a short description of the failure (never the URL). */
  async #attempt(url: string, body: string): Promise<string> {
    try {
      const res = await this.#fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'warden-approvals' },
        body,
        signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
      });
      // Drain the body so the connection can be reused; its content is not needed.
      await res.arrayBuffer().catch(() => undefined);
      return res.ok ? '' : `HTTP ${res.status}`;
    } catch (err) {
      const cause = (err as { cause?: { code?: string } })?.cause?.code;
      return cause ?? (err instanceof Error ? err.name : 'error');
    }
  }
}
