/**
 * `warden targets test`: checks a PostgreSQL target step by step (name lookup, TCP, TLS per the target's mode,
 * login with the vaulted credentials) and says for each step whether it worked and why not, in the same
 * caller-safe words a refused session gets. Each step has its own deadline; after a failure the rest are skipped.
 * It must never put the backend password in a step message, and it closes every socket it opened.
 */
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import tls from 'node:tls';
import { serialize } from 'pg-protocol';
import { WardenError, toWardenError } from '../../errors.js';
import type { Credentials, PostgresTarget } from '../../session/types.js';
import { connected, connectUpstream, openTcp, sslAnswer, tlsOptions } from './upstream.js';
import { address, socketReason, tlsReason, tlsRefusedReason } from './upstream-errors.js';

/** The steps of a target test, in order. */
export const DIAGNOSIS_STEPS = ['dns', 'tcp', 'tls', 'login'] as const;

/** One step's outcome. */
export interface DiagnosisStep {
  step: (typeof DIAGNOSIS_STEPS)[number];
  status: 'ok' | 'failed' | 'skipped';
  message: string;
}

/** The outcome of a whole target test: `ok` when no step failed. */
export interface Diagnosis {
  target: string;
  ok: boolean;
  steps: DiagnosisStep[];
}

/** Options of diagnoseTarget. */
export interface DiagnoseOptions {
  /** Deadline of each step (default 5 s). */
  stepTimeoutMs?: number;
}

/** Rejects with a step-shaped timeout after `ms`; never keeps the process alive. */
function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(what), { code: 'ETIMEDOUT' })), ms);
    timer.unref();
  });
  work.catch(() => undefined);
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

async function dnsStep(target: PostgresTarget, ms: number): Promise<string> {
  if (net.isIP(target.host)) return `${target.host} is an IP address, no lookup needed`;
  const found = await within(lookup(target.host, { all: true }), ms, 'lookup timed out');
  return `${target.host} resolved to ${found.map((a) => a.address).join(', ')}`;
}

/** TLS on an already connected socket, per the target's mode; returns the step's message. */
async function tlsStep(raw: net.Socket, target: PostgresTarget, ms: number): Promise<DiagnosisStep> {
  if (target.tls === 'disable') return { step: 'tls', status: 'skipped', message: 'tls disable: Warden connects without TLS' };
  raw.write(serialize.requestSsl());
  const answer = await within(sslAnswer(raw, target), ms, 'no answer to the TLS request');
  if (answer === 0x4e /* N */) {
    return target.tls === 'prefer'
      ? { step: 'tls', status: 'ok', message: 'the server does not accept TLS; tls prefer continues without encryption' }
      : { step: 'tls', status: 'failed', message: tlsRefusedReason(target) };
  }
  if (answer !== 0x53 /* S */) return { step: 'tls', status: 'failed', message: 'the server answered the TLS request with garbage' };
  raw.on('error', () => undefined);
  const secure = tls.connect(tlsOptions(raw, target));
  try {
    await within(new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject)), ms,
      'TLS handshake timed out');
    const verified = target.tls === 'verify-full' ? `certificate verified for ${target.host}` : 'certificate not verified (tls require)';
    return { step: 'tls', status: 'ok', message: `${secure.getProtocol() ?? 'TLS'} with ${address(target)}, ${verified}` };
  } catch (err) {
    return { step: 'tls', status: 'failed', message: tlsReason(target, err) };
  } finally {
    secure.destroy();
  }
}

/** TCP then TLS on one socket. */
async function transportSteps(target: PostgresTarget, ms: number): Promise<DiagnosisStep[]> {
  const raw = openTcp(target);
  raw.on('error', () => undefined); // failures are read from `connected` and the steps below
  try {
    try {
      await within(connected(raw), ms, 'connect timed out');
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code === 'ETIMEDOUT' ? `no answer from ${address(target)} within ${ms / 1000} s`
        : socketReason(target, err);
      return [{ step: 'tcp', status: 'failed', message: reason }];
    }
    const tcp: DiagnosisStep = { step: 'tcp', status: 'ok', message: `connected to ${address(target)}` };
    try {
      return [tcp, await tlsStep(raw, target, ms)];
    } catch (err) {
      const message = err instanceof WardenError ? err.callerMessage : socketReason(target, err);
      return [tcp, { step: 'tls', status: 'failed', message }];
    }
  } finally {
    raw.destroy();
  }
}

async function loginStep(target: PostgresTarget, credentials: () => Promise<Credentials>, ms: number): Promise<DiagnosisStep> {
  try {
    const creds = await credentials();
    const conn = await connectUpstream({ target, credentials: creds, database: target.database,
      startupParams: { application_name: 'warden targets test' }, connectTimeoutMs: ms });
    conn.socket.end(serialize.end());
    conn.socket.destroy();
    const version = conn.parameters.server_version ? `, PostgreSQL ${conn.parameters.server_version}` : '';
    return { step: 'login', status: 'ok', message: `logged in as ${creds.user} to database ${target.database}${version}` };
  } catch (err) {
    return { step: 'login', status: 'failed', message: toWardenError(err).callerMessage };
  }
}

/** Tests `target` step by step; never throws. `credentials` is only called when the login step runs. */
export async function diagnoseTarget(target: PostgresTarget, credentials: () => Promise<Credentials>,
  options: DiagnoseOptions = {}): Promise<Diagnosis> {
  const ms = options.stepTimeoutMs ?? 5000;
  const steps: DiagnosisStep[] = [];
  try {
    steps.push({ step: 'dns', status: 'ok', message: await dnsStep(target, ms) });
  } catch (err) {
    const slow = (err as NodeJS.ErrnoException).code === 'ETIMEDOUT';
    steps.push({ step: 'dns', status: 'failed',
      message: slow ? `looking up ${target.host} took longer than ${ms / 1000} s` : socketReason(target, err) });
  }
  if (steps[0].status === 'ok') steps.push(...await transportSteps(target, ms));
  if (!steps.some((s) => s.status === 'failed')) steps.push(await loginStep(target, credentials, ms));
  for (const step of DIAGNOSIS_STEPS) {
    if (!steps.some((s) => s.step === step)) steps.push({ step, status: 'skipped', message: 'not tried: an earlier step failed' });
  }
  return { target: target.name, ok: !steps.some((s) => s.status === 'failed'), steps };
}
