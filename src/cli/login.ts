/**
 * `warden login`, `warden login token` and `warden logout`: a person signs in with their organisation's OIDC
 * provider and the CLI keeps the short-lived Warden token (and the provider's refresh token) in the user's config
 * directory, refreshing it before it ends, so `PGPASSWORD=$(warden login token) psql ...` and every other command
 * keep working through a long day. The token is printed only by `warden login token`, alone on stdout.
 */
import { ApiClient, DEFAULT_URL, checkUrl, urlFromPortsFile } from './client.js';
import { CliError, guard, parseCommand, UsageError, expectPositionals, type Io } from './common.js';
import { REFRESH_MARGIN_MS, credentialsPath, deleteCredentials, needsRefresh, readCredentials, writeCredentials } from './credentials.js';
import { codeFlow, deviceFlow, exchangeIdToken, refreshStoredLogin, revokeRefreshToken, type ExchangedToken,
  type ProviderInfo, type ProviderTokens } from './oidc-login.js';

/** Usage of `warden login`. */
export const LOGIN_USAGE = `Usage:
  warden login [--provider NAME] [--device] [--no-browser] [--url URL]
  warden login token [--kube]
  warden logout

Signs you in to Warden with an OpenID Connect identity provider and keeps the Warden token in
$XDG_CONFIG_HOME/warden/credentials.json (default ~/.config/warden; mode 0600). Other warden commands
use it when neither --token nor $WARDEN_TOKEN is given, and refresh it with the provider when fewer
than 5 minutes of it remain.

  warden login          opens the provider's sign-in page in your browser (authorization code with PKCE,
                        redirect to a one-shot listener on 127.0.0.1)
  --device              sign in on another device instead: prints a URL and a code to enter there (RFC 8628)
  --no-browser          print the sign-in URL instead of opening a browser
  --provider NAME       the identity provider to use (needed when Warden has several)
  --url URL             the Warden control API (default: $WARDEN_URL, else the port in the data dir's
                        ports.json, else ${DEFAULT_URL})
  warden login token    print the current Warden token alone, refreshed first if needed:
                        PGPASSWORD=$(warden login token) psql "host=... user=YOU dbname=TARGET sslmode=require"
  --kube                print it as a kubectl exec credential (client.authentication.k8s.io/v1 ExecCredential
                        with its expiry, so kubectl runs it again for a fresh one); \`warden kubeconfig TARGET\`
                        writes a kubeconfig whose user runs \`warden login token --kube\`
  warden logout         forget the stored sign-in (and revoke the provider's refresh token)
`;

const OPTIONS = {
  provider: { type: 'string' },
  device: { type: 'boolean' },
  'no-browser': { type: 'boolean' },
  url: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Picks the OIDC provider to sign in with. */
function choose(providers: ProviderInfo[], name: string | undefined, url: string): ProviderInfo {
  const oidc = providers.filter((p) => p.type === 'oidc' && p.issuer && p.clientId);
  if (name !== undefined) {
    const found = oidc.find((p) => p.name === name);
    if (found) return found;
    const known = oidc.map((p) => p.name).join(', ') || 'none';
    throw new CliError(`Warden at ${url} has no OIDC identity provider "${name}" (OIDC providers: ${known})`);
  }
  if (oidc.length === 1) return oidc[0];
  if (oidc.length === 0) throw new CliError(`Warden at ${url} has no OIDC identity provider to sign in with`);
  throw new CliError(`Warden at ${url} has several identity providers: choose one with --provider (${oidc.map((p) => p.name).join(', ')})`);
}

/** Runs `warden login ...`; returns the exit code. */
export async function run(argv: string[], io: Io): Promise<number> {
  return guard(io, LOGIN_USAGE, async () => {
    if (argv[0] === 'token') return printToken(argv.slice(1), io);
    const { values, positionals } = parseCommand(argv, OPTIONS);
    if (values.help) {
      io.stdout(LOGIN_USAGE);
      return 0;
    }
    expectPositionals(positionals, []);
    let stored;
    try {
      stored = readCredentials(io);
    } catch {
      stored = undefined; // a broken file is replaced by this login
    }
    const url = checkUrl((values.url || io.env.WARDEN_URL || stored?.url || urlFromPortsFile(io) || DEFAULT_URL).replace(/\/+$/, ''));
    const providers = await new ApiClient({ url }).request<ProviderInfo[]>('GET', '/api/auth/providers', undefined, { anonymous: true });
    const provider = choose(providers, values.provider, url);
    // Saving happens as soon as Warden answers, so the browser tab's message is only shown for a finished login.
    const save = async (tokens: ProviderTokens): Promise<ExchangedToken> => {
      const exchanged = await exchangeIdToken(url, tokens.idToken);
      writeCredentials(io, {
        version: 1, url, provider: provider.name, issuer: provider.issuer!, clientId: provider.clientId!,
        scopes: provider.scopes ?? [], token: exchanged.token, expiresAt: exchanged.expiresAt, user: exchanged.user,
        groups: exchanged.groups, refreshToken: tokens.refreshToken,
      });
      return exchanged;
    };
    let result: ExchangedToken | undefined;
    if (values.device) result = await save(await deviceFlow(provider, io));
    else {
      await codeFlow(provider, io, { browser: !values['no-browser'] }, async (tokens) => {
        result = await save(tokens);
        return `Signed in to Warden as ${result.user}. You can close this window.`;
      });
    }
    const groups = result!.groups.length > 0 ? result!.groups.join(', ') : 'none';
    io.stderr(`Signed in to ${url} as ${result!.user} (groups: ${groups}) until ${result!.expiresAt}; `
      + `warden refreshes it when needed. Credentials: ${credentialsPath(io)}\n`);
    return 0;
  });
}

/** `warden login token`: the current token alone on stdout, refreshed first when it ends within 5 minutes. */
async function printToken(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(argv, { help: { type: 'boolean', short: 'h' }, kube: { type: 'boolean' } });
  if (values.help) {
    io.stdout(LOGIN_USAGE);
    return 0;
  }
  expectPositionals(positionals, []);
  let credentials = readCredentials(io);
  if (credentials === undefined) throw new CliError('not signed in: run `warden login`');
  if (needsRefresh(credentials)) credentials = await refreshStoredLogin(io);
  io.stdout(values.kube ? `${JSON.stringify(execCredential(credentials.token, credentials.expiresAt))}\n` : `${credentials.token}\n`);
  return 0;
}

/**
 * The ExecCredential kubectl reads from an exec credential plugin. Its expiry is when `warden login token` would
 * refresh the token (REFRESH_MARGIN_MS before the end), so kubectl asks again in time; never in the past.
 */
export function execCredential(token: string, expiresAt: string, now = Date.now()): Record<string, unknown> {
  const end = Date.parse(expiresAt);
  const refreshAt = Number.isNaN(end) ? now + 60_000 : Math.max(Math.min(end, now + 60_000), end - REFRESH_MARGIN_MS);
  return { apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential',
    status: { token, expirationTimestamp: new Date(refreshAt).toISOString().replace(/\.\d{3}Z$/, 'Z') } };
}

/** Runs `warden logout`: forgets the stored sign-in and revokes the provider's refresh token (best effort). */
export async function runLogout(argv: string[], io: Io): Promise<number> {
  return guard(io, LOGIN_USAGE, async () => {
    const { values, positionals } = parseCommand(argv, { help: { type: 'boolean', short: 'h' } });
    if (values.help) {
      io.stdout(LOGIN_USAGE);
      return 0;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    let credentials;
    try {
      credentials = readCredentials(io);
    } catch {
      credentials = undefined;
    }
    const removed = deleteCredentials(io);
    if (credentials !== undefined) await revokeRefreshToken(credentials);
    io.stderr(removed ? 'Signed out: the stored Warden sign-in is removed.\n' : 'Not signed in.\n');
    return 0;
  });
}
