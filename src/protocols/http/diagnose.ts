/**
 * `warden targets test` for an http target, step by step in words: the URL's host resolves (dns), a TCP connection
 * opens (tcp), the TLS handshake verifies the upstream's certificate against the target's CA (or the system's),
 * presenting the client certificate when there is one (tls; plain `http://` says so), and a HEAD of the base URL
 * (GET when HEAD is not served) with the stored credential injected answers (login): its status in words, 401 and
 * 403 as "the upstream refused the credential". Never throws, never shows a credential (no answer body or header is
 * reported), closes everything it opened.
 */
import { STATUS_CODES } from 'node:http';
import { Pool } from 'undici';
import type { Credentials, HttpCredentials, HttpTarget } from '../../session/types.js';
import { reachSteps, step, tlsHandshake } from '../kubernetes/diagnose.js';
import type { Diagnosis, DiagnosisStep } from '../postgres/diagnose.js';
import { within } from '../within.js';
import { httpCredentials } from './definition.js';
import { credentialHeaders, upstreamQuery } from './request-headers.js';
import { httpUpstreamError, httpUpstreamTls, targetBase } from './upstream.js';

/** `200 OK`, `401 Unauthorized`. */
function statusWords(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? 'status'}`;
}

/** Tests an http target: DNS, TCP, TLS and a HEAD (or GET) of its base URL with its credential. */
export async function diagnoseHttpTarget(target: HttpTarget, credentials: () => Promise<Credentials>,
  stepTimeoutMs = 5000): Promise<Diagnosis> {
  const ms = stepTimeoutMs;
  const url = new URL(target.url);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const secure = url.protocol === 'https:';
  const port = Number(url.port || (secure ? 443 : 80));
  const where = url.host;
  const steps: DiagnosisStep[] = [];
  await reachSteps(steps, host, port, where, ms);
  let creds: HttpCredentials | undefined;
  await step(steps, 'tls', async () => {
    creds = httpCredentials(await credentials());
    if (!secure) return 'the URL is plain http://: no TLS, the upstream traffic is not encrypted';
    const options = httpUpstreamTls(target, creds);
    await tlsHandshake(host, port, options, ms);
    return `the upstream's certificate is trusted (${target.caCert !== null ? 'the target\'s CA' : 'the system\'s CAs'}`
      + `${options.cert !== undefined ? ', client certificate presented' : ''})`;
  }, (err) => httpUpstreamError(target, err).message);
  await step(steps, 'login', () => probe(target, creds!, ms), (err) => {
    const code = (err as { code?: string }).code;
    if (code === 'refused' || code === 'status' || code === 'no-secret') return (err as Error).message;
    return httpUpstreamError(target, err).message;
  });
  return { target: target.name, ok: steps.every((s) => s.status === 'ok'), steps };
}

/** HEAD (then GET if HEAD is not served) of the base URL with the credential; the outcome in words. */
async function probe(target: HttpTarget, creds: HttpCredentials, ms: number): Promise<string> {
  const refuse = (code: string, message: string) => Object.assign(new Error(message), { code });
  if (target.auth !== 'none' && creds.secret === null) {
    throw refuse('no-secret', `auth ${target.auth} but no secret is stored: give it with warden targets update ${target.name} --type http --secret-stdin`);
  }
  const { origin, prefix } = targetBase(target);
  const query = upstreamQuery('', target.auth, creds.secret);
  const path = `${prefix === '' ? '/' : prefix}${query === '' ? '' : `?${query}`}`;
  const headers: Record<string, string> = { ...target.headers, ...credentialHeaders(target.auth, creds.secret), 'user-agent': 'warden-targets-test' };
  if (target.hostHeader !== null) headers.host = target.hostHeader;
  const pool = new Pool(origin, { connect: { ...httpUpstreamTls(target, creds), rejectUnauthorized: true } });
  const shown = prefix === '' ? '/' : prefix;
  try {
    let method: 'HEAD' | 'GET' = 'HEAD';
    let answer = await within(pool.request({ method, path, headers }), ms);
    await answer.body.dump();
    if (answer.statusCode === 405 || answer.statusCode === 501) {
      method = 'GET';
      answer = await within(pool.request({ method, path, headers }), ms);
      await answer.body.dump();
    }
    const status = answer.statusCode;
    const credential = target.auth === 'none' ? 'without a credential (auth none)' : `with the stored credential (auth ${target.auth})`;
    if (status === 401 || status === 403) {
      throw refuse('refused', `${method} ${shown}: the upstream refused the credential (${statusWords(status)}); `
        + (target.auth === 'none' ? 'the target has auth none: does the upstream need one?' : 'check the stored secret and --auth'));
    }
    if (status >= 500) throw refuse('status', `${method} ${shown} answered ${statusWords(status)}: the upstream is failing`);
    const note = status === 404 ? ' (nothing is served at the base URL itself, but the upstream answered and did not refuse the credential)'
      : status >= 400 ? ' (the upstream answered; the base URL may need another method or path)' : '';
    return `${method} ${shown} answered ${statusWords(status)} ${credential}${note}`;
  } finally {
    await pool.destroy();
  }
}
