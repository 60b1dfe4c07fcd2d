/**
 * Keeps the injected credential from reaching the caller through the upstream's answer: an upstream may echo it in a
 * redirect's Location, a WWW-Authenticate challenge, a Set-Cookie or an error page. Every form Warden sends it in is
 * searched for (the raw secret, its base64 Basic form, its percent-encoded query form, and Basic's password alone)
 * and overwritten with as many `*` as it has bytes (so a Content-Length stays right), in every response header and in
 * identity-encoded bodies, across chunk boundaries: the stream holds back only a chunk's tail that could begin a form
 * (usually nothing, so an event stream is never delayed).
 * Compressed bodies are not searched (docs/http.md "Bad input"). Pure apart from the Transform.
 */
import { Transform, type TransformCallback } from 'node:stream';

/** The byte forms in which `secret` travels upstream under `auth`, longest first; [] when nothing is injected. */
export function secretForms(auth: string, secret: string | null): Buffer[] {
  if (secret === null || secret === '' || auth === 'none') return [];
  // As sent, percent-encoded, base64 (Basic), and as a JSON string holds it (escaped, and with `/` as `\/`).
  const json = JSON.stringify(secret).slice(1, -1);
  const forms = new Set<string>([secret, encodeURIComponent(secret), Buffer.from(secret).toString('base64'), json,
    json.replaceAll('/', '\\/')]);
  if (auth === 'basic') {
    const password = secret.slice(secret.indexOf(':') + 1);
    if (password.length >= 4) forms.add(password).add(encodeURIComponent(password));
  }
  if (auth.startsWith('query:')) forms.add(new URLSearchParams({ v: secret }).toString().slice(2));
  return [...forms].filter((f) => f !== '').map((f) => Buffer.from(f)).sort((a, b) => b.length - a.length);
}

/** `buffer` (a copy when anything changes) with every occurrence of every form overwritten; `hits` counts them. */
export function scrubBuffer(buffer: Buffer, forms: readonly Buffer[], hits = { count: 0 }): Buffer {
  let out = buffer;
  for (const form of forms) {
    let at = out.indexOf(form);
    if (at >= 0 && out === buffer) out = Buffer.from(buffer);
    while (at >= 0) {
      out.fill(0x2a, at, at + form.length);
      hits.count++;
      at = out.indexOf(form, at + form.length);
    }
  }
  return out;
}

/** A header value with the credential replaced. */
export function scrubText(text: string, forms: readonly Buffer[]): string {
  if (forms.length === 0) return text;
  return scrubBuffer(Buffer.from(text), forms).toString();
}

/** A streaming scrubber of an identity-encoded body; `hits.count` says how many occurrences it replaced. */
export class ScrubStream extends Transform {
  readonly hits = { count: 0 };
  private held = Buffer.alloc(0);

  constructor(private readonly forms: readonly Buffer[]) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    // Every occurrence inside what arrived is overwritten; only a tail that may be the start of one waits for more.
    const all = scrubBuffer(this.held.length === 0 ? chunk : Buffer.concat([this.held, chunk]), this.forms, this.hits);
    const cut = all.length - partialTail(all, this.forms);
    this.held = Buffer.from(all.subarray(cut));
    if (cut > 0) this.push(all.subarray(0, cut));
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.held.length > 0) this.push(this.held);
    done();
  }
}

/** Length of the longest tail of `buffer` that is a proper prefix of some form (0 when none). */
export function partialTail(buffer: Buffer, forms: readonly Buffer[]): number {
  let longest = 0;
  for (const form of forms) {
    for (let k = Math.min(form.length - 1, buffer.length); k > longest; k--) {
      if (buffer.compare(form, 0, k, buffer.length - k) === 0) {
        longest = k;
        break;
      }
    }
  }
  return longest;
}
