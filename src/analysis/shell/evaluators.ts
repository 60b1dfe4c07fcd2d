/**
 * Rules for commands that look like they only read but run text or change what later commands run, found in the
 * adversarial review (issue 12):
 * - bash built-ins that evaluate a string: `mapfile`/`readarray -C CALLBACK` (eval'd every -c lines), `compgen -C
 *   COMMAND` and `-F FUNCTION` (run to generate completions);
 * - built-ins that assign a variable named by an argument rather than by `NAME=value` syntax: `read NAME...` and
 *   `read -a NAME`, `printf -v NAME`, `mapfile`/`readarray NAME`, `getopts OPTSTRING NAME`: setting `PATH`, `IFS`,
 *   `PROMPT_COMMAND`... this way is as unknown as `PATH=...` (variables.ts), and a name known only at run time may be
 *   any of them;
 * - editors told to run commands by option: vim's `-c`, `+cmd`, `--cmd`, `-S`, `-s` (a script of keys), `-u`,
 *   emacs' `--eval`, `-l`, `-f`, `--batch`, `--script`.
 * Everything here is `unknown` with a reason; the rest of each command keeps its table classes. Pure data and rules.
 */
import { has, parseOptions, valueOf, type Effect, type Rule } from './context.js';
import { dangerousVariable } from './variables.js';
import type { Word } from './words.js';

const unknown = (reason: string): Effect => ({ classes: ['unknown'], reason });

/** Unknown when any of `names` is a variable that changes what runs, or is known only at run time. */
function assigns(names: (Word | undefined)[], then: Effect): Effect {
  for (const name of names) {
    if (name === undefined) continue;
    if (name.value === null) return unknown('assigns a variable whose name is known only at run time');
    if (dangerousVariable(name.value.replace(/\[.*$/, ''))) return unknown(`sets ${name.value}, which changes what later commands run`);
  }
  return then;
}

const READ: Effect = { classes: ['read'] };

const mapfile: Rule = (args) => {
  const parsed = parseOptions(args, ['-d', '-n', '-O', '-s', '-u', '-C', '-c']);
  if (has(parsed, '-C')) return unknown('mapfile -C evaluates its callback as shell text');
  return assigns([parsed.operands[0]], READ);
};

const read: Rule = (args) => {
  const parsed = parseOptions(args, ['-a', '-d', '-i', '-n', '-N', '-p', '-t', '-u']);
  const array = valueOf(parsed, '-a');
  return assigns([...parsed.operands, array], READ);
};

const printf: Rule = (args) => {
  const parsed = parseOptions(args.slice(0, 2), ['-v']);
  return assigns([valueOf(parsed, '-v')], READ);
};

const compgen: Rule = (args) =>
  args.some((w) => w.value === null || /^-[A-Za-z]*[CF]/.test(w.value))
    ? unknown('compgen -C/-F runs a command or function')
    : READ;

const getopts: Rule = (args) => assigns([args[1]], READ);

/** vim and its relatives: options that run Ex commands or scripts. */
function vimRunsCommands(args: Word[]): boolean {
  return args.some((w) => w.value === null || /^(-[A-Za-z]*[cSsu]|--cmd|\+(?!\d*$))/.test(w.value));
}

/** emacs: options that evaluate Lisp. */
function emacsRunsCommands(args: Word[]): boolean {
  return args.some((w) => w.value === null || /^(--eval|--load|-l$|-f$|--funcall|--batch|--script|-batch|-script|-x$)/.test(w.value));
}

/** An editor's rule: its table effect (write, its operands written) unless an option makes it run commands. */
function editor(runs: (args: Word[]) => boolean): Rule {
  return (args) => (runs(args) ? unknown('an editor option runs commands')
    : { classes: ['write'], writes: args.filter((w) => w.value === null || !/^[-+]/.test(w.value)) });
}

/** Rules by program name (merged into services.ts's SERVICE_RULES). */
export const EVALUATOR_RULES: Record<string, Rule> = {
  mapfile, readarray: mapfile, read, printf, compgen, getopts,
  vi: editor(vimRunsCommands), vim: editor(vimRunsCommands), nvim: editor(vimRunsCommands), view: editor(vimRunsCommands),
  ex: editor(vimRunsCommands), vimdiff: editor(vimRunsCommands), emacs: editor(emacsRunsCommands),
};
