/**
 * `warden targets test` for an SSH target: name lookup and TCP, step by step, in caller-safe words. The SSH engine
 * may add the handshake and the login with the vaulted key; until then those steps say they were not tried. It
 * never reads a vaulted secret and closes every socket it opened.
 */
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { within } from '../within.js';
import type { SshTarget } from '../../session/types.js';

/** One step's outcome (the same shape as the PostgreSQL diagnosis). */
export interface SshDiagnosisStep {
  step: 'dns' | 'tcp' | 'tls' | 'login';
  status: 'ok' | 'failed' | 'skipped';
  message: string;
}

/** `host:port` as a person reads it (IPv6 in brackets). */
function address(target: SshTarget): string {
  return `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
}


function reason(err: unknown, target: SshTarget, ms: number): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'error';
  if (code === 'ETIMEDOUT') return `no answer from ${address(target)} within ${ms / 1000} s`;
  if (code === 'ECONNREFUSED') return `connection refused by ${address(target)}`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `host name ${target.host} could not be resolved`;
  return `connecting to ${address(target)} failed (${code})`;
}

/** Tests DNS and TCP of an SSH target; never throws. */
export async function diagnoseSshTarget(target: SshTarget, stepTimeoutMs = 5000): Promise<{ target: string; ok: boolean;
  steps: SshDiagnosisStep[] }> {
  const ms = stepTimeoutMs;
  const steps: SshDiagnosisStep[] = [];
  try {
    const found = net.isIP(target.host) ? undefined : await within(lookup(target.host, { all: true }), ms);
    steps.push({ step: 'dns', status: 'ok', message: found === undefined ? `${target.host} is an IP address, no lookup needed`
      : `${target.host} resolved to ${found.map((a) => a.address).join(', ')}` });
    const socket = net.connect({ host: target.host, port: target.port });
    socket.on('error', () => undefined);
    try {
      await within(new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject)), ms);
      steps.push({ step: 'tcp', status: 'ok', message: `connected to ${address(target)}` });
    } finally {
      socket.destroy();
    }
  } catch (err) {
    steps.push({ step: steps.length === 0 ? 'dns' : 'tcp', status: 'failed', message: reason(err, target, ms) });
  }
  const failed = steps.some((s) => s.status === 'failed');
  if (!steps.some((s) => s.step === 'tcp')) steps.push({ step: 'tcp', status: 'skipped', message: 'not tried: an earlier step failed' });
  steps.push({ step: 'tls', status: 'skipped', message: 'SSH does not use TLS' });
  steps.push({ step: 'login', status: 'skipped', message: failed ? 'not tried: an earlier step failed'
    : 'the SSH login is not tested by this version' });
  return { target: target.name, ok: !failed, steps };
}
