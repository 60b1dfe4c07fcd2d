/**
 * `warden identity-providers list|show|rm`: the OIDC and SAML providers people sign in with (created and updated
 * with `warden apply -f`, like policies). Client secrets are write-only: they are never printed, only whether one
 * is stored.
 */
import { clientFor, seg } from './client.js';
import { CONNECTION_HELP, CONNECTION_OPTIONS, dispatch, expectPositionals, parseCommand, processIo, type Io } from './common.js';
import { json, oneLine, shortTime, table } from './format.js';
import { OUTPUT_HELP, OUTPUT_OPTIONS, emit } from './output.js';

/** Usage of `warden identity-providers`. */
export const IDENTITY_PROVIDERS_USAGE = `Usage:
  warden identity-providers list [-o table|wide|json|yaml]
  warden identity-providers show NAME [-o table|json|yaml]
  warden identity-providers rm NAME

  Create or update providers with \`warden apply -f FILE\` (kind: IdentityProvider, type: oidc or saml).
${OUTPUT_HELP}${CONNECTION_HELP}`;

interface ProviderView {
  name: string;
  type: string;
  document: Record<string, unknown>;
  hasClientSecret: boolean;
  updatedAt: string;
}

async function list(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, { ...CONNECTION_OPTIONS, ...OUTPUT_OPTIONS });
  expectPositionals(positionals, []);
  const providers = await clientFor(values, io).get<ProviderView[]>('/api/identity-providers');
  const rows = (wide: boolean) => providers.length === 0 ? 'no identity providers\n' : table(
    ['name', 'type', 'issuer / entry point', ...(wide ? ['client secret'] : []), 'updated'],
    providers.map((p) => [p.name, p.type, String(p.document.issuer ?? p.document.entryPoint ?? '-'),
      ...(wide ? [p.hasClientSecret ? 'stored' : '-'] : []), shortTime(p.updatedAt)]),
  );
  emit(io, values, providers, () => rows(false), () => rows(true));
  return 0;
}

async function show(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, { ...CONNECTION_OPTIONS, ...OUTPUT_OPTIONS });
  const [name] = expectPositionals(positionals, ['NAME']);
  const p = await clientFor(values, io).get<ProviderView>(`/api/identity-providers/${seg(name)}`);
  emit(io, values, p, () => json({ ...p.document, clientSecret: p.hasClientSecret ? '(stored)' : undefined }));
  return 0;
}

async function rm(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, CONNECTION_OPTIONS);
  const [name] = expectPositionals(positionals, ['NAME']);
  await clientFor(values, io).delete(`/api/identity-providers/${seg(name)}`);
  io.stdout(`identity provider ${oneLine(name)} removed\n`);
  return 0;
}

/** Runs `warden identity-providers ...`; returns the exit code. */
export async function run(argv: string[], io: Io = processIo()): Promise<number> {
  return dispatch(argv, io, IDENTITY_PROVIDERS_USAGE, { list, ls: list, show, rm });
}
