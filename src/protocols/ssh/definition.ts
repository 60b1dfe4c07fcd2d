/**
 * The ssh protocol as the shared pipeline sees it: its command classes, its target fields, its policy match keys
 * (`programs`, `paths`; semantics in match.ts) and its analyser. Commands arrive by kind: `exec` is shell text for
 * the shell analyser; a typed `line` (or `uncertain-line`) is too, under every reading the host's shell may apply
 * (line-analysis.ts); `shell` (opening an interactive shell) is class `shell`; `forward` is class `forward`;
 * `subsystem sftp` may read and write any path. Registered by the server; the pipeline reaches it only through the
 * ProtocolRegistry. Pure: no I/O beyond the analyser's `init`.
 */
import { z } from 'zod';
import { WardenError } from '../../errors.js';
import type { Analysis, ProtocolDefinition } from '../../session/protocol.js';
import type { Command, Credentials, SshCredentials } from '../../session/types.js';
import { SSH_MATCH_KEYS, sshUnitMatches } from './match.js';
import { LINE_KINDS, analyseShellLine } from './line-analysis.js';
import { changedFields } from '../target-changes.js';

/** Classes an SSH command can have. */
export const SSH_CLASSES = ['read', 'write', 'destructive', 'privilege', 'network', 'unknown', 'shell', 'forward'] as const;

/** OpenSSH's spelling of a SHA-256 host key fingerprint: `SHA256:` and unpadded base64 of 32 bytes. */
export const HOST_KEY_FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

/** The fields of an SSH target besides name, type and labels. */
export const sshTargetSpec = z.strictObject({
  host: z.string().min(1).max(255),
  port: z.number().int().min(1).max(65535),
  user: z.string().min(1).max(255),
  hostKeyFingerprint: z.string().regex(HOST_KEY_FINGERPRINT, 'must look like SHA256:<43 base64 characters>').nullable(),
});

/** Turns shell text into an analysis (h2's `analyzeShell`), with what it must load once at start-up. */
export interface ShellAnalyser {
  analyse(text: string): Analysis;
  init?(): Promise<void>;
}

/**
 * Until the real shell analyser is wired in (src/analysis/shell, merged by the lead), every shell text is `unknown`:
 * under any sane policy that means refused or held, never judged by a guess. This is deliberately not an analyser.
 */
const UNANALYSED: ShellAnalyser = {
  analyse: (text) => ({ units: [{ text, classes: ['unknown'], attributes: {} }], classes: ['unknown'],
    parseError: 'the shell analyser is not installed' }),
};

function single(text: string, classes: string[], attributes: Record<string, string[]>): Analysis {
  return { units: [{ text, classes, attributes }], classes: [...classes].sort() };
}

/** The analysis of an SSH command other than shell text. */
function analyseRequest(command: Command): Analysis | undefined {
  switch (command.kind) {
    case 'shell':
      return single(command.text, ['shell'], {});
    case 'forward': {
      const host = command.attributes?.host;
      const port = command.attributes?.port;
      return single(command.text, ['forward'], host !== undefined && port !== undefined ? { destinations: [`${host}:${port}`] } : {});
    }
    case 'subsystem':
      // Each request that changes a path is judged on its own (kind `sftp`), so opening names no path yet.
      return command.text === 'sftp' ? single('sftp', ['read', 'write'], { programs: ['sftp'], paths: [] })
        : single(command.text, ['unknown'], { programs: [command.text] });
    default:
      return undefined;
  }
}

/**
 * The ssh protocol with `shell` as its shell analyser. Without one, shell text is judged `unknown` (see UNANALYSED):
 * the lead passes `{ analyse: analyzeShell, init: loadShellParser }` from src/analysis/shell once it is merged.
 */
export function createSshProtocol(shell: ShellAnalyser = UNANALYSED): ProtocolDefinition {
  return {
    name: 'ssh',
    commandKind: 'exec',
    classes: SSH_CLASSES,
    targetSpec: sshTargetSpec,
    secretFields: ['privateKey', 'passphrase'],
    matchKeys: SSH_MATCH_KEYS,
    unitMatches: (match, unit, _cls, restrictive) => sshUnitMatches(match, unit, restrictive),
    targetView: (t, stored) => ({ host: t.host, port: t.port, user: t.user, hasPassword: stored.password,
      hasPrivateKey: stored.secrets.includes('privateKey'), hostKeyFingerprint: t.hostKeyFingerprint }),
    redirects: (current, change) => changedFields(current, change,
      { host: 'host', port: 'port', user: 'user', hostKeyFingerprint: 'host key' }),
    secretsAgain: 'stored secrets to another server: give them again (--password-stdin or --private-key-file) or remove them '
      + '(--no-password, --no-private-key)',
    analyse(command) {
      const request = analyseRequest(command);
      if (request !== undefined) return request;
      if (command.kind === 'exec') return shell.analyse(command.text);
      // An SFTP request that changes a path, judged as the shell command that would do the same (sftp-policy.ts).
      if (command.kind === 'sftp' && command.attributes?.shell !== undefined) return shell.analyse(command.attributes.shell);
      // Interactive lines are analysed under every reading the host's shell may apply (line-analysis.ts).
      if (LINE_KINDS.has(command.kind)) return analyseShellLine((text) => shell.analyse(text), command);
      return single(command.text, ['unknown'], {});
    },
    init: shell.init === undefined ? undefined : () => shell.init!(),
  };
}

/** The ssh protocol as registered by default (the shell analyser is wired in by the lead at merge; see above). */
export const sshProtocol: ProtocolDefinition = createSshProtocol();

/** The SSH credentials of an ssh target's session; anything else is an internal error (fail closed). */
export function sshCredentials(credentials: Credentials): SshCredentials {
  if (!('privateKey' in credentials)) {
    throw new WardenError('WARDEN_ERR_INTERNAL', 'not the credentials of an ssh target', { public: false });
  }
  return credentials;
}
