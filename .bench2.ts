import { initSqlAnalysis, analyzeSql } from './src/analysis/sql/analyze.js';
await initSqlAnalysis();
const q = "SELECT u.id, u.email, count(o.id) AS orders FROM public.users u LEFT JOIN orders o ON o.user_id = u.id WHERE u.created_at > now() - interval '7 days' AND u.status = $1 GROUP BY u.id, u.email ORDER BY orders DESC LIMIT 50";
for (let i = 0; i < 60000; i++) analyzeSql(q + ' OFFSET ' + i);
