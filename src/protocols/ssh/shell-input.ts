/**
 * The input side of an interactive shell: every byte the caller types goes through the line editor (line-editor.ts),
 * which hands over each line at its Enter. The line is judged by the pipeline (`Command.kind` `line`; `uncertain-line`,
 * class unknown, when the editor cannot be sure of it) before the
 * Enter reaches the target; an allowed line gets its Enter, a refused one gets CANCEL_LINE (the host's line is
 * emptied, nothing runs) and the caller sees why on its terminal. While a line waits (for an approval), later input
 * is held in order, never reordered or dropped. A line that continues an unfinished command is judged joined to it
 * (and alone: line-analysis.ts); after an allowed line the editor learns whether the command is still unfinished. Best effort by nature (see line-editor.ts); exec-only policies
 * are the strict choice. It never sends the target an Enter for a line the pipeline has not allowed.
 */
import type { ClientChannel, ServerChannel } from 'ssh2';
import type { Command, Verdict } from '../../session/types.js';
import type { ConnectionContext } from './context.js';
import { CANCEL_LINE, LineEditor, type LineSubmission } from './line-editor.js';
import { shellTextUnfinished } from '../../analysis/shell/index.js';

/** The shell text the host runs at this submission: earlier unfinished lines joined with this one. */
function fullText(submit: LineSubmission): string {
  return submit.continues === undefined ? submit.line : `${submit.continues}\n${submit.line}`;
}

/** Judges and forwards one shell's input. */
export class ShellInput {
  private readonly editor = new LineEditor();
  private readonly queue: Buffer[] = [];
  private waiting = false;

  constructor(private readonly conn: ConnectionContext, private readonly caller: ServerChannel, private readonly upstream: ClientChannel) {}

  /** Host output, read for the terminal modes the editor needs (alternate screen, bracketed paste). */
  observeOutput(chunk: Buffer): void {
    this.editor.observeOutput(chunk);
  }

  /** Caller input. */
  push(chunk: Buffer): void {
    this.queue.push(chunk);
    if (!this.waiting) this.drain();
  }

  private drain(): void {
    while (this.queue.length > 0 && !this.waiting) {
      let data: Buffer = this.queue.shift()!;
      for (;;) {
        const fed = this.editor.feed(data);
        if (fed.forward.length > 0) this.upstream.write(fed.forward);
        if (fed.submit === undefined) break;
        const submit = fed.submit;
        const verdict = this.judge(submit);
        if (verdict instanceof Promise) {
          this.waiting = true;
          this.caller.pause();
          if (fed.rest.length > 0) this.queue.unshift(fed.rest);
          verdict.then((v) => this.apply(v, submit), () => this.apply(undefined, submit)).finally(() => {
            this.waiting = false;
            this.caller.resume();
            this.drain();
          });
          return;
        }
        this.apply(verdict, submit);
        data = fed.rest;
        if (data.length === 0) break;
      }
    }
  }

  /** Asks the pipeline; an empty line the editor is sure of needs no judgment (nothing runs). */
  private judge(submit: LineSubmission): Verdict | Promise<Verdict> {
    if (submit.certain && submit.continues === undefined && submit.line.trim() === '') {
      return { effect: 'allow', note: { effect: 'allow', classes: [] } };
    }
    // A line Warden cannot know for sure (history, completion, an unmodelled key) is judged as what it is: unknown.
    // The ssh analyser gives any kind it does not know class `unknown`, which strict policies refuse.
    // A line that continues an unfinished command is judged joined to it and alone (line-analysis.ts).
    const command: Command = { protocol: 'ssh', kind: submit.certain ? 'line' : 'uncertain-line', text: fullText(submit),
      ...(submit.continues !== undefined ? { attributes: { line: submit.line } } : {}) };
    if (!submit.certain) {
      this.conn.pipeline.onEvent(this.conn.session, 'ssh.line.uncertain', { reasons: submit.reasons, context: submit.context });
    }
    try {
      return this.conn.pipeline.onCommand(this.conn.session, command, { notify: (m) => this.tell(`warden: ${m}`) });
    } catch (err) {
      this.conn.logger.error({ err, session: this.conn.session.id }, 'could not judge a shell line');
      return { effect: 'deny', message: 'Warden could not judge this line', note: { effect: 'deny', classes: [] } };
    }
  }

  private apply(verdict: Verdict | undefined, submit: LineSubmission): void {
    if (verdict?.effect === 'allow' && this.conn.ending === undefined) {
      this.upstream.write(submit.enter);
      const text = fullText(submit);
      this.editor.accepted(submit, submit.trigger === 'enter' && shellTextUnfinished(text));
      if (submit.line.trim() !== '') {
        this.conn.pipeline.onOutcome(this.conn.session, { protocol: 'ssh', kind: 'line', text, decision: verdict.note },
          { durationMs: 0 });
      }
      return;
    }
    this.upstream.write(CANCEL_LINE);
    this.editor.refused();
    this.tell(`warden: line refused: ${verdict?.effect === 'deny' ? verdict.message : 'Warden could not judge this line'}`);
  }

  private tell(message: string): void {
    if (this.caller.writable) this.caller.write(`\r\n${message}\r\n`);
  }
}
