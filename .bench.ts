import { initSqlAnalysis, analyzeSql, clearSqlAnalysisCache } from './src/analysis/sql/analyze.js';
import { parseSync } from 'libpg-query';
await initSqlAnalysis();
const q = "SELECT u.id, u.email, count(o.id) AS orders FROM public.users u LEFT JOIN orders o ON o.user_id = u.id WHERE u.created_at > now() - interval '7 days' AND u.status = $1 GROUP BY u.id, u.email ORDER BY orders DESC LIMIT 50";
function rate(label: string, n: number, f: (i: number) => void) { const t = performance.now(); for (let i = 0; i < n; i++) f(i); const ms = performance.now() - t; console.log(label, Math.round(n / ms * 1000), '/s'); }
for (let k = 0; k < 2; k++) {
rate('raw parseSync', 20000, (i) => parseSync(q + ' OFFSET ' + i));
rate('analyzeSql uncached', 20000, (i) => analyzeSql(q + ' OFFSET ' + i));
clearSqlAnalysisCache();
rate('analyzeSql cached', 1000000, () => analyzeSql(q));
const u = "UPDATE accounts SET balance = balance - 10 WHERE id = 42";
rate('update uncached', 20000, (i) => analyzeSql(u + ' + ' + i));
}
const pg = (i: number) => `UPDATE pgbench_accounts SET abalance = abalance + ${i % 5000 - 2500} WHERE aid = ${i * 7919 % 100000};`;
rate('pgbench-like (numbers vary)', 200000, (i) => analyzeSql(pg(i)));
console.log(analyzeSql(pg(3)).statements[0].text, analyzeSql(pg(3)).classes);
