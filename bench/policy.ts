/**
 * What judging one statement costs on the data path: SQL analysis (libpg-query) uncached, cached by exact text and
 * reused for texts that differ only in numbers, then policy evaluation with the guardrails. In-process,
 * single thread; prints microseconds per statement. Run: bash bench/policy.sh
 */
import { performance } from 'node:perf_hooks';
import { analyzeSql, clearSqlAnalysisCache, initSqlAnalysis } from '../src/analysis/sql/analyze.js';
import { evaluate } from '../src/policy/evaluate.js';
import { postgresProtocol } from '../src/protocols/postgres/definition.js';
import { parsePolicyDocuments } from '../src/policy/load.js';
import { GUARDRAILS_YAML } from '../src/policy/test-fixtures.js';
import type { Subject, Target } from '../src/session/types.js';

const GUARDRAILS = parsePolicyDocuments(GUARDRAILS_YAML);
const subject: Subject = { id: 'bot', kind: 'agent', groups: ['agents'], chain: [], tokenId: 't', targets: ['*'], expiresAt: 0 };
const target: Target = { name: 'pg-prod', type: 'postgres', host: 'h', port: 5432, database: 'app', user: 'u', tls: 'disable', ca: null, labels: {} };

const STATEMENTS: [string, (i: number) => string][] = [
  ['pgbench select', (i) => `SELECT abalance FROM pgbench_accounts WHERE aid = ${i};`],
  ['update with join', (i) => `UPDATE orders o SET status = 'shipped' FROM customers c WHERE o.customer_id = c.id AND c.id = ${i}`],
  ['CTE with delete', (i) => `WITH d AS (DELETE FROM sessions WHERE expires_at < now() - ${i} * interval '1 day' RETURNING id) SELECT count(*) FROM d`],
  ['report query', (i) => `SELECT c.name, sum(o.total) FROM customers c JOIN orders o ON o.customer_id = c.id WHERE o.created_at > now() - ${i} * interval '1 day' GROUP BY c.name ORDER BY 2 DESC LIMIT 10`],
];

function timePer(n: number, fn: (i: number) => unknown): number {
  const start = performance.now();
  for (let i = 0; i < n; i++) fn(i);
  return ((performance.now() - start) * 1000) / n;
}

await initSqlAnalysis();
console.log('per statement, microseconds (one thread)');
console.log(`${'statement'.padEnd(18)} ${'parse (miss)'.padStart(13)} ${'same text'.padStart(10)} ${'new numbers'.padStart(12)} ${'evaluate'.padStart(9)}`);
for (const [name, make] of STATEMENTS) {
  for (let i = 0; i < 200; i++) analyzeSql(make(i)); // warm up
  clearSqlAnalysisCache();
  // A miss: texts that differ in a string literal, so neither cache can help.
  const miss = timePer(2000, (i) => analyzeSql(`${make(7)} /* ${i} */`));
  const text = make(42);
  analyzeSql(text);
  const hit = timePer(200_000, () => analyzeSql(text));
  const reuse = timePer(50_000, (i) => analyzeSql(make(100_000 + i)));
  const command = { protocol: 'postgres', kind: 'sql', text };
  const analysis = postgresProtocol.analyse(command, undefined);
  const evaluation = timePer(200_000, () => evaluate(GUARDRAILS, { subject, target, analysis, protocol: postgresProtocol },
    { defaultEffect: 'deny' }));
  console.log(`${name.padEnd(18)} ${miss.toFixed(1).padStart(13)} ${hit.toFixed(2).padStart(10)} ${reuse.toFixed(1).padStart(12)} ${evaluation.toFixed(2).padStart(9)}`);
}
