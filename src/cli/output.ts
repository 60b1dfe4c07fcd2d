/**
 * The output formats of every list and show command: `-o table|wide|json|yaml` (`--json` stays as an alias of
 * `-o json`). Tables are for people; json and yaml print the API's answer unchanged, for scripts. It only formats:
 * what reaches a table still goes through format.ts's escaping.
 */
import { stringify } from 'yaml';
import { UsageError, type Io } from './common.js';
import { json } from './format.js';

/** What `-o` accepts. */
export const OUTPUT_FORMATS = ['table', 'wide', 'json', 'yaml'] as const;

/** One of OUTPUT_FORMATS. */
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** The flags of the output format, for a command's parseArgs table. */
export const OUTPUT_OPTIONS = {
  output: { type: 'string', short: 'o' },
  json: { type: 'boolean' },
} as const;

/** Help line describing OUTPUT_OPTIONS. */
export const OUTPUT_HELP = '  -o, --output FMT  table (default), wide (more columns), json or yaml; --json is -o json\n';

/** The chosen format; a usage error for an unknown one or for `--json` contradicting `-o`. */
export function outputFormat(values: { output?: string; json?: boolean }): OutputFormat {
  const { output } = values;
  if (output !== undefined && !(OUTPUT_FORMATS as readonly string[]).includes(output)) {
    throw new UsageError(`-o must be one of ${OUTPUT_FORMATS.join(', ')}, got "${output}"`);
  }
  if (values.json && output !== undefined && output !== 'json') {
    throw new UsageError(`--json and -o ${output} contradict each other; --json is the same as -o json`);
  }
  return values.json ? 'json' : (output as OutputFormat | undefined) ?? 'table';
}

/** The data as JSON or YAML text, or the table when the format is table/wide. */
export function render(format: OutputFormat, data: unknown, table: () => string, wide: () => string = table): string {
  if (format === 'json') return json(data);
  if (format === 'yaml') return stringify(data ?? null);
  return format === 'wide' ? wide() : table();
}

/** Prints `data` in the format the flags ask for. */
export function emit(io: Io, values: { output?: string; json?: boolean }, data: unknown, table: () => string,
  wide?: () => string): void {
  io.stdout(render(outputFormat(values), data, table, wide));
}
