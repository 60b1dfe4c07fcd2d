/**
 * `warden status` (and its alias `warden whoami`): who the current token says I am, which Warden answers (URL and
 * version), when the token ends, where the CLI found it, and the targets it may reach, from `GET /api/whoami`.
 * It never prints the token itself.
 */
import { clientFor } from './client.js';
import {
  CONNECTION_HELP, CONNECTION_OPTIONS, expectPositionals, guard, parseCommand, processIo, type Io,
} from './common.js';
import { oneLine, shortTime } from './format.js';
import { OUTPUT_HELP, OUTPUT_OPTIONS, emit, outputFormat } from './output.js';

/** Usage of `warden status` / `warden whoami`. */
export const STATUS_USAGE = `Usage:
  warden status [-o table|json|yaml]
  warden whoami [-o table|json|yaml]

  Shows who the token belongs to (user, kind, groups, delegation chain), which Warden answered (URL and version),
  when the token expires, where the CLI found the token, the ports of its listeners (with the SSH host key
  fingerprint to pin), and the targets it may reach (within the token's target
  patterns and allowed by a policy, an approved access request or an allow default).
${OUTPUT_HELP}
${CONNECTION_HELP}`;

/** The answer of `GET /api/whoami`. */
export interface WhoamiView {
  user: string;
  kind: string;
  groups: string[];
  chain: { id: string; kind: string }[];
  tokenId: string;
  expiresAt: string;
  targetPatterns: string[];
  classes: string[] | null;
  admin: boolean;
  version: string;
  targets: { name: string; type: string; via: string }[];
  /** Data-path listeners: port and what to pin (absent from older servers). */
  listeners?: { protocol: string; port: number; note?: string }[];
}

/** `in 59m`, `in 2h 5m`, `expired 3m ago`. */
export function relative(iso: string, now = Date.now()): string {
  const seconds = Math.round((Date.parse(iso) - now) / 1000);
  const abs = Math.abs(seconds);
  const text = abs < 60 ? `${abs}s` : abs < 3600 ? `${Math.floor(abs / 60)}m`
    : abs < 86_400 ? `${Math.floor(abs / 3600)}h ${Math.floor((abs % 3600) / 60)}m` : `${Math.floor(abs / 86_400)}d`;
  return seconds >= 0 ? `in ${text}` : `expired ${text} ago`;
}

/** The readable status: one field per line, then the reachable targets. */
export function statusText(w: WhoamiView, url: string, source: string | undefined, now = Date.now()): string {
  const chain = w.chain.length > 0 ? [...w.chain.map((a) => `${a.id} (${a.kind})`), `${w.user} (${w.kind})`].join(' -> ') : '-';
  const rows: [string, string][] = [
    ['user', `${w.user} (${w.kind})`],
    ['groups', w.groups.join(', ') || '-'],
    ['chain', chain],
    ['warden', `${url} (version ${w.version})`],
    ['token', `${w.tokenId}, expires ${shortTime(w.expiresAt)} (${relative(w.expiresAt, now)})${source ? `, from ${source}` : ''}`],
    ['admin', w.admin ? 'yes' : 'no'],
    ['scope', `targets ${w.targetPatterns.join(', ') || 'none'}; classes ${w.classes === null ? 'all' : w.classes.join(', ') || 'none'}`],
  ];
  // Where to connect, and what to pin (the SSH host key fingerprint), as the Warden that answered says.
  for (const l of w.listeners ?? []) rows.push([l.protocol, `port ${l.port}${l.note ? `; ${l.note}` : ''}`]);
  const lines = rows.map(([k, v]) => `${k.padEnd(8)} ${oneLine(v)}`);
  lines.push(w.targets.length === 0 ? 'targets  none reachable'
    : `targets  ${w.targets.map((t) => oneLine(`${t.name} (${t.type}, via ${t.via})`)).join('\n         ')}`);
  return `${lines.join('\n')}\n`;
}

/** Runs `warden status` / `warden whoami`; returns the exit code. */
export async function run(argv: string[], io: Io = processIo()): Promise<number> {
  return guard(io, STATUS_USAGE, async () => {
    const { values, positionals } = parseCommand(argv, { ...CONNECTION_OPTIONS, ...OUTPUT_OPTIONS });
    if (values.help) {
      io.stdout(STATUS_USAGE);
      return 0;
    }
    expectPositionals(positionals, []);
    outputFormat(values);
    const client = clientFor(values, io);
    const who = await client.get<WhoamiView>('/api/whoami');
    const { url, tokenSource } = client.connection;
    emit(io, values, { ...who, url, tokenSource: tokenSource ?? null }, () => statusText(who, url, tokenSource));
    return 0;
  });
}
