/**
 * The only module that calls the shell parser: tree-sitter (web-tree-sitter, WASM) with the tree-sitter-bash
 * grammar. Owns the parser's lifecycle: loads the runtime and the grammar once, parses text synchronously and frees
 * each tree (WASM memory is not garbage-collected) after the caller's callback has read it.
 *
 * Why this parser: tree-sitter-bash is maintained by the tree-sitter project, gives a typed concrete syntax tree
 * (named node types and fields: command/name/argument/redirect, pipelines, lists, substitutions, here-documents),
 * marks what it could not parse with ERROR and MISSING nodes (so unparseable text fails closed) and parses a typical
 * command in well under a millisecond. `sh-syntax` (mvdan/sh compiled to WASM) was measured at about 9 ms per parse
 * and returns an untyped AST. Where tree-sitter-bash reads text differently from bash (a CR as blank, nested
 * backquotes, several here-documents on one line), the analyser works around it or fails closed; see analyze.ts.
 *
 * No I/O beyond loading the bundled WASM files at start-up.
 */
import { createRequire } from 'node:module';
import { Language, Parser, type Node } from 'web-tree-sitter';

export type { Node as SyntaxNode } from 'web-tree-sitter';

let loading: Promise<void> | undefined;
let parser: Parser | undefined;

/**
 * Loads the tree-sitter runtime and the bash grammar once; concurrent and repeated calls share one load, and a failed
 * load can be retried. The grammar is found through Node's resolver, so it works from any working directory.
 */
export function loadShellParser(): Promise<void> {
  loading ??= (async () => {
    const require = createRequire(import.meta.url);
    await Parser.init();
    const language = await Language.load(require.resolve('tree-sitter-bash/tree-sitter-bash.wasm'));
    const p = new Parser();
    p.setLanguage(language);
    parser = p;
  })().catch((err: unknown) => {
    loading = undefined;
    throw err;
  });
  return loading;
}

/** Whether loadShellParser() has completed. */
export function shellParserReady(): boolean {
  return parser !== undefined;
}

/**
 * Parses `text` and hands the root node to `read`, then frees the tree: nodes must not be kept after `read`
 * returns. Throws when the parser is not loaded or gives up (callers turn that into `unknown`).
 */
export function withShellTree<T>(text: string, read: (root: Node) => T): T {
  if (parser === undefined) throw new Error('shell parser not loaded: await loadShellParser() first');
  const tree = parser.parse(text);
  if (tree === null) throw new Error('the shell parser gave no tree');
  try {
    return read(tree.rootNode);
  } finally {
    tree.delete();
  }
}
