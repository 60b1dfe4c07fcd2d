/**
 * `warden targets update` and `warden targets test`: change a target in place (the same flags as `add`; a new
 * password only from stdin, never shown) and check it step by step (DNS, TCP, TLS, login). Like `targets add`, it
 * never accepts a password as a flag and never prints one.
 */
import type { Diagnosis } from '../protocols/postgres/diagnose.js';
import type { TargetView } from '../control/routes/targets.js';
import { clientFor, seg } from './client.js';
import { CONNECTION_OPTIONS, UsageError, expectPositionals, parseCommand, type Io } from './common.js';
import { json } from './format.js';
import { TARGET_TYPES, TLS_MODES, parseLabels, parsePort, readCa, readPassword } from './targets.js';
import { refuseForeignFlags, sshSecrets, sshSummary } from './targets-ssh.js';
import { HTTP_ONLY, HTTP_UPDATE_OPTIONS, updateHttp } from './targets-http.js';
import { KUBE_ONLY, KUBE_UPDATE_OPTIONS, kubeSummary, kubeUpdateBody, type KubeFlags } from './targets-kubernetes.js';

/** `warden targets update NAME --type kubernetes ...` (or any kubernetes flag): its fields by their API names. */
async function updateKube(name: string, values: KubeFlags & { url?: string; token?: string }, io: Io): Promise<number> {
  refuseForeignFlags('kubernetes', values as Record<string, unknown>);
  const body = await kubeUpdateBody(values, io);
  const target = await clientFor(values, io).patch<TargetView>(`/api/targets/${seg(name)}`, body);
  io.stdout(values.json ? json(target) : `updated target ${target.name} (${kubeSummary(target)})\n`);
  return 0;
}

/** `warden targets update NAME ...`: only the flags given change. */
export async function update(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    ...CONNECTION_OPTIONS,
    type: { type: 'string' }, host: { type: 'string' }, port: { type: 'string' }, database: { type: 'string' },
    user: { type: 'string' }, 'password-stdin': { type: 'boolean' }, 'no-password': { type: 'boolean' }, tls: { type: 'string' },
    'ca-file': { type: 'string' }, 'no-ca': { type: 'boolean' }, label: { type: 'string', multiple: true }, json: { type: 'boolean' },
    'private-key-file': { type: 'string' }, 'no-private-key': { type: 'boolean' }, 'host-key-fingerprint': { type: 'string' },
    ...KUBE_UPDATE_OPTIONS, ...HTTP_UPDATE_OPTIONS,
  });
  const [name] = expectPositionals(positionals, ['NAME']);
  if (values.type === 'http') {
    refuseForeignFlags('http', values);
    return updateHttp(name, values, io);
  }
  // Without --type http, --url is the control API's: an http flag alone would be ambiguous.
  const http = HTTP_ONLY.filter((flag) => values[flag] !== undefined);
  if (http.length > 0) throw new UsageError(`${http.map((f) => `--${f}`).join(', ')}: give --type http to change an http target`);
  if (values.type === 'kubernetes' || KUBE_ONLY.some((flag) => values[flag] !== undefined)) return updateKube(name, values, io);
  // --type only states what the target is (it never changes): flags of the other protocol are then refused here.
  if (values.type !== undefined && !TARGET_TYPES.includes(values.type)) {
    throw new UsageError(`a target's --type cannot change (remove it and add it again), got "${values.type}"`);
  }
  if (values.type !== undefined) refuseForeignFlags(values.type, values);
  if (values['private-key-file'] !== undefined && values['no-private-key']) {
    throw new UsageError('--private-key-file and --no-private-key exclude each other');
  }
  if (values['password-stdin'] && values['no-password']) throw new UsageError('--password-stdin and --no-password exclude each other');
  if (values['ca-file'] !== undefined && values['no-ca']) throw new UsageError('--ca-file and --no-ca exclude each other');
  if (values.tls !== undefined && !TLS_MODES.includes(values.tls)) {
    throw new UsageError(`--tls must be one of ${TLS_MODES.join(', ')}, got "${values.tls}"`);
  }
  const body: Record<string, unknown> = {
    ...(values.host !== undefined ? { host: values.host } : {}),
    ...(values.port !== undefined ? { port: parsePort(values.port) } : {}),
    ...(values.database !== undefined ? { database: values.database } : {}),
    ...(values.user !== undefined ? { user: values.user } : {}),
    ...(values.tls !== undefined ? { tls: values.tls } : {}),
    ...(values['ca-file'] !== undefined ? { ca: readCa(values['ca-file']) } : {}),
    ...(values['no-ca'] ? { ca: null } : {}),
    ...(values['no-password'] ? { password: null } : {}),
    ...(values['no-private-key'] ? { privateKey: null, passphrase: null } : {}),
    ...(values['host-key-fingerprint'] !== undefined ? { hostKeyFingerprint: values['host-key-fingerprint'] } : {}),
    ...(values.label ? { labels: parseLabels(values.label) } : {}),
  };
  const client = clientFor(values, io);
  if (values['private-key-file'] !== undefined) Object.assign(body, await sshSecrets(values, io));
  else if (values['password-stdin']) body.password = await readPassword(io);
  if (Object.keys(body).length === 0) throw new UsageError('nothing to change: give at least one flag (see warden targets --help)');
  const target = await client.patch<TargetView>(`/api/targets/${seg(name)}`, body);
  const password = values['private-key-file'] !== undefined ? ', new private key stored encrypted'
    : values['password-stdin'] ? ', new password stored encrypted' : values['no-password'] ? ', password removed'
      : values['no-private-key'] ? ', private key removed' : '';
  const summary = target.type === 'postgres' ? `${target.user}@${target.host}:${target.port}/${target.database}, tls ${target.tls}${password}`
    : sshSummary(target as Parameters<typeof sshSummary>[0], password);
  io.stdout(values.json ? json(target) : `updated target ${target.name} (${summary})\n`);
  return 0;
}

/** The steps of a diagnosis as aligned lines. */
function diagnosisText(d: Diagnosis): string {
  const lines = d.steps.map((s) => `  ${s.step.padEnd(6)} ${s.status.padEnd(8)} ${s.message}`);
  return `target ${d.target}: ${d.ok ? 'ok' : 'FAILED'}\n${lines.join('\n')}\n`;
}

/** `warden targets test NAME`: exit 0 when every step worked, 1 when one failed. */
export async function test(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, { ...CONNECTION_OPTIONS, json: { type: 'boolean' } });
  const [name] = expectPositionals(positionals, ['NAME']);
  const diagnosis = await clientFor(values, io).post<Diagnosis>(`/api/targets/${seg(name)}/test`, {});
  io.stdout(values.json ? json(diagnosis) : diagnosisText(diagnosis));
  return diagnosis.ok ? 0 : 1;
}
