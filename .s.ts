import { initSqlAnalysis, analyzeSql } from './src/analysis/sql/analyze.js';
await initSqlAnalysis();
for (const q of process.argv.slice(2)) { const a = analyzeSql(q); console.log(q, '=>', JSON.stringify(a.classes), a.parseError ?? '', JSON.stringify(a.statements.map(s => ({k: s.kind, c: s.classes, t: s.tables, sc: s.schemas, f: s.functions, u: s.unboundedWrite, p: s.prepares, e: s.executes, text: s.text, err: s.analysisError})))); }
