/**
 * `warden targets test` for a kubernetes target, step by step in words: the server's name resolves (dns), a TCP
 * connection opens (tcp), the TLS handshake verifies the API server's certificate against the target's CA and server
 * name, presenting the client certificate when there is one (tls), and `GET /version` answers with the vaulted
 * credential (login). Never throws, never shows a credential, closes everything it opened.
 */
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { within } from '../within.js';
import tls from 'node:tls';
import { Pool } from 'undici';
import type { Credentials, KubernetesTarget } from '../../session/types.js';
import type { Diagnosis, DiagnosisStep } from '../postgres/diagnose.js';
import { kubernetesCredentials } from './definition.js';
import { credentialHeaders, serverBase, upstreamError, upstreamTls } from './upstream.js';

/** A network failure of a `targets test` step in words (also used by the http diagnosis). */
export function failure(err: unknown, where: string, ms: number): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'error';
  if (code === 'ETIMEDOUT') return `no answer from ${where} within ${ms / 1000} s`;
  if (code === 'ECONNREFUSED') return `connection refused by ${where}`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `the host name of ${where} could not be resolved`;
  return `${where}: ${code}`;
}

/** One step that ran (ok) or failed; a failed step skips the ones after it (also used by the http diagnosis). */
export async function step(steps: DiagnosisStep[], name: DiagnosisStep['step'], run: () => Promise<string>,
  fail: (err: unknown) => string): Promise<boolean> {
  if (steps.some((s) => s.status !== 'ok')) {
    steps.push({ step: name, status: 'skipped', message: 'not tried: an earlier step failed' });
    return false;
  }
  try {
    steps.push({ step: name, status: 'ok', message: await run() });
    return true;
  } catch (err) {
    steps.push({ step: name, status: 'failed', message: fail(err) });
    return false;
  }
}

/** The dns and tcp steps of a target reached at `host`:`port` (`where` names it in messages); shared with http. */
export async function reachSteps(steps: DiagnosisStep[], host: string, port: number, where: string, ms: number): Promise<void> {
  await step(steps, 'dns', async () => {
    if (net.isIP(host)) return `${host} is an IP address, no lookup needed`;
    const found = await within(lookup(host, { all: true }), ms);
    return `${host} resolved to ${found.map((a) => a.address).join(', ')}`;
  }, (err) => failure(err, where, ms));
  await step(steps, 'tcp', async () => {
    const socket = net.connect({ host, port });
    socket.on('error', () => undefined);
    try {
      await within(new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject)), ms);
    } finally {
      socket.destroy();
    }
    return `connected to ${where}`;
  }, (err) => failure(err, where, ms));
}

/** A verified TLS handshake with `options` (CA, server name, client certificate), closed again; rejects on failure. */
export async function tlsHandshake(host: string, port: number, options: tls.ConnectionOptions, ms: number): Promise<void> {
  const socket = tls.connect({ host, port, ...options, rejectUnauthorized: true });
  socket.on('error', () => undefined);
  try {
    await within(new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject)), ms);
  } finally {
    socket.destroy();
  }
}

/** Tests a kubernetes target: DNS, TCP, TLS and `GET /version` with its credential. */
export async function diagnoseKubeTarget(target: KubernetesTarget, credentials: () => Promise<Credentials>,
  stepTimeoutMs = 5000): Promise<Diagnosis> {
  const ms = stepTimeoutMs;
  const url = new URL(target.server);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || 443);
  const where = `${url.host}`;
  const steps: DiagnosisStep[] = [];
  await reachSteps(steps, host, port, where, ms);
  let creds: ReturnType<typeof kubernetesCredentials> | undefined;
  await step(steps, 'tls', async () => {
    creds = kubernetesCredentials(await credentials());
    const options = upstreamTls(target, creds);
    await tlsHandshake(host, port, options, ms);
    return `the API server's certificate is trusted (${target.caCert !== null ? 'the target\'s CA' : 'the system\'s CAs'}`
      + `${options.servername !== undefined ? `, name ${options.servername}` : ''})`;
  }, (err) => upstreamError(target, err).callerMessage);
  await step(steps, 'login', async () => {
    const pool = new Pool(serverBase(target).origin, { connect: { ...upstreamTls(target, creds!), rejectUnauthorized: true } });
    try {
      const headers = credentialHeaders(target, creds!, { id: 'warden-targets-test', groups: [] });
      delete headers['impersonate-user'];
      const answer = await within(pool.request({ method: 'GET', path: `${serverBase(target).prefix}/version`, headers }), ms);
      const text = await answer.body.text();
      if (answer.statusCode === 401) throw Object.assign(new Error(), { code: 'login' });
      if (answer.statusCode >= 400) throw Object.assign(new Error(), { code: `HTTP ${answer.statusCode}` });
      const version = (JSON.parse(text) as { gitVersion?: string }).gitVersion;
      return `GET /version answered with the stored credential${version ? ` (Kubernetes ${version})` : ''}`;
    } finally {
      await pool.destroy();
    }
  }, (err) => {
    const code = (err as { code?: string }).code;
    if (code === 'login') return 'the API server refused the stored credential (401)';
    if (code?.startsWith('HTTP ')) return `GET /version failed: ${code}`;
    return upstreamError(target, err).callerMessage;
  });
  return { target: target.name, ok: steps.every((s) => s.status === 'ok'), steps };
}
