/**
 * The `warden` command: top-level help, version and dispatch to one module per subcommand. Subcommand modules are
 * imported lazily so `warden tokens list` never loads the server (and `warden --version` loads nothing at all).
 * It must never call process.exit: it returns the exit code and bin/warden.mjs sets it, so output is flushed.
 */
import { readFileSync } from 'node:fs';
import { processIo, type Io } from './common.js';
import { didYouMean } from './usage.js';

/** A subcommand module: `run(argv)` returns the exit code; the API commands also accept an Io for tests. */
type CommandModule = { run(argv: string[], io?: Io): Promise<number> };

/** The subcommands and their one-line descriptions, in help order. */
const COMMANDS: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  start: { summary: 'run the gateway: listeners, control API, recording', load: () => import('./start.js') },
  targets: { summary: 'add, list, show and remove backends', load: () => import('./targets.js') },
  tokens: { summary: 'issue, delegate, list and revoke Warden tokens', load: () => import('./tokens.js') },
  sessions: { summary: 'list recorded sessions, show their timeline, replay a terminal, kill a live one', load: () => import('./sessions.js') },
  users: { summary: 'list, disable and enable users', load: () => import('./users.js') },
  'identity-providers': { summary: 'list, show and remove OIDC and SAML providers', load: () => import('./identity-providers.js') },
  'service-accounts': { summary: 'service accounts for agents, their API keys and tokens', load: () => import('./service-accounts.js') },
  'ssh-keys': { summary: 'register, list and remove SSH public keys of users and service accounts', load: () => import('./ssh-keys.js') },
  'ssh-cert': { summary: 'get an SSH certificate for your token, written beside your key (like tsh)', load: () => import('./ssh-cert.js') },
  kubeconfig: { summary: 'print or merge a kubeconfig that reaches a Kubernetes target through Warden', load: () => import('./kubeconfig.js') },
  login: { summary: 'sign in with an OIDC provider; `login token` prints the current token', load: () => import('./login.js') },
  logout: { summary: 'forget the stored sign-in', load: async () => ({ run: (await import('./login.js')).runLogout }) },
  approvals: { summary: 'list, show, approve and deny approval requests', load: () => import('./approvals.js') },
  access: { summary: 'ask for time-limited access to a target', load: () => import('./access.js') },
  apply: { summary: 'apply policy documents from a YAML or JSON file', load: async () => ({ run: (await import('./policies.js')).runApply }) },
  policies: { summary: 'list, show and remove policies', load: () => import('./policies.js') },
  policy: { summary: 'test what the policies decide for a statement', load: async () => ({ run: (await import('./policies.js')).runPolicy }) },
  status: { summary: 'who you are, which Warden, token expiry and the targets you may reach', load: () => import('./status.js') },
  whoami: { summary: 'the same as status', load: () => import('./status.js') },
  completion: { summary: 'print a bash or zsh completion script: source <(warden completion bash)', load: () => import('./completion.js') },
};

/** The command names, for shell completion. */
export function commandNames(): string[] {
  return [...Object.keys(COMMANDS), 'help', 'version'];
}

/** Warden's version, from package.json. */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** The top-level usage text. */
export function usage(): string {
  const commands = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(18)} ${c.summary}`).join('\n');
  return `warden: a Layer 7 access gateway

Usage: warden <command> [arguments]

Commands:
${commands}
  help [CMD] show help (of one command)

Options:
  -h, --help     show help; \`warden <command> --help\` shows a command's help
  -v, --version  print the version

The API commands call the control API at $WARDEN_URL, else at the API port in <$WARDEN_DATA_DIR or
./.warden>/ports.json (which \`warden start\` writes), else http://127.0.0.1:8080, with the token from --token or
$WARDEN_TOKEN; when neither is set they use the sign-in \`warden login\` stored (refreshed when it ends within 5
minutes), else <$WARDEN_DATA_DIR or ./.warden>/admin.token if that file exists (\`warden start\` writes it on first
start, for the quick start). Exit codes: 0 success, 1 failure, 2 usage error (\`warden policy test\`: see its help).
`;
}

/** Runs `warden` with the arguments after the program name; resolves to the process exit code. */
export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    io.stderr(usage());
    return 2;
  }
  if (first === '--help' || first === '-h') {
    io.stdout(usage());
    return 0;
  }
  if (first === '--version' || first === '-v' || first === 'version') {
    io.stdout(`${version()}\n`);
    return 0;
  }
  if (first === 'help') {
    if (rest.length === 0) {
      io.stdout(usage());
      return 0;
    }
    return main([rest[0], '--help'], io);
  }
  if (!Object.hasOwn(COMMANDS, first)) {
    // Only the one-line usage: the whole command list would bury the suggestion.
    const what = first.startsWith('-')
      ? `unknown flag "${first}"${didYouMean(first, ['--help', '--version'])}`
      : `unknown command "${first}"${didYouMean(first, Object.keys(COMMANDS))}`;
    io.stderr(`warden: ${what}\n\nUsage: warden <command> [arguments]\nRun \`warden --help\` for the list of commands.\n`);
    return 2;
  }
  const command = await COMMANDS[first].load();
  // `start` runs a server and writes to the process's own streams; the API commands take the Io (tests capture it).
  return first === 'start' ? command.run(rest) : command.run(rest, io);
}
