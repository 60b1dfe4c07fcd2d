/**
 * Usage errors in Warden's own words: "did you mean" suggestions by edit distance for mistyped commands, subcommands
 * and flags, node's parseArgs messages rewritten, and the usage of only the failing subcommand cut out of its group's
 * usage text. Pure text functions; it never prints and never exits.
 */

export { closest, didYouMean, editDistance, flagNames, parseErrorMessage } from '../suggest.js';

/**
 * Cuts the lines about one subcommand out of a group's usage: its synopsis lines (with their continuations), the
 * explanation lines that name it or one of its flags, and the connection help when the group has one. Falls back to
 * the whole usage when the subcommand has no synopsis line.
 */
export function subcommandUsage(usage: string, group: string, sub: string): string {
  const lines = usage.split('\n');
  const synopsisStart = new RegExp(`^\\s+warden ${escape(group)} ${escape(sub)}(\\s|$)`);
  const synopsis: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!synopsisStart.test(lines[i])) continue;
    synopsis.push(lines[i]);
    const indent = lines[i].search(/\S/);
    while (i + 1 < lines.length && lines[i + 1].trim() !== '' && lines[i + 1].search(/\S/) > indent
      && !/^\s+warden /.test(lines[i + 1])) synopsis.push(lines[++i]);
  }
  if (synopsis.length === 0) return usage;
  const flags = new Set(synopsis.join(' ').match(/(?<![\w-])--?[a-z][a-z-]*/g) ?? []);
  const explained = explanationLines(lines, sub, flags);
  const connection = usage.indexOf('Connection:');
  return ['Usage:', ...synopsis, ...(explained.length ? ['', ...explained] : []), '',
    ...(connection >= 0 ? [usage.slice(connection).trimEnd(), ''] : []), `Run \`warden ${group} --help\` for every subcommand.`, '']
    .join('\n');
}

/** The explanation entries (`  name   text` and their indented continuations) about `sub` or one of `flags`. */
function explanationLines(lines: string[], sub: string, flags: Set<string>): string[] {
  const out: string[] = [];
  const end = lines.findIndex((l) => l.startsWith('Connection:'));
  const body = lines.slice(0, end < 0 ? lines.length : end);
  for (let i = 0; i < body.length; i++) {
    const m = /^ {2}(\S+)/.exec(body[i]);
    if (!m || m[1] === 'warden') continue;
    const key = m[1].replace(/,$/, '');
    if (key !== sub && !flags.has(key)) continue;
    out.push(body[i]);
    while (i + 1 < body.length && /^ {4,}\S/.test(body[i + 1]) && !/^\s+warden /.test(body[i + 1])) out.push(body[++i]);
  }
  return out;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
