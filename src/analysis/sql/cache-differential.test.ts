/**
 * Differential test of the analysis cache: over thousands of generated statements (E'' strings with escaped quotes
 * and backslashes, plain strings ending in a backslash, doubled quotes, keywords glued to quotes, nested comments,
 * dollar quotes, quoted identifiers, numbers of every form, digits inside strings), the cached analysis must equal
 * a fresh one exactly. Statements come in families that share a skeleton and differ in the digits of numbers AND of
 * strings, in a random order, so a key that merges two texts whose analyses differ is primed by one and reused for
 * the other, as the attack on the cache did (`WHERE'\' IS NULL OR '1' = '2'` primed `... '1' = '1'`).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { prng } from '../../masking/test-random.js';
import { analyzeSql, analyzeSqlUncached, clearSqlAnalysisCache, initSqlAnalysis, sqlAnalysisCacheStats } from './analyze.js';

await initSqlAnalysis();

type Rand = () => number;
const pick = <T>(r: Rand, items: readonly T[]): T => items[Math.floor(r() * items.length)];

/** A digit slot: `#` in a skeleton becomes one random digit in each variant. */
const NUMBERS = ['#', '##', '#.#', '.#', '#e#', '#E-#', '0x#F', '#_###', '1#'];
const STRINGS = ["'#'", "'#\\'", "E'#\\''", "E'\\\\#'", "E'#''#'", "'#''#'", "e'\\'#'", "U&'#'", "N'#'", "B'1#'"];
const GLUE = ["WHERE'\\'", "WHERE'#'", "OR'#'", "x'1#'", "E'\\'", "'\\'", "$$#$$", '$q$ # $q$', '"c#"', '"a""#"'];
const COMMENTS = ['/* # */', '/* # /* # */ # */', '-- #\n', '/*\\*/', "-- '\n", '/* \' */'];
const TAILS = ["'#' = '#'", "'#' = '#' OR true", '# = #', 'id = #', "id = '#'", 'id > -#', 'id IS NOT NULL', '$1 = $1',
  "x = E'#\\''", "'#'::int = #", "'t' = '#'", 'NOT (# = #)', 'true AND # < #', 'id > -3#768', 'id >= -#2768',
  'id < 3276#', '-4#### < id', 'id BETWEEN -4#### AND #0000', 'id IS NOT NULL', "name LIKE '%#'", 'NOT (id IS NULL)'];

function piece(r: Rand): string {
  switch (Math.floor(r() * 5)) {
    case 0: return pick(r, NUMBERS);
    case 1: return pick(r, STRINGS);
    case 2: return pick(r, GLUE);
    case 3: return pick(r, COMMENTS);
    default: return pick(r, TAILS);
  }
}

/** A statement skeleton with `#` digit slots; many do not parse, which must be handled alike too. */
function skeleton(r: Rand): string {
  if (r() < 0.5) return glued(r);
  const parts = Array.from({ length: 1 + Math.floor(r() * 4) }, () => piece(r));
  const shapes = [
    () => `DELETE FROM victim WHERE ${parts.join(' OR ')}`,
    () => `DELETE FROM victim WHERE${parts.join(' AND ')}`,
    () => `UPDATE t SET a = ${parts[0]} WHERE ${parts.slice(1).join(' OR ') || 'true'}`,
    () => `SELECT ${parts.join(', ')} FROM t WHERE id = #`,
    () => `SELECT ${parts.join(' ')}; DELETE FROM victim WHERE id = # ${pick(r, COMMENTS)}`,
    () => `SELECT set_config('work_mem', ${parts[0]}, false) ${parts.slice(1).join(' ')}`,
    () => `DELETE FROM victim WHERE${pick(r, STRINGS)} IS NULL OR ${pick(r, TAILS)}`,
    () => `DELETE FROM victim WHERE${pick(r, GLUE)} ${pick(r, ['IS NULL OR', 'OR', '=', 'AND'])} ${pick(r, TAILS)}`,
    () => `UPDATE t SET a = ${pick(r, STRINGS)}, b = ${pick(r, NUMBERS)} WHERE ${pick(r, TAILS)} ${pick(r, COMMENTS)}`,
  ];
  return pick(r, shapes)();
}

/** A string glued to the keyword before it (`WHERE'\'`), the shape that fooled the old hand-written key. */
function glued(r: Rand): string {
  const keyword = pick(r, ['WHERE', 'WHERE ', 'WHERE E', 'where e', 'OR', 'AND NOT', 'x IS DISTINCT FROM']);
  const glue = pick(r, ["'\\'", "'#\\'", "E'\\''", "'\\' || '#'", "'\\'::text", "$$\\$$", ...STRINGS]);
  const after = pick(r, ['IS NULL OR', 'OR', 'AND', '= ', 'IS NOT NULL AND']);
  const statement = pick(r, ['DELETE FROM victim', 'UPDATE victim SET a = #', 'SELECT * FROM victim']);
  return `${statement} ${keyword}${glue} ${after} ${pick(r, TAILS)} ${r() < 0.3 ? pick(r, COMMENTS) : ''}`;
}

function fill(r: Rand, text: string): string {
  return text.replace(/#/g, () => String(Math.floor(r() * 2)));
}

describe('analysis cache: cached equals uncached', () => {
  it('over a large generated corpus in random order', () => {
    const r = prng(0x5eed);
    const corpus: string[] = [];
    for (let family = 0; family < 1500; family++) {
      const base = skeleton(r);
      for (let v = 0; v < 6; v++) corpus.push(fill(r, base));
    }
    for (let i = corpus.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [corpus[i], corpus[j]] = [corpus[j], corpus[i]];
    }
    clearSqlAnalysisCache();
    let reused = 0;
    for (const text of corpus) {
      const before = sqlAnalysisCacheStats().templates;
      const cached = analyzeSql(text);
      assert.deepEqual(cached, analyzeSqlUncached(text), text);
      if (sqlAnalysisCacheStats().templates === before) reused++;
    }
    assert.ok(corpus.length >= 3000, `corpus of ${corpus.length}`);
    assert.ok(sqlAnalysisCacheStats().templates > 100, 'the corpus makes templates, so reuse is exercised');
    assert.ok(reused > 1000, `${reused} texts did not make a new template`);
  });

  it("the review's instance: a string that ends in a backslash after WHERE does not share a template", () => {
    clearSqlAnalysisCache();
    const primed = analyzeSql("DELETE FROM victim WHERE'\\' IS NULL OR '1' = '2'");
    assert.deepEqual(primed.classes, ['write']);
    const always = analyzeSql("DELETE FROM victim WHERE'\\' IS NULL OR '1' = '1'");
    assert.deepEqual(always.classes, ['destructive', 'write']);
    assert.equal(always.statements[0].unboundedWrite, true);
    assert.deepEqual(analyzeSql("DELETE FROM victim WHERE'\\' IS NULL OR '7' = '7'").classes, ['destructive', 'write']);
  });

  it('numbers that the key replaced but the lexer reads otherwise make no template', () => {
    clearSqlAnalysisCache();
    // E'\'' 1 ... : the key must never take a digit inside a string for a number.
    analyzeSql("DELETE FROM t WHERE E'\\'' = '1' OR '2' = '3'");
    assert.deepEqual(analyzeSql("DELETE FROM t WHERE E'\\'' = '1' OR '3' = '3'").classes, ['destructive', 'write']);
    // pgbench-style texts still share one analysis.
    analyzeSql('SELECT abalance FROM pgbench_accounts WHERE aid = 17');
    const before = sqlAnalysisCacheStats().templates;
    analyzeSql('SELECT abalance FROM pgbench_accounts WHERE aid = 4711');
    assert.equal(sqlAnalysisCacheStats().templates, before, 'the second text reused the first one\'s template');
  });
});
