/**
 * The analysis of a line typed in an interactive shell. A line is shell text like an exec command, but the host's
 * interactive shell may read it differently from how Warden's parser does, so the line is analysed under every
 * reading the host might apply, and the union of the units is judged (a rule that denies any of them holds):
 * - **continued lines**: after a line that left a quote, here-document or compound command open, the host's shell
 *   joins the next line to it (`echo 'x` then `'; rm -rf ~; echo '` runs rm). The engine sends the joined text
 *   (`text`) with the line just typed (`attributes.line`): both are analysed, since Warden cannot be sure the host
 *   really was still reading the earlier part (a program other than the shell may have read it);
 * - **comments**: interactive bash can have comments switched off (`shopt -u interactive_comments`) and zsh has them
 *   off by default, so `#x; rm -rf ~` is a comment to the parser and `rm -rf ~` to the host: text holding `#` is also
 *   analysed with every `#` made an ordinary character;
 * - **uncertain lines** (kind `uncertain-line`: history, completion, unknown keys, a reconfigured line editor): the
 *   reconstructed text is analysed as above AND every unit is `unknown`, so a strict policy refuses the line and a
 *   policy that denies a class still sees the class in what the caller typed (`rm -rf x<Tab>`).
 * Pure: no I/O.
 */
import type { Analysis, AnalysedUnit } from '../../session/protocol.js';
import type { Command } from '../../session/types.js';

/** The kinds of shell line the engine sends. */
export const LINE_KINDS = new Set(['line', 'uncertain-line']);

/** Analyses one interactive line (see the module comment) with the shell analyser `analyse`. */
export function analyseShellLine(analyse: (text: string) => Analysis, command: Command): Analysis {
  const texts = [command.text];
  const typed = command.attributes?.line;
  if (typed !== undefined && typed !== command.text) texts.push(typed);
  for (const text of [...texts]) if (text.includes('#')) texts.push(text.replaceAll('#', '_'));
  const analyses = texts.map(analyse);
  const uncertain = command.kind !== 'line';
  const units: AnalysedUnit[] = [];
  for (const analysis of analyses) {
    for (const unit of analysis.units) {
      units.push(uncertain && !unit.classes.includes('unknown') ? { ...unit, classes: [...unit.classes, 'unknown'].sort() } : unit);
    }
  }
  if (units.length === 0) units.push({ text: command.text, classes: uncertain ? ['unknown'] : ['read'], attributes: {} });
  const classes = [...new Set(units.flatMap((u) => u.classes))].sort();
  const parseError = analyses[0].parseError;
  const refusal = analyses.find((a) => a.refusal !== undefined)?.refusal;
  return { units, classes, ...(parseError !== undefined ? { parseError } : {}), ...(refusal !== undefined ? { refusal } : {}) };
}
